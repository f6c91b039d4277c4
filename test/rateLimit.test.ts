/**
 * Rate limit: at most `limit` job starts in any window of `interval`, retries included.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { assertWindows, Boom, recorder, sleeper } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { pick } from "./utils/stats.ts"

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
