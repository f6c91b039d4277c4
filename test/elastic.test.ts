/**
 * Sizing the pool: elastic workers between min and max, retired after idleTimeout, and resize.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork, trackFibers } from "./utils/fibers.ts"
import { concurrencyProbe, sleeper } from "./utils/jobs.ts"

describe("elastic sizing", () => {
  it.effect("starts with min workers, adds one per waiting job while all are busy, never more than max", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const pool = yield* WorkerPool.make({
        handler: (ms: number) => probe.around(Effect.sleep(ms)),
        concurrency: { min: 2, max: 6, idleTimeout: "1 second" },
        capacity: 100
      })
      assert.strictEqual((yield* pool.stats).workers, 2)
      yield* pool.submit(100)
      yield* pool.submit(100)
      assert.strictEqual((yield* pool.stats).workers, 2, "two jobs, two idle workers: no new worker")
      yield* pool.submit(100)
      assert.strictEqual((yield* pool.stats).workers, 3, "a third job finds every worker busy")
      for (let i = 0; i < 10; i++) yield* pool.submit(100)
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.workers, stats.running, stats.queued], [6, 6, 7])
      yield* TestClock.adjust(1000)
      assert.strictEqual(probe.max, 6)
      assert.strictEqual((yield* pool.stats).succeeded, 13)
    }))

  it.effect("a worker above min stops after idling for idleTimeout, down to min", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler: sleeper,
        concurrency: { min: 2, max: 6, idleTimeout: "500 millis" },
        capacity: 100
      })
      for (let i = 0; i < 6; i++) yield* pool.submit(100)
      assert.strictEqual((yield* pool.stats).workers, 6)
      yield* TestClock.adjust(100) // all finish at t=100 and go idle
      assert.strictEqual((yield* pool.stats).idleWorkers, 6)
      yield* TestClock.adjust(499)
      assert.strictEqual((yield* pool.stats).workers, 6)
      yield* TestClock.adjust(1)
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.workers, stats.idleWorkers], [2, 2])
      yield* TestClock.adjust(10_000)
      assert.strictEqual((yield* pool.stats).workers, 2, "never below min")
    }))

  it.effect("min 0: no worker until the first job, and none after idling", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler: sleeper,
        concurrency: { min: 0, max: 3, idleTimeout: 50 },
        name: "lazy"
      })
      assert.strictEqual((yield* pool.stats).workers, 0)
      const result = yield* fork(pool.execute(10))
      assert.strictEqual((yield* pool.stats).workers, 1)
      yield* TestClock.adjust(10)
      assert.strictEqual(yield* Fiber.join(result), 10)
      yield* TestClock.adjust(50)
      assert.strictEqual((yield* pool.stats).workers, 0)
      const again = yield* fork(pool.execute(5))
      yield* TestClock.adjust(5)
      assert.strictEqual(yield* Fiber.join(again), 5)
    }))

  it.effect("a steady load keeps a steady number of workers (no thrash)", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler: sleeper,
        concurrency: { min: 1, max: 8, idleTimeout: "200 millis" },
        capacity: 100,
        shutdownTimeout: 0
      })
      // three jobs of 30 ms every 10 ms: about three workers busy at any time
      const counts: Array<number> = []
      for (let t = 0; t < 3000; t += 10) {
        for (let i = 0; i < 1; i++) yield* pool.submit(30)
        yield* TestClock.adjust(10)
        if (t >= 1000) counts.push((yield* pool.stats).workers)
      }
      assert.strictEqual(Math.min(...counts), Math.max(...counts), `worker counts: ${[...new Set(counts)]}`)
      assert.isAtMost(Math.max(...counts), 4)
    }))

  it.effect("a worker never stops in the middle of a job", () =>
    Effect.gen(function*() {
      const interrupted: Array<number> = []
      const pool = yield* WorkerPool.make({
        handler: (ms: number) =>
          Effect.sleep(ms).pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted.push(ms)))),
        concurrency: { min: 0, max: 4, idleTimeout: 5 },
        capacity: 100
      })
      const fibers = yield* Effect.forEach([500, 400, 300, 200, 10, 10, 10], (ms) => fork(pool.execute(ms)))
      for (let t = 0; t < 600; t++) {
        const s = yield* pool.stats
        assert.isAtLeast(s.workers, s.running)
        yield* TestClock.adjust(1)
      }
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(interrupted, [])
    }))

  it.effect("invalid elastic options name the option", () =>
    Effect.gen(function*() {
      const cases = [
        [{ min: 3, max: 2 }, "concurrency.min"],
        [{ min: -1, max: 2 }, "concurrency.min"],
        [{ min: 0, max: 0 }, "concurrency.max"],
        [{ min: 0, max: 1.5 }, "concurrency.max"],
        [{ min: 0, max: 2, idleTimeout: 0 }, "concurrency.idleTimeout"],
        [{ min: 0, max: 2, idleTimeout: -1 }, "concurrency.idleTimeout"]
      ] as const
      for (const [concurrency, option] of cases) {
        const error = yield* Effect.flip(WorkerPool.make({ handler: sleeper, concurrency }))
        assert.instanceOf(error, WorkerPoolError.InvalidPoolOptions)
        assert.strictEqual(error.option, option)
      }
    }))

  it.effect("no fiber of an elastic pool outlives its scope", () =>
    Effect.gen(function*() {
      const run = trackFibers(Effect.scoped(Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: sleeper,
          concurrency: { min: 1, max: 5, idleTimeout: 20 },
          shutdownTimeout: 0
        })
        for (let i = 0; i < 12; i++) yield* pool.submit(15 * i)
        yield* TestClock.adjust(60)
      })))
      const { alive, started } = yield* run
      assert.isAbove(started, 5)
      assert.strictEqual(alive, 0)
    }))
})

describe("resize", () => {
  it.effect("growing starts workers at once for the queued jobs", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, capacity: 100, shutdownTimeout: 0 })
      for (let i = 0; i < 5; i++) yield* pool.submit(100)
      assert.deepStrictEqual([(yield* pool.stats).running, (yield* pool.stats).queued], [1, 4])
      yield* pool.resize(4)
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.workers, stats.running, stats.queued, stats.concurrency], [4, 4, 1, 4])
    }))

  it.effect("shrinking lets busy workers finish their job and never interrupts one", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const interrupted: Array<number> = []
      const pool = yield* WorkerPool.make({
        handler: (ms: number) =>
          probe.around(Effect.sleep(ms).pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted.push(ms))))),
        concurrency: 4,
        capacity: 100
      })
      const fibers = yield* Effect.forEach([100, 100, 100, 100, 50, 50, 50, 50], (ms) => fork(pool.execute(ms)))
      yield* pool.resize(1)
      assert.strictEqual((yield* pool.stats).running, 4, "running jobs go on")
      yield* TestClock.adjust(100)
      // the four first jobs finished; only one worker is left, which takes the next job
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.workers, stats.running, stats.queued], [1, 1, 3])
      yield* TestClock.adjust(200)
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(interrupted, [])
      assert.strictEqual(probe.current, 0)
    }))

  it.effect("shrinking stops idle workers at once", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 5 })
      yield* pool.resize(2)
      assert.strictEqual((yield* pool.stats).workers, 2)
      yield* pool.resize({ min: 0, max: 3, idleTimeout: 100 })
      yield* TestClock.adjust(100)
      assert.strictEqual((yield* pool.stats).workers, 0)
    }))

  it.effect("an invalid size fails with InvalidPoolOptions and changes nothing", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 3 })
      const error = yield* Effect.flip(pool.resize(0))
      assert.strictEqual(error.option, "concurrency")
      const elastic = yield* Effect.flip(pool.resize({ min: 4, max: 2 }))
      assert.strictEqual(elastic.option, "concurrency.min")
      assert.strictEqual((yield* pool.stats).workers, 3)
    }))
})
