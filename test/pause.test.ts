/**
 * Pause and resume: a paused pool starts no job until resumed or drained; its queue and overflow rules still
 * hold.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { sleeper } from "./utils/jobs.ts"

describe("pause and resume", () => {
  it.effect("a paused pool starts nothing; running jobs finish; submissions queue; resume starts them in order", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const pool = yield* WorkerPool.make({
        handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
        concurrency: 2,
        capacity: 3,
        overflow: "fail"
      })
      yield* pool.submit(1)
      yield* pool.pause
      assert.isTrue((yield* pool.stats).paused)
      yield* pool.submit(2)
      yield* pool.submit(3)
      yield* pool.submit(4)
      assert.strictEqual((yield* Effect.flip(pool.submit(5)))._tag, "QueueFull", "the overflow rule still holds")
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(started, [1], "nothing started while paused")
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.running, stats.queued, stats.succeeded], [0, 3, 1])
      yield* pool.resume
      assert.isFalse((yield* pool.stats).paused)
      assert.deepStrictEqual(started, [1, 2, 3])
      yield* TestClock.adjust(20)
      assert.deepStrictEqual(started, [1, 2, 3, 4])
    }))

  it.effect("drain resumes a paused pool and finishes its queued jobs; a draining pool cannot be paused", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
      yield* pool.pause
      const handles = yield* Effect.forEach([10, 20], (ms) => pool.submit(ms))
      const drained = yield* fork(pool.drain)
      yield* pool.pause
      assert.isFalse((yield* pool.stats).paused)
      yield* TestClock.adjust(30)
      yield* Fiber.join(drained)
      assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [10, 20])
    }))

  it.effect("an elastic pool paused with jobs queued adds no workers until resumed", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: { min: 0, max: 4 }, shutdownTimeout: 0 })
      yield* pool.pause
      for (let i = 0; i < 6; i++) yield* pool.submit(10)
      assert.strictEqual((yield* pool.stats).workers, 0)
      yield* pool.resume
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.workers, stats.running, stats.queued], [4, 4, 2])
    }))
})
