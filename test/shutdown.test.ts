/**
 * Stopping a pool: drain, shutdown, and the close of its scope within shutdownTimeout; every unfinished job
 * settles, and no fiber of the pool outlives it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork, trackFibers } from "./utils/fibers.ts"
import { sleeper } from "./utils/jobs.ts"
import { accounted } from "./utils/stats.ts"

describe("shutdown", () => {
  describe("drain stops intake and finishes the accepted jobs", () => {
    it.effect("drain stops intake, finishes queued and running jobs, then rejects new ones", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2 })
        const handles = yield* Effect.forEach([10, 20, 30, 40, 50], (ms) => pool.submit(ms))
        const drained = yield* fork(pool.drain)
        const late = yield* Effect.flip(pool.submit(1))
        assert.instanceOf(late, WorkerPoolError.PoolShutdown)
        assert.strictEqual((yield* pool.stats).state, "draining")
        yield* TestClock.adjust(1000)
        yield* Fiber.join(drained)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [10, 20, 30, 40, 50])
        const stats = yield* pool.stats
        assert.strictEqual(stats.state, "closed")
        assert.strictEqual(stats.workers, 0)
        assert.strictEqual(stats.rejected, 1)
        assert.strictEqual((yield* Effect.flip(pool.execute(1)))._tag, "PoolShutdown")
      }))

    it.effect("submitters waiting for room when intake stops get PoolShutdown instead of hanging", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, capacity: 1 })
        yield* pool.submit(100)
        yield* pool.submit(100)
        const waitingSubmit = yield* fork(pool.submit(100, { id: "w1" }))
        const waitingExecute = yield* fork(pool.execute(100))
        assert.strictEqual((yield* pool.stats).waiting, 2)
        const drained = yield* fork(pool.drain)
        const e1 = yield* Effect.flip(Fiber.join(waitingSubmit))
        const e2 = yield* Effect.flip(Fiber.join(waitingExecute))
        assert.instanceOf(e1, WorkerPoolError.PoolShutdown)
        assert.strictEqual((e1 as WorkerPoolError.PoolShutdown).jobId, "w1")
        assert.strictEqual(e2._tag, "PoolShutdown")
        yield* TestClock.adjust(200)
        yield* Fiber.join(drained)
        const stats = yield* pool.stats
        assert.strictEqual(stats.rejected, 2)
        assert.strictEqual(stats.succeeded, 2)
      }))
  })

  describe("shutdown interrupts what runs, settles every unfinished job and returns the unstarted inputs", () => {
    it.effect("shutdown returns exactly the unstarted inputs and settles every unfinished job with PoolShutdown", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            Effect.sleep(100).pipe(
              Effect.onInterrupt(() => Effect.sync(() => log.push(`interrupted ${n}`))),
              Effect.as(n)
            ),
          concurrency: 2
        })
        const handles = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => pool.submit(n))
        yield* TestClock.adjust(10)
        const unstarted = yield* pool.shutdown
        assert.deepStrictEqual(unstarted, [3, 4, 5])
        assert.deepStrictEqual(log, ["interrupted 1", "interrupted 2"])
        for (const handle of handles) {
          const error = yield* Effect.flip(handle.await)
          assert.instanceOf(error, WorkerPoolError.PoolShutdown)
          assert.strictEqual((error as WorkerPoolError.PoolShutdown).jobId, handle.id)
        }
        const stats = yield* pool.stats
        assert.strictEqual(stats.shutdown, 5)
        assert.strictEqual(stats.state, "closed")
        assert.strictEqual(accounted(stats), stats.submitted)
        assert.deepStrictEqual(yield* pool.shutdown, [])
        assert.strictEqual((yield* Effect.flip(pool.submit(6)))._tag, "PoolShutdown")
      }))

    it.effect("shutdown during a drain interrupts what is left and returns the unstarted inputs", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        const handles = yield* Effect.forEach([100, 200, 300], (ms) => pool.submit(ms))
        const drained = yield* fork(pool.drain)
        yield* TestClock.adjust(100)
        assert.strictEqual(yield* handles[0].await, 100)
        const unstarted = yield* pool.shutdown
        assert.deepStrictEqual(unstarted, [300])
        yield* Fiber.join(drained)
        assert.strictEqual((yield* Effect.flip(handles[1].await))._tag, "PoolShutdown")
        assert.strictEqual((yield* Effect.flip(handles[2].await))._tag, "PoolShutdown")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.state, stats.succeeded, stats.shutdown], ["closed", 1, 2])
      }))

    it.effect("a handler that calls shutdown on its own pool settles with PoolShutdown and nothing hangs", () =>
      Effect.gen(function*() {
        const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(1).pipe(Effect.andThen(Effect.suspend(() => pool.shutdown)), Effect.as(0))
              : sleeper(n),
          concurrency: 1
        })
        const first = yield* pool.submit(0)
        const queued = yield* pool.submit(50)
        yield* TestClock.adjust(1)
        // the shutdown interrupts the handler that called it: its job settles with PoolShutdown
        assert.strictEqual((yield* Effect.flip(first.await))._tag, "PoolShutdown")
        assert.strictEqual((yield* Effect.flip(queued.await))._tag, "PoolShutdown")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.running, stats.queued, stats.shutdown], [0, 0, 2])
        assert.notStrictEqual(stats.state, "open")
      }))

    it.effect("drain, shutdown and awaitIdle on a stopped pool return at once", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2 })
        const handle = yield* pool.submit(10)
        yield* TestClock.adjust(10)
        yield* pool.drain
        yield* pool.drain
        assert.deepStrictEqual(yield* pool.shutdown, [])
        yield* pool.awaitIdle
        assert.strictEqual(yield* handle.await, 10, "a settled handle keeps its result after the pool stopped")
        assert.strictEqual((yield* Effect.flip(pool.trySubmit(1)))._tag, "PoolShutdown")
      }))
  })

  describe("closing the pool's scope drains it within shutdownTimeout, then interrupts the rest", () => {
    it.effect("closing the scope drains queued and running jobs within shutdownTimeout", () =>
      Effect.gen(function*() {
        const outcomes = yield* Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2, shutdownTimeout: "1 second" })
            return yield* Effect.forEach([100, 200, 300, 400], (ms) => pool.submit(ms))
          })
        ).pipe(fork)
        yield* TestClock.adjust(600)
        const handles = yield* Fiber.join(outcomes)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [100, 200, 300, 400])
      }))

    it.effect("at the shutdown deadline the rest are interrupted and settle with PoolShutdown", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const closing = yield* Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* WorkerPool.make({
              handler: (ms: number) =>
                Effect.sleep(ms).pipe(
                  Effect.onInterrupt(() => Effect.sync(() => log.push(`interrupted ${ms}`))),
                  Effect.as(ms)
                ),
              concurrency: 2,
              shutdownTimeout: "250 millis"
            })
            return yield* Effect.forEach([100, 1000, 200, 2000], (ms) => pool.submit(ms))
          })
        ).pipe(fork)
        yield* TestClock.adjust(249)
        assert.isUndefined(closing.pollUnsafe())
        yield* TestClock.adjust(1)
        const handles = yield* Fiber.join(closing) // the close completed at the deadline
        const exits = yield* Effect.forEach(handles, (h) => Effect.exit(h.await))
        assert.isTrue(Exit.isSuccess(exits[0]))
        // 100 ran first; 200 ran on the freed worker (100..300) and was interrupted at 250
        assert.deepStrictEqual(log.sort(), ["interrupted 1000", "interrupted 200"])
        for (const exit of exits.slice(1)) {
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(
            (Cause.squash((exit as Exit.Failure<never, unknown>).cause) as { _tag: string })._tag,
            "PoolShutdown"
          )
        }
      }))

    it.effect("a handler that closes its own pool's scope shuts the pool down at once: every job settles", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const { alive, result: outcomes, started } = yield* trackFibers(Effect.gen(function*() {
          const scope = yield* Scope.make()
          const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
            handler: (ms: number) =>
              ms === 0
                ? Effect.sleep(1).pipe(
                  Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                  Effect.andThen(Effect.sync(() => log.push("the closing handler went on"))),
                  Effect.as(0)
                )
                : Effect.sleep(ms).pipe(
                  Effect.onInterrupt(() => Effect.sync(() => log.push(`interrupted ${ms}`))),
                  Effect.as(ms)
                ),
            concurrency: 2
          }).pipe(Scope.provide(scope))
          const handles = yield* Effect.forEach([0, 50, 60], (ms) => pool.submit(ms))
          // the default shutdownTimeout is 30 seconds: the close must not wait for it, nor for the closing job
          yield* TestClock.adjust(1)
          const outcomes = yield* Effect.forEach(handles, (h) => Effect.flip(h.await))
          return { outcomes, stats: yield* pool.stats }
        }))
        assert.deepStrictEqual(outcomes.outcomes.map((e) => e._tag), ["PoolShutdown", "PoolShutdown", "PoolShutdown"])
        assert.deepStrictEqual(log, ["interrupted 50"])
        const stats = outcomes.stats
        assert.deepStrictEqual([stats.state, stats.running, stats.queued, stats.workers], ["closed", 0, 0, 0])
        assert.strictEqual(stats.shutdown, 3)
        accounted(stats)
        assert.isAtLeast(started, 2, "the fibers counted include the 2 workers")
        assert.strictEqual(alive, 0)
      }))

    it.effect("a retry schedule that closes its pool's scope shuts the pool down at once: every job settles", () =>
      Effect.gen(function*() {
        const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
          const scope = yield* Scope.make()
          const pool: WorkerPool.WorkerPool<number, number, string> = yield* WorkerPool.make({
            handler: (ms: number) =>
              ms === 0
                ? Effect.sleep(5).pipe(Effect.andThen(Effect.fail("boom")))
                : Effect.sleep(ms).pipe(Effect.as(ms)),
            concurrency: 2,
            retry: Schedule.recurs(3).pipe(
              Schedule.tap(() => Effect.sleep(1).pipe(Effect.andThen(Scope.close(scope, Exit.void))))
            )
          }).pipe(Scope.provide(scope))
          const handles = yield* Effect.forEach([50, 0, 60], (ms) => pool.submit(ms))
          yield* TestClock.adjust(6)
          const outcomes = yield* Effect.forEach(handles, (h) => Effect.flip(h.await))
          yield* TestClock.adjust(1)
          return { outcomes, stats: yield* pool.stats }
        }))
        assert.deepStrictEqual(
          result.outcomes.map((e) => typeof e === "string" ? e : e._tag),
          ["PoolShutdown", "PoolShutdown", "PoolShutdown"]
        )
        const stats = result.stats
        assert.deepStrictEqual([stats.state, stats.running, stats.queued, stats.retrying, stats.workers], [
          "closed",
          0,
          0,
          0,
          0
        ])
        accounted(stats)
        assert.isAtLeast(started, 3, "the fibers counted include the 2 workers and the schedule's step")
        assert.strictEqual(alive, 0)
      }))

    it.effect("shutdownTimeout: 0 interrupts at once when the scope closes", () =>
      Effect.gen(function*() {
        const handles = yield* Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, shutdownTimeout: 0 })
            return yield* Effect.forEach([100, 100], (ms) => pool.submit(ms))
          })
        )
        for (const h of handles) assert.strictEqual((yield* Effect.flip(h.await))._tag, "PoolShutdown")
      }))
  })

  describe("no fiber of the pool outlives it", () => {
    it.effect("no fiber of the pool is alive after its scope closes", () =>
      Effect.gen(function*() {
        const { alive, result: callers, started } = yield* trackFibers(
          Effect.scoped(Effect.gen(function*() {
            const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 8, timeout: 50, shutdownTimeout: 0 })
            const fibers = yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => i * 3), (ms) =>
              fork(Effect.exit(pool.execute(ms))))
            yield* TestClock.adjust(20)
            yield* Fiber.interrupt(fibers[3])
            return fibers.length
          }))
        )
        assert.isAtLeast(started, callers + 8, "the fibers counted include the 40 callers and the 8 workers")
        assert.strictEqual(alive, 0)
      }))

    it.effect("no fiber of the pool is alive after drain, shutdown, or a graceful close", () =>
      Effect.gen(function*() {
        for (const stop of ["drain", "shutdown", "close"] as const) {
          const run = trackFibers(
            Effect.scoped(Effect.gen(function*() {
              const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 3, timeout: 500 })
              yield* Effect.forEach([10, 20, 30, 40], (ms) => pool.submit(ms))
              if (stop === "drain") yield* pool.drain
              if (stop === "shutdown") yield* pool.shutdown
            }))
          )
          const fiber = yield* fork(run)
          yield* TestClock.adjust(1000)
          const { alive, started } = yield* Fiber.join(fiber)
          assert.isAtLeast(started, 3, `${stop}: the fibers counted include the 3 workers`)
          assert.strictEqual(alive, 0, stop)
        }
      }))
  })
})
