/**
 * Retry: which failures are retried, on which schedule, and how a job waiting for its retry is counted,
 * cancelled, drained and shut down.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { Boom, isInterrupted, recorder } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { checkAccounts, pick } from "./utils/stats.ts"

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
