import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork, trackFibers } from "./utils/fibers.ts"
import { assertWindows, Boom, concurrencyProbe, isInterrupted, recorder, sleeper } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { checkAccounts, pick } from "./utils/stats.ts"

describe("priority", () => {
  it.effect("a higher priority starts first; equal priorities (default 0) start in submission order", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10))),
        concurrency: 1,
        capacity: 100
      })
      yield* pool.submit(0)
      assert.strictEqual((yield* pool.stats).running, 1, "the first job runs at once")
      const jobs: ReadonlyArray<readonly [number, number | undefined]> = [
        [1, undefined],
        [2, 5],
        [3, 0],
        [4, 5],
        [5, -1],
        [6, 10],
        [7, undefined],
        [8, 0.5]
      ]
      for (const [n, priority] of jobs) yield* pool.submit(n, priority === undefined ? {} : { priority })
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(rec.inputs(), [0, 6, 2, 4, 8, 1, 3, 7, 5])
      assert.deepStrictEqual(
        rec.starts.map((s) => s.priority),
        [0, 10, 5, 5, 0.5, 0, 0, 0, -1],
        "the handler sees each job's priority, 0 by default"
      )
    }))

  it.effect("execute and trySubmit take a priority too", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10)), Effect.as(n)),
        concurrency: 1
      })
      yield* pool.submit(0)
      const low = yield* fork(pool.execute(1))
      const high = yield* fork(pool.execute(2, { priority: 2 }))
      const mid = yield* pool.trySubmit(3, { priority: 1 })
      yield* TestClock.adjust(40)
      assert.deepStrictEqual([yield* Fiber.join(low), yield* Fiber.join(high), yield* mid.await], [1, 2, 3])
      assert.deepStrictEqual(rec.inputs(), [0, 2, 3, 1])
    }))

  it.effect("a high priority never lets the queue exceed its capacity", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const failing = yield* makePool({
        handler: (_: number) => Deferred.await(gate),
        concurrency: 1,
        capacity: 2,
        overflow: "fail"
      })
      yield* failing.submit(0)
      yield* failing.submit(1)
      yield* failing.submit(2)
      const error = yield* Effect.flip(failing.submit(3, { priority: 100 }))
      assert.strictEqual(error._tag, "QueueFull")
      assert.strictEqual((yield* Effect.flip(failing.trySubmit(4, { priority: 100 })))._tag, "QueueFull")
      assert.strictEqual((yield* failing.stats).queued, 2)

      const suspending = yield* makePool({
        handler: (_: number) => Deferred.await(gate),
        concurrency: 1,
        capacity: 2
      })
      yield* suspending.submit(0)
      yield* suspending.submit(1)
      yield* suspending.submit(2)
      const waiter = yield* fork(suspending.submit(3, { priority: 100 }))
      assert.isUndefined(waiter.pollUnsafe(), "a high-priority submitter waits for room like any other")
      const stats = yield* suspending.stats
      assert.deepStrictEqual([stats.queued, stats.waiting], [2, 1])
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(waiter)
    }))

  it.effect("sliding drops the oldest queued job of the lowest priority", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started: Array<number> = []
      const pool = yield* makePool({
        handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Deferred.await(gate))),
        concurrency: 1,
        capacity: 3,
        overflow: "sliding"
      })
      yield* pool.submit(0)
      const a = yield* pool.submit(1, { priority: 1 })
      const b = yield* pool.submit(2, { priority: 0 })
      const c = yield* pool.submit(3, { priority: 0 })
      const d = yield* pool.submit(4, { priority: 2 })
      assert.isTrue(Option.isSome(yield* b.poll), "b: the oldest of the lowest priority (0) is dropped")
      assert.isTrue(Option.isNone(yield* a.poll))
      assert.isTrue(Option.isNone(yield* c.poll))
      const e = yield* pool.submit(5, { priority: 0 })
      assert.isTrue(Option.isSome(yield* c.poll), "c: older than e among priority 0")
      assert.isTrue(Option.isNone(yield* e.poll))
      const f = yield* pool.submit(6, { priority: 3 })
      assert.isTrue(Option.isSome(yield* e.poll), "e: now the only job of the lowest priority")
      for (const dropped of [b, c, e]) {
        const error = yield* Effect.flip(dropped.await)
        assert.instanceOf(error, WorkerPoolError.JobDropped)
        assert.strictEqual((error as WorkerPoolError.JobDropped).overflow, "sliding")
      }
      yield* Deferred.succeed(gate, void 0)
      yield* Effect.forEach([a, d, f], (h) => h.await)
      assert.deepStrictEqual(started, [0, 6, 4, 1])
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.dropped, stats.succeeded, stats.submitted], [3, 4, 7])
    }))

  it.effect("an invalid priority or key fails the submission with InvalidJobOptions naming the option", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 1 })
      const cases: ReadonlyArray<readonly [WorkerPool.JobOptions<never>, string]> = [
        [{ priority: NaN }, "priority"],
        [{ priority: Infinity }, "priority"],
        [{ priority: -Infinity }, "priority"],
        [{ priority: "high" as unknown as number }, "priority"],
        [{ key: "" }, "key"]
      ]
      for (const [options, option] of cases) {
        for (
          const error of [
            yield* Effect.flip(pool.submit(1, options)),
            yield* Effect.flip(pool.trySubmit(1, options)),
            yield* Effect.flip(pool.execute(1, options))
          ]
        ) {
          assert.instanceOf(error, WorkerPoolError.InvalidJobOptions)
          assert.strictEqual((error as WorkerPoolError.InvalidJobOptions).option, option)
        }
      }
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.submitted, stats.queued, stats.running], [0, 0, 0], "no job was accepted")
    }))
})

