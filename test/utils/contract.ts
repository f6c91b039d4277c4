/**
 * The core pool's contract, as one suite that runs on every backend of the same handler: worker fibers and worker
 * threads. Real time (`it.live`): threads run on it. Each test builds its own pool with the options it needs.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { WorkerPool } from "../../src/index.ts"
import { WorkerPoolError } from "../../src/index.ts"
import { JobRejected, type Result, type Task } from "../fixtures/threadJobs.ts"

/** Builds a pool of the fixture's handler on one backend, with the core settings given. */
export type MakePool = (
  options: WorkerPool.Settings & { readonly retry?: WorkerPool.Retry<any> | undefined }
) => Effect.Effect<WorkerPool.WorkerPool<Task, Result, any>, unknown, Scope.Scope>

const sleep = (millis: number): Task => ({ op: "sleep", millis })
const square = (n: number): Task => ({ op: "square", n })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<A, E>).cause)
  assert.strictEqual(error._tag, "Some", "expected a typed failure")
  return (error as { value: E }).value
}

/** Waits (polling every 5 ms, for at most 10 s) until the pool's stats satisfy `check`. */
const until = (pool: WorkerPool.WorkerPool<any, any, any>, check: (stats: WorkerPool.Stats) => boolean) =>
  pool.stats.pipe(
    Effect.filterOrFail(check, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("5 millis")),
    Effect.timeout("10 seconds"),
    Effect.orDie
  )

/** Stats add up (design invariant 9). */
const addsUp = (s: WorkerPool.Stats) =>
  assert.strictEqual(
    s.submitted,
    s.succeeded + s.failed + s.defects + s.timedOut + s.cancelled + s.dropped + s.shutdown + s.queued + s.running
  )

