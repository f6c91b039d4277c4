/**
 * executeAll: a group of jobs, its results in input order, and how a failure or an interruption ends the group.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { Boom, concurrencyProbe, sleeper } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { pick } from "./utils/stats.ts"

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