describe("keys", () => {
  it.effect("jobs sharing a key never overlap and run in submission order, whatever their priority", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const active = new Map<string, number>()
      const overlaps: Array<string> = []
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          probe.around(Effect.acquireUseRelease(
            Effect.sync(() => {
              const key = job.key!
              active.set(key, (active.get(key) ?? 0) + 1)
              if (active.get(key)! > 1) overlaps.push(`${key} at job ${n}`)
            }),
            () => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10 + (n % 3) * 5))),
            () => Effect.sync(() => active.set(job.key!, active.get(job.key!)! - 1))
          )),
        concurrency: 4,
        capacity: 100
      })
      const priorities = [0, 10, 5, 20, -1, 7]
      const handles: Array<WorkerPool.JobHandle<void, WorkerPoolError.JobError>> = []
      for (let i = 0; i < 6; i++) {
        handles.push(yield* pool.submit(100 + i, { key: "a", priority: priorities[i] }))
        handles.push(yield* pool.submit(200 + i, { key: "b", priority: priorities[5 - i] }))
      }
      yield* TestClock.adjust(1000)
      yield* Effect.forEach(handles, (h) => h.await)
      assert.deepStrictEqual(overlaps, [])
      const inputsOf = (key: string) => rec.starts.filter((s) => s.key === key).map((s) => s.input)
      assert.deepStrictEqual(inputsOf("a"), [100, 101, 102, 103, 104, 105])
      assert.deepStrictEqual(inputsOf("b"), [200, 201, 202, 203, 204, 205])
      assert.strictEqual(probe.max, 2, "the two keys ran side by side")
    }))

  it.effect("a long job and a backlog on one key do not delay other keys or unkeyed jobs", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (ms: number, job: WorkerPool.JobInfo) => rec.record(ms, job).pipe(Effect.andThen(Effect.sleep(ms))),
        concurrency: 2,
        capacity: 100
      })
      const handles = [yield* pool.submit(1000, { key: "a" })]
      for (let i = 0; i < 5; i++) handles.push(yield* pool.submit(10, { key: "a" }))
      for (let i = 0; i < 3; i++) handles.push(yield* pool.submit(10, { key: "b" }))
      for (let i = 0; i < 3; i++) handles.push(yield* pool.submit(10))
      yield* TestClock.adjust(500)
      const early = rec.starts.map((s) => [s.key ?? "-", s.at] as const)
      assert.deepStrictEqual(early, [
        ["a", 0],
        ["b", 0],
        ["b", 10],
        ["b", 20],
        ["-", 30],
        ["-", 40],
        ["-", 50]
      ], "b and unkeyed jobs use the second worker while a1 holds key a")
      const stats = yield* pool.stats
      assert.deepStrictEqual(
        [stats.running, stats.queued, stats.succeeded],
        [1, 5, 6],
        "jobs waiting for their key count as queued"
      )
      checkAccounts(stats, "t=500")
      yield* TestClock.adjust(600)
      const aStarts = rec.starts.filter((s) => s.key === "a").map((s) => s.at)
      assert.deepStrictEqual(aStarts, [0, 1000, 1010, 1020, 1030, 1040])
      yield* Effect.forEach(handles, (h) => h.await)
    }))

  it.effect("a job waiting for its key counts against capacity", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const pool = yield* makePool({
        handler: (_: number) => Deferred.await(gate),
        concurrency: 3,
        capacity: 2,
        overflow: "fail"
      })
      yield* pool.submit(1, { key: "a" })
      yield* pool.submit(2, { key: "a" })
      yield* pool.submit(3, { key: "a" })
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.running, stats.queued], [1, 2])
      assert.strictEqual((yield* Effect.flip(pool.submit(4, { key: "a" })))._tag, "QueueFull")
      yield* Deferred.succeed(gate, void 0)
      yield* pool.awaitIdle
      assert.strictEqual((yield* pool.stats).succeeded, 3)
    }))

  it.effect("cancelling a queued or running job of a key lets the next job of the key run", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(100))),
        concurrency: 2
      })
      const a1 = yield* pool.submit(1, { key: "a" })
      const a2 = yield* pool.submit(2, { key: "a" })
      const a3 = yield* pool.submit(3, { key: "a" })
      yield* TestClock.adjust(10)
      yield* a2.interrupt
      assert.isTrue(isInterrupted(yield* a2.poll))
      assert.deepStrictEqual(rec.inputs(), [1], "a3 still waits for a1")
      yield* TestClock.adjust(10)
      yield* a1.interrupt
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(rec.inputs(), [1, 3], "a3 starts as soon as a1 is cancelled")
      assert.deepStrictEqual(rec.times(), [0, 20])
      yield* TestClock.adjust(100)
      yield* a3.await
      assert.deepStrictEqual(rec.inputs(), [1, 3])
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.cancelled, stats.succeeded], [2, 1])
    }))

  it.effect("a key job that times out frees its key only after its finalizers ran", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const pool = yield* makePool({
        handler: (ms: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => log.push(`start ${ms} at ${t}`))).pipe(
            Effect.andThen(Effect.sleep(ms)),
            Effect.onInterrupt(() =>
              Effect.sleep(30).pipe(
                Effect.andThen(Clock.currentTimeMillis),
                Effect.flatMap((t) => Effect.sync(() => log.push(`cleaned ${ms} at ${t}`)))
              )
            )
          ),
        concurrency: 2
      })
      const slow = yield* pool.submit(500, { key: "a", timeout: 50 })
      const next = yield* pool.submit(10, { key: "a" })
      yield* TestClock.adjust(79)
      assert.deepStrictEqual(log, ["start 500 at 0"])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(log, ["start 500 at 0", "cleaned 500 at 80", "start 10 at 80"])
      assert.instanceOf(yield* Effect.flip(slow.await), WorkerPoolError.JobTimeout)
      yield* TestClock.adjust(10)
      yield* next.await
    }))
})