export const contract = (backend: string, make: MakePool) =>
  describe(`the pool's contract on ${backend}`, () => {
    it.live("execute and submit + await give the handler's result", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 2 })
        assert.strictEqual((yield* pool.execute(square(7))).value, 49)
        const handle = yield* pool.submit(square(8), { id: "eight" })
        assert.strictEqual(handle.id, "eight")
        assert.strictEqual((yield* handle.await).value, 64)
      }))

    it.live("a typed error keeps its class; a defect stays a defect; neither costs the pool a worker", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 2 })
        const error = yield* Effect.flip(pool.execute({ op: "reject", n: 1 }))
        assert.instanceOf(error, JobRejected)
        const died = yield* Effect.exit(pool.execute({ op: "die", message: "broken" }))
        assert.isTrue(Exit.isFailure(died) && Cause.hasDies(died.cause))
        assert.strictEqual((Cause.squash((died as Exit.Failure<any, any>).cause) as Error).message, "broken")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.failed, stats.defects, stats.workers], [1, 1, 2])
        addsUp(stats)
      }))

    it.live("at most `concurrency` jobs run at once, and they start in the order they were accepted", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 2 })
        const order: Array<number> = []
        const handles = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => pool.submit(sleep(20 * n)))
        yield* until(pool, (s) => s.running === 2 && s.queued === 4)
        // with 2 workers, the shortest-first jobs end in submission order
        yield* Effect.forEach(handles, (handle, i) => Effect.map(handle.await, () => order.push(i + 1)), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(order, [1, 2, 3, 4, 5, 6])
        const stats = yield* pool.stats
        assert.strictEqual(stats.succeeded, 6)
        assert.strictEqual(stats.runTime.count, 6)
      }))

    it.live("a job running past its timeout settles with JobTimeout, and the pool keeps its workers", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 1, timeout: "150 millis" })
        yield* pool.execute(square(1))
        const error = failureOf(yield* Effect.exit(pool.execute(sleep(30_000))))
        assert.instanceOf(error, WorkerPoolError.JobTimeout)
        assert.strictEqual((error as WorkerPoolError.JobTimeout).timeoutMillis, 150)
        assert.strictEqual((yield* pool.execute(square(3))).value, 9)
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.timedOut, stats.workers], [1, 1])
        addsUp(stats)
      }))

    it.live("interrupting execute's caller cancels a queued job (it never starts) and a running one", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 1 })
        yield* pool.execute(square(1))
        const running = yield* Effect.forkChild(pool.execute(sleep(30_000)))
        const queued = yield* Effect.forkChild(pool.execute(square(2)))
        yield* until(pool, (s) => s.running === 1 && s.queued === 1)
        yield* Fiber.interrupt(queued)
        yield* Fiber.interrupt(running)
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.cancelled, stats.started, stats.running, stats.queued], [2, 2, 0, 0])
        assert.strictEqual((yield* pool.execute(square(4))).value, 16)
        addsUp(yield* pool.stats)
      }))

    it.live("overflow \"fail\" and trySubmit turn jobs away with QueueFull when the queue is full", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 1, capacity: 1, overflow: "fail" })
        yield* pool.submit(sleep(200))
        yield* until(pool, (s) => s.running === 1)
        yield* pool.submit(square(1))
        const full = yield* Effect.flip(pool.submit(square(2)))
        assert.instanceOf(full, WorkerPoolError.QueueFull)
        assert.instanceOf(yield* Effect.flip(pool.trySubmit(square(3))), WorkerPoolError.QueueFull)
        assert.strictEqual((yield* pool.stats).rejected, 2)
      }))

    it.live("a higher priority starts first; jobs of one key run one at a time in order", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 1 })
        yield* pool.submit(sleep(100))
        yield* until(pool, (s) => s.running === 1)
        const order: Array<string> = []
        const low = yield* pool.submit(square(1), { id: "low" })
        const high = yield* pool.submit(square(2), { id: "high", priority: 5 })
        yield* Effect.forEach([low, high], (h) => Effect.map(h.await, () => order.push(h.id)), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(order, ["high", "low"])
        const wide = yield* make({ concurrency: 3 })
        const keyed = yield* Effect.forEach([60, 10, 30], (millis) => wide.submit(sleep(millis), { key: "k" }))
        yield* until(wide, (s) => s.running === 1 && s.queued === 2)
        const done: Array<number> = []
        yield* Effect.forEach(keyed, (h, i) => Effect.map(h.await, () => done.push(i)), { concurrency: "unbounded" })
        assert.deepStrictEqual(done, [0, 1, 2])
      }))

    it.live("a retry policy runs a failed job again; stats count the retries", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 1, retry: { schedule: Schedule.recurs(2) } })
        const error = yield* Effect.flip(pool.execute({ op: "reject", n: 5 }))
        assert.instanceOf(error, JobRejected)
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.retried, stats.started, stats.failed], [2, 3, 1])
      }))

    it.live("shutdown stops running jobs and returns the inputs that never started", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 1 })
        const running = yield* pool.submit(sleep(30_000))
        yield* until(pool, (s) => s.running === 1)
        const queued = yield* pool.submit(square(9))
        assert.deepStrictEqual(yield* pool.shutdown, [square(9)])
        for (const handle of [running, queued]) {
          assert.instanceOf(failureOf(yield* Effect.exit(handle.await)), WorkerPoolError.PoolShutdown)
        }
        assert.instanceOf(yield* Effect.flip(pool.submit(square(1))), WorkerPoolError.PoolShutdown)
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.state, stats.shutdown, stats.workers], ["closed", 2, 0])
        addsUp(stats)
      }))

    it.live("drain finishes every accepted job, then takes no more", () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 2 })
        const handles = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => pool.submit(square(n)))
        yield* pool.drain
        assert.deepStrictEqual(
          yield* Effect.forEach(handles, (h) => Effect.map(h.await, (r) => r.value)),
          [1, 4, 9, 16, 25]
        )
        assert.instanceOf(yield* Effect.flip(pool.execute(square(1))), WorkerPoolError.PoolShutdown)
      }))
  })
