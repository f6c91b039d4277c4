/**
 * Timeouts: a job that runs longer than its timeout (the pool's default or its own) fails with JobTimeout at its
 * own deadline, once its finalizers ran.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { sleeper } from "./utils/jobs.ts"
import { accounted } from "./utils/stats.ts"

describe("timeouts", () => {
  describe("a job that overruns its timeout fails with JobTimeout at its own deadline, after its finalizers", () => {
    it.effect("the default timeout fails a job with JobTimeout after its finalizers ran, holding the slot until then", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            Effect.sync(() => log.push(`start ${n}`)).pipe(
              Effect.andThen(Effect.sleep(n === 1 ? 1000 : 10)),
              Effect.onInterrupt(() =>
                Effect.sleep(30).pipe(Effect.andThen(Effect.sync(() => log.push(`cleaned ${n}`))))
              ),
              Effect.as(n)
            ),
          concurrency: 1,
          timeout: "100 millis",
          name: "timed"
        })
        const first = yield* fork(Effect.flip(pool.execute(1, { id: "slow" })))
        const second = yield* fork(pool.execute(2))
        yield* TestClock.adjust(99)
        assert.deepStrictEqual(log, ["start 1"])
        yield* TestClock.adjust(1) // the deadline: the job is interrupted; its finalizer takes 30 ms
        assert.deepStrictEqual(log, ["start 1"])
        assert.isUndefined(first.pollUnsafe())
        yield* TestClock.adjust(29)
        assert.deepStrictEqual(log, ["start 1"], "the next job waits while the finalizer holds the slot")
        yield* TestClock.adjust(1)
        assert.deepStrictEqual(log, ["start 1", "cleaned 1", "start 2"])
        const error = yield* Fiber.join(first)
        assert.instanceOf(error, WorkerPoolError.JobTimeout)
        assert.deepStrictEqual(
          { pool: error.pool, jobId: (error as WorkerPoolError.JobTimeout).jobId, ms: (error as any).timeoutMillis },
          { pool: "timed", jobId: "slow", ms: 100 }
        )
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* Fiber.join(second), 2)
        const stats = yield* pool.stats
        assert.strictEqual(stats.timedOut, 1)
        assert.strictEqual(stats.workers, 1)
      }))

    it.effect("a per-job timeout overrides the default, and time spent queued does not count", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: sleeper,
          concurrency: 1,
          timeout: "1 second"
        })
        const blocker = yield* fork(pool.execute(200))
        const short = yield* fork(Effect.exit(pool.execute(100, { timeout: "50 millis" })))
        const long = yield* fork(pool.execute(300, { timeout: "Infinity" }))
        yield* TestClock.adjust(200) // blocker done, short starts now
        assert.strictEqual(yield* Fiber.join(blocker), 200)
        yield* TestClock.adjust(49)
        assert.isUndefined(short.pollUnsafe())
        yield* TestClock.adjust(1)
        const exit = yield* Fiber.join(short)
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(
          (Cause.squash((exit as Exit.Failure<never, unknown>).cause) as { _tag: string })._tag,
          "JobTimeout"
        )
        yield* TestClock.adjust(300)
        assert.strictEqual(yield* Fiber.join(long), 300)
      }))

    it.effect("a job whose timeout is shorter than those already armed still fires on time", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2, timeout: "1 second" })
        const long = yield* fork(Effect.exit(pool.execute(5000)))
        yield* TestClock.adjust(10)
        const short = yield* fork(Effect.exit(pool.execute(5000, { timeout: 20 })))
        yield* TestClock.adjust(20)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(short)))
        assert.isUndefined(long.pollUnsafe())
        yield* TestClock.adjust(970)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(long)))
        assert.strictEqual((yield* pool.stats).timedOut, 2)
      }))

    it.effect("many jobs with timeouts: each one that overruns times out at its own deadline", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 10, capacity: 1000 })
        // job i sleeps 2i ms with a timeout of 99 ms: jobs 0..49 succeed, 50..99 time out
        const fibers = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) => fork(Effect.exit(pool.execute(2 * i, { timeout: 99 })))
        )
        yield* TestClock.adjust(10_000)
        const exits = yield* Fiber.joinAll(fibers)
        const ok = exits.flatMap((e, i) => Exit.isSuccess(e) ? [i] : [])
        assert.deepStrictEqual(ok, Array.from({ length: 50 }, (_, i) => i))
        const stats = yield* pool.stats
        assert.strictEqual(stats.timedOut, 50)
        assert.strictEqual(stats.succeeded, 50)
      }))

    it.effect("a job that finishes at the instant of its timeout settles exactly once", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, timeout: 100 })
        const handle = yield* pool.submit(100)
        yield* TestClock.adjust(100)
        const exit = yield* Effect.exit(handle.await)
        const stats = yield* pool.stats
        assert.strictEqual(stats.succeeded + stats.timedOut, 1)
        assert.strictEqual(Exit.isSuccess(exit), stats.succeeded === 1)
        assert.strictEqual(accounted(stats), stats.submitted)
      }))
  })
})