describe("retry", () => {
  it.effect("a failing job is retried while the predicate holds, and settles with the error that stopped it", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: job.attempt < n })))
          ),
        concurrency: 1,
        retry: { schedule: Schedule.recurs(10), while: (e) => e.retryable }
      })
      const error = yield* Effect.flip(pool.execute(3))
      assert.instanceOf(error, Boom)
      const { attempt, input, retryable } = error as Boom
      assert.deepStrictEqual({ input, attempt, retryable }, { input: 3, attempt: 3, retryable: false })
      assert.deepStrictEqual(rec.of(3).map((s) => s.attempt), [1, 2, 3], "the handler sees attempt 1, 2, 3")
      const once = yield* Effect.flip(pool.execute(1))
      assert.deepStrictEqual([(once as Boom).attempt, rec.of(1).length], [1, 1], "not retried: predicate false")
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["failed", "retried", "retrying"]), { failed: 2, retried: 2, retrying: 0 })
    }))

  it.effect("Schedule.recurs(2) gives three attempts; exhausted retries settle with the last typed error", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true })))
          ),
        concurrency: 1,
        retry: Schedule.recurs(2)
      })
      const exit = yield* Effect.exit(pool.execute(7))
      assert.isTrue(Exit.isFailure(exit))
      const error = Cause.squash((exit as Exit.Failure<never, unknown>).cause)
      assert.instanceOf(error, Boom, "never wrapped")
      assert.strictEqual((error as Boom).attempt, 3)
      assert.deepStrictEqual(rec.of(7).map((s) => s.attempt), [1, 2, 3])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["failed", "retried", "submitted"]), { failed: 1, retried: 2, submitted: 1 })
    }))

  it.effect("each retry waits for the schedule's delay on the clock (spaced: attempts at 0, 100, 200)", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(
              job.attempt < 3 ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true })) : Effect.void
            ),
            Effect.as(job.attempt)
          ),
        concurrency: 1,
        retry: Schedule.spaced("100 millis")
      })
      const result = yield* fork(pool.execute(1))
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(rec.times(), [0])
      yield* TestClock.adjust(99)
      assert.deepStrictEqual(rec.times(), [0])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(rec.times(), [0, 100])
      yield* TestClock.adjust(99)
      assert.isUndefined(result.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(rec.times(), [0, 100, 200])
      assert.strictEqual(yield* Fiber.join(result), 3)
    }))

  it.effect("exponential backoff: attempts at 0, 10, 30, 70", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true })))
          ),
        concurrency: 1,
        retry: { schedule: Schedule.exponential("10 millis").pipe(Schedule.upTo({ times: 3 })) }
      })
      const handle = yield* pool.submit(1)
      yield* TestClock.adjust(69)
      assert.deepStrictEqual(rec.times(), [0, 10, 30])
      assert.strictEqual((yield* pool.stats).retrying, 1)
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(rec.times(), [0, 10, 30, 70])
      assert.strictEqual(((yield* Effect.flip(handle.await)) as Boom).attempt, 4)
    }))

  it.effect("defects and timeouts are not retried unless asked", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(Effect.andThen(n === 0 ? Effect.die(new Error("kaput")) : Effect.sleep(n))),
        concurrency: 2,
        timeout: 50,
        retry: Schedule.recurs(3)
      })
      const defect = yield* pool.submit(0)
      const slow = yield* pool.submit(1000)
      yield* TestClock.adjust(1000)
      const defectExit = Option.getOrThrow(yield* defect.poll)
      assert.isTrue(Exit.isFailure(defectExit) && Cause.hasDies(defectExit.cause))
      assert.instanceOf(yield* Effect.flip(slow.await), WorkerPoolError.JobTimeout)
      assert.deepStrictEqual(rec.inputs(), [0, 1000], "one attempt each")
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["defects", "timedOut", "retried"]), { defects: 1, timedOut: 1, retried: 0 })
    }))

  it.effect("defects: true and timeouts: true retry them; the last attempt's outcome is kept unwrapped", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(
              n === 0
                ? Effect.die(new Error(`kaput ${job.attempt}`))
                : n === 1 && job.attempt === 1
                ? Effect.die(new Error("once"))
                : Effect.sleep(n)
            ),
            Effect.as(n)
          ),
        concurrency: 3,
        timeout: 50,
        retry: { schedule: Schedule.recurs(2), defects: true, timeouts: true }
      })
      const dying = yield* pool.submit(0)
      const recovering = yield* pool.submit(1)
      const slow = yield* pool.submit(1000)
      yield* TestClock.adjust(149)
      assert.deepStrictEqual(rec.of(1000).map((s) => s.at), [0, 50, 100], "a timed-out attempt is retried at once")
      assert.isTrue(Option.isNone(yield* slow.poll))
      yield* TestClock.adjust(1)
      const timeout = yield* Effect.flip(slow.await)
      assert.instanceOf(timeout, WorkerPoolError.JobTimeout)
      const dyingExit = Option.getOrThrow(yield* dying.poll)
      assert.isTrue(Exit.isFailure(dyingExit) && Cause.hasDies(dyingExit.cause) && !Cause.hasFails(dyingExit.cause))
      assert.strictEqual((Cause.squash((dyingExit as Exit.Failure<never, unknown>).cause) as Error).message, "kaput 3")
      assert.strictEqual(yield* recovering.await, 1)
      assert.deepStrictEqual(rec.of(0).map((s) => s.attempt), [1, 2, 3])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["defects", "timedOut", "succeeded", "retried"]), {
        defects: 1,
        timedOut: 1,
        succeeded: 1,
        retried: 5
      })
    }))

  it.effect("cancelling a running job or shutting the pool down is never retried", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(1000))),
        concurrency: 3,
        retry: { schedule: Schedule.forever, defects: true, timeouts: true }
      })
      const viaHandle = yield* pool.submit(1)
      const viaCaller = yield* fork(pool.execute(2))
      const viaShutdown = yield* pool.submit(3)
      yield* TestClock.adjust(10)
      yield* viaHandle.interrupt
      yield* Fiber.interrupt(viaCaller)
      assert.isTrue(isInterrupted(yield* viaHandle.poll))
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(rec.inputs(), [1, 2, 3])
      assert.strictEqual((yield* pool.stats).retried, 0)
      assert.deepStrictEqual(yield* pool.shutdown, [])
      assert.instanceOf(yield* Effect.flip(viaShutdown.await), WorkerPoolError.PoolShutdown)
      yield* TestClock.adjust(5000)
      assert.deepStrictEqual(rec.inputs(), [1, 2, 3])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["cancelled", "shutdown", "retried"]), {
        cancelled: 2,
        shutdown: 1,
        retried: 0
      })
    }))

  it.effect("a job's own retry overrides the pool's; retry: false turns the pool's off for that job", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const handler = (n: number, job: WorkerPool.JobInfo) =>
        rec.record(n, job).pipe(
          Effect.andThen(Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: n !== 4 })))
        )
      const pool = yield* makePool({ handler, concurrency: 1, retry: Schedule.recurs(5) })
      yield* Effect.exit(pool.execute(1))
      yield* Effect.exit(pool.execute(2, { retry: Schedule.recurs(1) }))
      yield* Effect.exit(pool.execute(3, { retry: false }))
      yield* Effect.exit(pool.execute(4, { retry: { schedule: Schedule.recurs(3), while: (e) => e.retryable } }))
      assert.deepStrictEqual([1, 2, 3, 4].map((n) => rec.of(n).length), [6, 2, 1, 1])

      const plain = yield* makePool({ handler, concurrency: 1 })
      yield* Effect.exit(plain.execute(5))
      yield* Effect.exit(plain.execute(6, { retry: Schedule.recurs(2) }))
      assert.deepStrictEqual([5, 6].map((n) => rec.of(n).length), [1, 3], "no pool default: only the job's own")
    }))

  it.effect("a job waiting for its retry does not hold the worker: other jobs run meanwhile", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(
              n === 1 && job.attempt === 1
                ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true }))
                : Effect.sleep(n === 1 ? 10 : 150)
            ),
            Effect.as(n)
          ),
        concurrency: 1,
        retry: Schedule.spaced(100)
      })
      const flaky = yield* pool.submit(1)
      const other = yield* pool.submit(2)
      yield* TestClock.adjust(50)
      assert.deepStrictEqual(rec.starts.map((s) => [s.input, s.at]), [[1, 0], [2, 0]])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["running", "queued", "retrying", "retried"]), {
        running: 1,
        queued: 1,
        retrying: 1,
        retried: 1
      })
      checkAccounts(stats, "t=50")
      yield* TestClock.adjust(50)
      assert.strictEqual((yield* pool.stats).retrying, 0, "its delay passed: it is queued again")
      assert.strictEqual((yield* pool.stats).queued, 1)
      yield* TestClock.adjust(50)
      assert.deepStrictEqual(rec.starts.map((s) => [s.input, s.at]), [[1, 0], [2, 0], [1, 150]])
      yield* TestClock.adjust(10)
      assert.deepStrictEqual([yield* flaky.await, yield* other.await], [1, 2])
    }))

  it.effect("cancelling a job that waits for its retry settles it as interrupted at once; it never runs again", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true })))
          ),
        concurrency: 1,
        retry: Schedule.spaced(100)
      })
      const handle = yield* pool.submit(1)
      const caller = yield* fork(pool.execute(2))
      yield* TestClock.adjust(10)
      assert.strictEqual((yield* pool.stats).retrying, 2)
      yield* handle.interrupt
      assert.isTrue(isInterrupted(yield* handle.poll))
      yield* Fiber.interrupt(caller)
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["cancelled", "retrying", "queued", "running"]), {
        cancelled: 2,
        retrying: 0,
        queued: 0,
        running: 0
      })
      checkAccounts(stats, "after cancelling")
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(rec.inputs(), [1, 2])
      yield* pool.awaitIdle
    }))

  it.effect("retried and retrying add up with invariant 9 at every instant", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(Effect.sleep(10)),
            Effect.andThen(Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true })))
          ),
        concurrency: 2,
        retry: Schedule.spaced(100).pipe(Schedule.upTo({ times: 2 }))
      })
      yield* Effect.forEach([1, 2, 3], (n) => pool.submit(n))
      const keys = ["running", "queued", "retrying", "retried", "failed"] as const
      const expected: Record<number, Record<string, number>> = {
        0: { running: 2, queued: 1, retrying: 0, retried: 0, failed: 0 },
        10: { running: 1, queued: 2, retrying: 2, retried: 2, failed: 0 },
        20: { running: 0, queued: 3, retrying: 3, retried: 3, failed: 0 },
        110: { running: 2, queued: 1, retrying: 1, retried: 3, failed: 0 },
        120: { running: 1, queued: 2, retrying: 2, retried: 5, failed: 0 },
        130: { running: 0, queued: 3, retrying: 3, retried: 6, failed: 0 },
        240: { running: 0, queued: 0, retrying: 0, retried: 6, failed: 3 }
      }
      for (let t = 0; t <= 300; t++) {
        const stats = yield* pool.stats
        checkAccounts(stats, `t=${t}`)
        assert.isAtMost(stats.retrying, stats.queued, `retrying jobs are among the queued ones (t=${t})`)
        if (expected[t] !== undefined) assert.deepStrictEqual(pick(stats, keys), expected[t], `t=${t}`)
        yield* TestClock.adjust(1)
      }
      for (const n of [1, 2, 3]) assert.deepStrictEqual(rec.of(n).map((s) => s.attempt), [1, 2, 3], `job ${n}`)
    }))

  it.effect("shutdown returns the inputs of unstarted jobs and of jobs waiting for a retry, in submission order", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          n === 3
            ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true }))
            : Effect.sleep(100).pipe(Effect.as(n)),
        concurrency: 1,
        retry: Schedule.spaced(1000)
      })
      const priorities = [0, -1, 1, 0, -1]
      const handles = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => pool.submit(n, { priority: priorities[n - 1] }))
      // t=100: job 1 is done; job 3 runs, fails and waits for its retry; job 4 runs; jobs 2 and 5 are queued
      yield* TestClock.adjust(101)
      const before = yield* pool.stats
      assert.deepStrictEqual(pick(before, ["running", "queued", "retrying", "succeeded"]), {
        running: 1,
        queued: 3,
        retrying: 1,
        succeeded: 1
      })
      assert.deepStrictEqual(yield* pool.shutdown, [2, 3, 5])
      assert.strictEqual(yield* handles[0].await, 1)
      for (const handle of handles.slice(1)) {
        assert.instanceOf(yield* Effect.flip(handle.await), WorkerPoolError.PoolShutdown)
      }
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["shutdown", "retrying", "queued", "failed"]), {
        shutdown: 4,
        retrying: 0,
        queued: 0,
        failed: 0
      })
      checkAccounts(stats, "after shutdown")
    }))

  it.effect("drain and awaitIdle wait for jobs waiting for a retry, which still run", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(
              job.attempt === 1 ? Effect.fail(new Boom({ input: n, attempt: 1, retryable: true })) : Effect.sleep(10)
            ),
            Effect.as(n)
          ),
        concurrency: 1,
        retry: Schedule.spaced(100)
      })
      const first = yield* pool.submit(1)
      const idle = yield* fork(pool.awaitIdle)
      yield* TestClock.adjust(109)
      assert.isUndefined(idle.pollUnsafe(), "awaitIdle waits for the retry")
      yield* TestClock.adjust(1)
      yield* Fiber.join(idle)
      assert.strictEqual(yield* first.await, 1)

      const second = yield* pool.submit(2)
      const drained = yield* fork(pool.drain)
      yield* TestClock.adjust(109)
      assert.isUndefined(drained.pollUnsafe(), "drain waits for the retry")
      assert.strictEqual((yield* pool.stats).state, "draining")
      yield* TestClock.adjust(1)
      yield* Fiber.join(drained)
      assert.strictEqual(yield* second.await, 2)
      assert.deepStrictEqual(rec.starts.map((s) => [s.input, s.at]), [[1, 0], [1, 100], [2, 110], [2, 210]])
      assert.strictEqual((yield* pool.stats).state, "closed")
    }))

  it.effect("a key job waiting for its retry keeps its key: later jobs of the key wait for it", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(
              n === 1 && job.attempt === 1
                ? Effect.fail(new Boom({ input: n, attempt: 1, retryable: true }))
                : Effect.sleep(10)
            )
          ),
        concurrency: 2,
        retry: Schedule.spaced(100)
      })
      const handles = [
        yield* pool.submit(1, { key: "a" }),
        yield* pool.submit(2, { key: "a" }),
        yield* pool.submit(3, { key: "b" })
      ]
      yield* TestClock.adjust(200)
      yield* Effect.forEach(handles, (h) => h.await)
      assert.deepStrictEqual(rec.starts.map((s) => [s.input, s.attempt, s.at]), [
        [1, 1, 0],
        [3, 1, 0],
        [1, 2, 100],
        [2, 1, 110]
      ])
    }))
})

