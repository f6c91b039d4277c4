/**
 * Stats and awaitIdle: the counts add up at every step, durations cover the jobs that ran, and awaitIdle waits for
 * an empty pool.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
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

  describe("durations and start times on a pool that has run for weeks", () => {
    // jobs record their times as 32-bit stamps from the pool's start (24 days of milliseconds); crossing that
    // boundary, and far past it, must change no duration and no start time
    const day = 86_400_000
    const uptimes = [
      ["2^31 ms (the jobs run across the stamps' wrap)", 2 ** 31 - 100],
      ["30 days", 30 * day],
      ["400 days", 400 * day]
    ] as const
    for (const [title, uptime] of uptimes) {
      it.effect(`after ${title}: wait and run times, their sum, and JobInfo.startedAt are exact`, () =>
        Effect.gen(function*() {
          yield* TestClock.adjust(1_000)
          const infos: Array<WorkerPool.JobInfo> = []
          const pool = yield* WorkerPool.make({
            handler: (ms: number, info: WorkerPool.JobInfo) =>
              Effect.sync(() => infos.push(info)).pipe(Effect.andThen(Effect.sleep(ms))),
            concurrency: 1
          })
          // the pool started at 1,000 ms
          yield* TestClock.adjust(uptime)
          const at = yield* Clock.currentTimeMillis
          const first = yield* fork(pool.execute(150))
          const second = yield* fork(pool.execute(70))
          yield* TestClock.adjust(300)
          yield* Fiber.joinAll([first, second])
          assert.deepStrictEqual(infos.map((info) => info.startedAt), [at, at + 150])
          const stats = yield* pool.stats
          assert.strictEqual(stats.totalDurationMillis, 220)
          assert.strictEqual(stats.runTime.maxMillis, 150)
          assert.strictEqual(stats.waitTime.maxMillis, 150)
        }))
    }
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
