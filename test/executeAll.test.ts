/**
 * executeAll: a group of jobs, its results in input order, and how a failure or an interruption ends the group.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
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

  it.effect("a group larger than the queue waits for room, in input order, and keeps every result in its place", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const pool = yield* makePool({
        handler: (n: number) =>
          Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10)), Effect.as(n * 2)),
        concurrency: 2,
        capacity: 3
      })
      const inputs = Array.from({ length: 40 }, (_, i) => i)
      const group = yield* fork(pool.executeAll(inputs))
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(
        pick(yield* pool.stats, ["running", "queued", "submitted"]),
        { running: 2, queued: 3, submitted: 5 },
        "the rest wait for room"
      )
      yield* TestClock.adjust(200)
      assert.deepStrictEqual(yield* Fiber.join(group), inputs.map((n) => n * 2))
      assert.deepStrictEqual(started, inputs, "the jobs started in input order")
    }))

  it.effect("failFast: a failure while the group still waits for room stops its submissions there", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          Effect.sleep(10).pipe(
            Effect.andThen(
              n === 1 ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false })) : Effect.succeed(n)
            )
          ),
        concurrency: 2,
        capacity: 2
      })
      const group = yield* fork(Effect.flip(pool.executeAll(Array.from({ length: 100 }, (_, i) => i))))
      yield* TestClock.adjust(10)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, Boom)
      assert.strictEqual((error as Boom).input, 1)
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["running", "queued", "failed", "succeeded"]), {
        running: 0,
        queued: 0,
        failed: 1,
        succeeded: 1
      })
      assert.isBelow(stats.submitted, 10, "the inputs after the failure were never submitted")
      assert.strictEqual(stats.cancelled, stats.submitted - 2, "every other submitted job was cancelled")
    }))

  it.effect("a submission turned away ends the group with its error, and cancels the jobs it had submitted", () =>
    Effect.gen(function*() {
      const released: Array<number> = []
      const pool = yield* makePool({
        handler: (n: number) => Effect.sleep(100).pipe(Effect.onInterrupt(() => Effect.sync(() => released.push(n)))),
        concurrency: 1,
        capacity: 2,
        overflow: "fail"
      })
      const error = yield* Effect.flip(pool.executeAll([1, 2, 3, 4, 5]))
      assert.instanceOf(error, WorkerPoolError.QueueFull)
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(
        pick(yield* pool.stats, ["running", "queued", "cancelled", "rejected"]),
        { running: 0, queued: 0, cancelled: 3, rejected: 1 }
      )
      assert.deepStrictEqual(released, [1], "the running job of the group was interrupted")
    }))

  it.effect("a job the queue drops (overflow \"dropping\") fails the group with JobDropped", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 1, capacity: 1, overflow: "dropping" })
      const group = yield* fork(Effect.flip(pool.executeAll([10, 10, 10], { failFast: false })))
      yield* TestClock.adjust(30)
      assert.instanceOf(yield* Fiber.join(group), WorkerPoolError.JobDropped)
    }))
})