describe("rate limit", () => {
  it.effect("at most `limit` jobs start in any window of `interval`; queued jobs start as the window opens", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10))),
        concurrency: 4,
        capacity: 100,
        rateLimit: { limit: 3, interval: "100 millis" }
      })
      const handles = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (n) => pool.submit(n))
      const first = yield* pool.stats
      assert.deepStrictEqual(pick(first, ["running", "queued"]), { running: 3, queued: 17 })
      yield* TestClock.adjust(99)
      assert.strictEqual(rec.starts.length, 3)
      assert.deepStrictEqual(pick(yield* pool.stats, ["running", "queued"]), { running: 0, queued: 17 })
      yield* TestClock.adjust(1)
      assert.strictEqual(rec.starts.length, 6)
      yield* TestClock.adjust(1000)
      yield* Effect.forEach(handles, (h) => h.await)
      assert.deepStrictEqual(rec.times(), Array.from({ length: 20 }, (_, i) => Math.floor(i / 3) * 100))
      assert.deepStrictEqual(rec.inputs(), Array.from({ length: 20 }, (_, i) => i))
      assertWindows(rec.times(), 3, 100)
    }))

  it.effect("the window slides: jobs arriving at different times never exceed the limit in any window", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(3))),
        concurrency: 5,
        capacity: 1000,
        rateLimit: { limit: 4, interval: 50 }
      })
      const arrivals = [0, 0, 10, 30, 45, 50, 52, 60, 61, 62, 90, 100, 101, 140, 200, 201, 202, 203, 204, 260]
      let n = 0
      for (let t = 0; t <= 300; t++) {
        while (n < arrivals.length && arrivals[n] === t) yield* pool.submit(n++)
        yield* TestClock.adjust(1)
      }
      yield* TestClock.adjust(1000)
      assert.strictEqual(rec.starts.length, arrivals.length)
      assertWindows(rec.times(), 4, 50)
      // a sliding log, not fixed buckets: each start waits until the start 4 earlier is 50 ms old (the job that
      // arrives at 52 waits until 60, when the start at 10 is 50 old; fixed buckets would start it at 52)
      assert.deepStrictEqual(
        rec.times(),
        [0, 0, 10, 30, 50, 50, 60, 80, 100, 100, 110, 130, 150, 150, 200, 201, 202, 203, 250, 260]
      )
    }))

  it.effect("retries count as starts under the rate limit", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(
            Effect.andThen(
              job.attempt < 3 ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true })) : Effect.void
            ),
            Effect.as(job.attempt)
          ),
        concurrency: 2,
        retry: Schedule.recurs(5),
        rateLimit: { limit: 2, interval: 100 }
      })
      const result = yield* fork(pool.execute(1))
      yield* TestClock.adjust(99)
      assert.deepStrictEqual(rec.times(), [0, 0])
      assert.isUndefined(result.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(rec.times(), [0, 0, 100])
      assert.strictEqual(yield* Fiber.join(result), 3)
    }))

  it.effect("a paused pool starts nothing even when the window is open; resume starts jobs under the limit", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10))),
        concurrency: 4,
        rateLimit: { limit: 2, interval: 100 }
      })
      yield* pool.submit(1)
      yield* pool.submit(2)
      yield* TestClock.adjust(10)
      yield* pool.pause
      yield* Effect.forEach([3, 4, 5, 6], (n) => pool.submit(n))
      yield* TestClock.adjust(140)
      assert.deepStrictEqual(rec.inputs(), [1, 2], "nothing starts while paused")
      assert.strictEqual((yield* pool.stats).queued, 4)
      yield* pool.resume
      yield* TestClock.adjust(200)
      assert.deepStrictEqual(rec.inputs(), [1, 2, 3, 4, 5, 6])
      assert.deepStrictEqual(rec.times(), [0, 0, 150, 150, 250, 250], "the window counts the starts before the pause")
    }))

  it.effect("an invalid rateLimit fails with InvalidPoolOptions naming rateLimit.limit or rateLimit.interval", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [WorkerPool.RateLimit, string]> = [
        [{ limit: 0, interval: 100 }, "rateLimit.limit"],
        [{ limit: -1, interval: 100 }, "rateLimit.limit"],
        [{ limit: 1.5, interval: 100 }, "rateLimit.limit"],
        [{ limit: NaN, interval: 100 }, "rateLimit.limit"],
        [{ limit: Infinity, interval: 100 }, "rateLimit.limit"],
        [{ limit: 2, interval: 0 }, "rateLimit.interval"],
        [{ limit: 2, interval: -5 }, "rateLimit.interval"],
        [{ limit: 2, interval: NaN }, "rateLimit.interval"],
        [{ limit: 2, interval: "soon" as unknown as number }, "rateLimit.interval"]
      ]
      for (const [rateLimit, option] of cases) {
        const error = yield* Effect.flip(WorkerPool.make({ handler: sleeper, rateLimit }))
        assert.instanceOf(error, WorkerPoolError.InvalidPoolOptions)
        assert.strictEqual(error.option, option, JSON.stringify(rateLimit))
        const viaExecutor = yield* Effect.flip(WorkerPool.makeExecutor({ rateLimit }))
        assert.strictEqual(viaExecutor.option, option)
      }
    }))
})

