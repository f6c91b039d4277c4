/**
 * Stats and awaitIdle: the counts add up at every step, durations cover the jobs that ran, and awaitIdle waits for
 * an empty pool.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { Boom, sleeper } from "./utils/jobs.ts"
import { accounted } from "./utils/stats.ts"

describe("stats", () => {
  describe("every submitted job is counted once, and the durations cover the jobs that ran", () => {
    it.effect("stats add up at every step", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n % 5 === 0
              ? Effect.fail(new Boom({ input: n, attempt: 1, retryable: false }))
              : n % 7 === 0
              ? Effect.die("seven")
              : Effect.sleep(n).pipe(Effect.as(n)),
          concurrency: 3,
          capacity: 5,
          overflow: "sliding",
          timeout: 12
        })
        for (let n = 1; n <= 40; n++) {
          yield* pool.submit(n)
          const s = yield* pool.stats
          assert.strictEqual(accounted(s), s.submitted)
          if (n % 3 === 0) yield* TestClock.adjust(2)
        }
        yield* TestClock.adjust(100)
        const s = yield* pool.stats
        assert.strictEqual(accounted(s), s.submitted)
        assert.strictEqual(s.submitted, 40)
        assert.strictEqual(s.queued + s.running, 0)
        assert.isAbove(s.failed, 0)
        assert.isAbove(s.defects, 0)
        assert.isAbove(s.timedOut, 0)
        assert.isAbove(s.dropped, 0)
        assert.isAbove(s.succeeded, 0)
        assert.strictEqual(s.completed, s.succeeded + s.failed + s.defects + s.timedOut)
      }))

    it.effect("average duration covers the jobs that ran", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2 })
        const fibers = yield* Effect.forEach([10, 30], (ms) => fork(pool.execute(ms)))
        yield* TestClock.adjust(30)
        yield* Fiber.joinAll(fibers)
        const s = yield* pool.stats
        assert.strictEqual(s.completed, 2)
        assert.strictEqual(s.totalDurationMillis, 40)
        assert.strictEqual(s.averageDurationMillis, 20)
      }))
  })

  describe("awaitIdle waits until nothing is queued or running", () => {
    it.effect("awaitIdle waits until nothing is queued or running", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        yield* pool.awaitIdle
        yield* pool.submit(10)
        yield* pool.submit(20)
        const idle = yield* fork(pool.awaitIdle)
        yield* TestClock.adjust(29)
        assert.isUndefined(idle.pollUnsafe())
        yield* TestClock.adjust(1)
        yield* Fiber.join(idle)
        assert.strictEqual((yield* pool.stats).state, "open")
      }))
  })
})