describe("executeAll", () => {
  it.effect("returns the results in input order", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 3 })
      const all = yield* fork(pool.executeAll([50, 10, 30, 20, 40]))
      yield* TestClock.adjust(70)
      assert.deepStrictEqual(yield* Fiber.join(all), [50, 10, 30, 20, 40])
      assert.deepStrictEqual(yield* pool.executeAll([]), [])
      assert.deepStrictEqual(yield* pool.executeAll(new Set([0])), [0], "any iterable")
    }))

  it.effect("failFast (default): the first failure cancels the group's other jobs and is the error", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const released: Array<number> = []
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          probe.around(
            Effect.sync(() => started.push(n)).pipe(
              Effect.andThen(Effect.sleep(n === 2 ? 20 : 100)),
              Effect.andThen(
                n === 2 ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false })) : Effect.void
              ),
              Effect.onInterrupt(() => Effect.sync(() => released.push(n))),
              Effect.as(n)
            )
          ),
        concurrency: 3,
        capacity: 100
      })
      const outsider = yield* pool.submit(99)
      const group = yield* fork(Effect.flip(pool.executeAll([1, 2, 3, 4, 5])))
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(started, [99, 1, 2])
      yield* TestClock.adjust(20)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, Boom)
      assert.strictEqual((error as Boom).input, 2)
      assert.deepStrictEqual(started, [99, 1, 2], "queued jobs of the group never start")
      assert.deepStrictEqual(released, [1], "the running job of the group was interrupted")
      assert.strictEqual(probe.current, 1, "only the job outside the group still runs")
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["running", "queued", "failed", "cancelled"]), {
        running: 1,
        queued: 0,
        failed: 1,
        cancelled: 4
      })
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(started, [99, 1, 2], "nor later")
      assert.strictEqual(yield* outsider.await, 99, "a job outside the group is not affected")
    }))

  it.effect("failFast: false runs every job to its end, then fails with the first failure in input order", () =>
    Effect.gen(function*() {
      const finished: Array<number> = []
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          Effect.sleep(n === 3 ? 10 : n === 2 ? 50 : 100).pipe(
            Effect.andThen(Effect.sync(() => finished.push(n))),
            Effect.andThen(
              n === 2 || n === 3
                ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false }))
                : Effect.succeed(n)
            )
          ),
        concurrency: 4
      })
      const group = yield* fork(Effect.flip(pool.executeAll([1, 2, 3, 4], { failFast: false })))
      yield* TestClock.adjust(99)
      assert.isUndefined(group.pollUnsafe(), "waits for every job")
      yield* TestClock.adjust(1)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, Boom)
      assert.strictEqual((error as Boom).input, 2, "the first failure in input order, not in time")
      assert.deepStrictEqual(finished, [3, 2, 1, 4])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["succeeded", "failed", "cancelled"]), {
        succeeded: 2,
        failed: 2,
        cancelled: 0
      })
      const ok = yield* fork(pool.executeAll([4, 1], { failFast: false }))
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(yield* Fiber.join(ok), [4, 1])
    }))

  it.effect("interrupting the caller of executeAll cancels every job of the group", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const released: Array<number> = []
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (n: number) =>
          probe.around(
            Effect.sync(() => started.push(n)).pipe(
              Effect.andThen(Effect.sleep(100)),
              Effect.onInterrupt(() => Effect.sync(() => released.push(n)))
            )
          ),
        concurrency: 2,
        capacity: 100
      })
      const group = yield* fork(pool.executeAll([1, 2, 3, 4, 5]))
      yield* TestClock.adjust(10)
      yield* Fiber.interrupt(group)
      assert.deepStrictEqual(started, [1, 2], "queued jobs of the group never start")
      assert.deepStrictEqual(released.sort(), [1, 2], "running jobs of the group were interrupted")
      assert.strictEqual(probe.current, 0)
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["running", "queued", "cancelled"]), { running: 0, queued: 0, cancelled: 5 })
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(started, [1, 2])
    }))
})

describe("executeStream", () => {
  const emitted = <A, E>(stream: Stream.Stream<A, E>) =>
    Effect.gen(function*() {
      const out: Array<readonly [A, number]> = []
      const fiber = yield* fork(
        stream.pipe(
          Stream.tap((a) => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => out.push([a, t])))),
          Stream.runDrain
        )
      )
      return { out, fiber }
    })

  it.effect("emits results in input order by default", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 4 })
      const { fiber, out } = yield* emitted(pool.executeStream(Stream.fromIterable([50, 10, 30, 20])))
      yield* TestClock.adjust(50)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(out, [[50, 50], [10, 50], [30, 50], [20, 50]])
    }))

  it.effect("ordered: false emits each result as its job completes", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 4 })
      const { fiber, out } = yield* emitted(
        pool.executeStream(Stream.fromIterable([50, 10, 30, 20]), { ordered: false })
      )
      yield* TestClock.adjust(50)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(out, [[10, 10], [20, 20], [30, 30], [50, 50]])
    }))

  it.effect("keeps at most `concurrency` jobs of the stream in flight", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (ms: number) => probe.around(sleeper(ms)),
        concurrency: 8,
        capacity: 100
      })
      const inputs = Array.from({ length: 20 }, (_, i) => 5 + (i * 7) % 11)
      const fiber = yield* fork(Stream.runCollect(pool.executeStream(Stream.fromIterable(inputs), { concurrency: 3 })))
      while (fiber.pollUnsafe() === undefined) {
        const stats = yield* pool.stats
        assert.isAtMost(stats.running + stats.queued, 3)
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual(yield* Fiber.join(fiber), inputs)
      assert.strictEqual(probe.max, 3)
    }))

  it.effect("by default keeps at most the pool's max workers in flight", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (ms: number) => probe.around(sleeper(ms)),
        concurrency: { min: 1, max: 4 },
        capacity: 100
      })
      const inputs = Array.from({ length: 20 }, (_, i) => 5 + (i * 7) % 11)
      const fiber = yield* fork(
        Stream.runCollect(pool.executeStream(Stream.fromIterable(inputs), { ordered: false }))
      )
      while (fiber.pollUnsafe() === undefined) {
        const stats = yield* pool.stats
        assert.isAtMost(stats.running + stats.queued, 4)
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual([...(yield* Fiber.join(fiber))].sort((a, b) => a - b), [...inputs].sort((a, b) => a - b))
      assert.strictEqual(probe.max, 4)
    }))

  it.effect("a failure of the input stream or of a job fails the output stream with that error", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          n === 0 ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false })) : Effect.succeed(n),
        concurrency: 2
      })
      const upstream = Stream.concat(
        Stream.fromIterable([1, 2]),
        Stream.fail(new Boom({ input: -1, attempt: 0, retryable: false }))
      )
      const fromInput = yield* Effect.flip(Stream.runCollect(pool.executeStream(upstream)))
      assert.instanceOf(fromInput, Boom)
      assert.strictEqual((fromInput as Boom).input, -1)
      const fromJob = yield* Effect.flip(Stream.runCollect(pool.executeStream(Stream.fromIterable([1, 0, 2]))))
      assert.instanceOf(fromJob, Boom, "a job's own error, unwrapped")
      assert.strictEqual((fromJob as Boom).input, 0)
    }))

  it.effect("ending the output stream early cancels the stream's jobs in flight", () =>
    Effect.gen(function*() {
      const released: Array<number> = []
      const pool = yield* makePool({
        handler: (ms: number) => sleeper(ms).pipe(Effect.onInterrupt(() => Effect.sync(() => released.push(ms)))),
        concurrency: 4
      })
      const fiber = yield* fork(Stream.runCollect(
        pool.executeStream(Stream.fromIterable([10, 100, 200, 300]), { ordered: false }).pipe(Stream.take(1))
      ))
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [10])
      assert.deepStrictEqual(released.sort((a, b) => a - b), [100, 200, 300])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["running", "queued", "succeeded", "cancelled"]), {
        running: 0,
        queued: 0,
        succeeded: 1,
        cancelled: 3
      })
    }))
})

describe("invariants with flow control on", () => {
  it.effect("a mixed workload: never more than concurrency handlers, keys never overlap, stats add up, all settle", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const rec = recorder()
      const active = new Map<string, number>()
      const overlaps: Array<number> = []
      const concurrency = 3
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => {
          const work = Effect.gen(function*() {
            yield* rec.record(n, job)
            yield* Effect.sleep(1 + (n * 11) % 40)
            if (n % 5 === 0 && job.attempt === 1) {
              return yield* Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true }))
            }
            if (n % 7 === 0) return yield* Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false }))
            if (n % 13 === 0) return yield* Effect.die(new Error(`die ${n}`))
            return n
          })
          const key = job.key
          return probe.around(
            key === undefined ? work : Effect.acquireUseRelease(
              Effect.sync(() => {
                active.set(key, (active.get(key) ?? 0) + 1)
                if (active.get(key)! > 1) overlaps.push(n)
              }),
              () => work,
              () => Effect.sync(() => active.set(key, active.get(key)! - 1))
            )
          )
        },
        concurrency,
        capacity: 100,
        timeout: 30,
        retry: { schedule: Schedule.spaced(5).pipe(Schedule.upTo({ times: 2 })), while: (e) => e.retryable },
        rateLimit: { limit: 8, interval: 20 }
      })
      const handles: Array<WorkerPool.JobHandle<number, Boom | WorkerPoolError.JobError>> = []
      let n = 0
      for (let t = 0; t < 3000; t++) {
        if (t < 40) {
          for (let i = 0; i < 2; i++, n++) {
            const key = n % 4 === 0 ? "a" : n % 4 === 1 ? "b" : undefined
            handles.push(yield* pool.submit(n, { priority: (n * 5) % 3, ...(key === undefined ? {} : { key }) }))
          }
        }
        if (t === 15) yield* handles[17].interrupt
        if (t === 25) yield* handles[34].interrupt
        const stats = yield* pool.stats
        checkAccounts(stats, `t=${t}`)
        assert.isAtMost(probe.current, concurrency, `t=${t}`)
        assert.isAtMost(stats.retrying, stats.queued, `t=${t}`)
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual(overlaps, [], "jobs of one key overlapped")
      assert.strictEqual(probe.max, concurrency)
      assertWindows(rec.times(), 8, 20)
      const exits = yield* Effect.forEach(handles, (h) => h.poll)
      assert.isTrue(exits.every(Option.isSome), "every handle settled")
      const again = yield* Effect.forEach(handles, (h) => h.poll)
      assert.deepStrictEqual(again, exits, "a settled handle never changes")
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["submitted", "queued", "running", "retrying"]), {
        submitted: 80,
        queued: 0,
        running: 0,
        retrying: 0
      })
      checkAccounts(stats, "the end")
      assert.isAbove(stats.retried, 0)
      assert.isAbove(stats.failed, 0)
      assert.isAbove(stats.timedOut, 0)
      assert.isAbove(stats.defects, 0)
      assert.strictEqual(stats.cancelled, 2)
      assert.strictEqual(
        exits.filter((e) => Option.isSome(e) && Exit.isSuccess(e.value)).length,
        stats.succeeded
      )
    }))

  it.effect("no fiber outlives the scope with retries, keys, a rate limit, a group and a stream in flight", () =>
    Effect.gen(function*() {
      const { alive, started } = yield* trackFibers(Effect.scoped(Effect.gen(function*() {
        const pool = yield* makePool({
          handler: (n: number, job: WorkerPool.JobInfo) =>
            n % 2 === 0
              ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true }))
              : Effect.sleep(n).pipe(Effect.as(n)),
          concurrency: { min: 1, max: 4, idleTimeout: 50 },
          capacity: 100,
          retry: Schedule.spaced(1000),
          rateLimit: { limit: 5, interval: 100 }
        })
        for (let i = 0; i < 12; i++) yield* pool.submit(i * 10 + (i % 2), { key: `k${i % 3}`, priority: i % 2 })
        yield* Effect.forkScoped(pool.executeAll([101, 203, 305]))
        yield* Effect.forkScoped(Stream.runDrain(pool.executeStream(Stream.fromIterable([11, 21, 31, 41]))))
        yield* TestClock.adjust(150)
        const stats = yield* pool.stats
        assert.isAbove(stats.retrying, 0)
        assert.isAbove(stats.queued, stats.retrying)
      })))
      assert.isAbove(started, 4)
      assert.strictEqual(alive, 0)
    }))
})
