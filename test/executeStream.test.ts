/**
 * executeStream: a stream of inputs through the pool, its order, its jobs in flight, and its failures.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { Boom, concurrencyProbe, sleeper } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { pick } from "./utils/stats.ts"

describe("executeStream", () => {
  const emitted = <A, E>(stream: Stream.Stream<A, E>) =>
    Effect.gen(function*() {
      const out: Array<readonly [A, number]> = []
      const fiber = yield* fork(
        stream.pipe(
          Stream.tap((a) => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => out.push([a, t])))),
          Stream.runDrain
        )
      )
      return { out, fiber }
    })

  it.effect("emits results in input order by default", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 4 })
      const { fiber, out } = yield* emitted(pool.executeStream(Stream.fromIterable([50, 10, 30, 20])))
      yield* TestClock.adjust(50)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(out, [[50, 50], [10, 50], [30, 50], [20, 50]])
    }))

  it.effect("ordered: false emits each result as its job completes", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 4 })
      const { fiber, out } = yield* emitted(
        pool.executeStream(Stream.fromIterable([50, 10, 30, 20]), { ordered: false })
      )
      yield* TestClock.adjust(50)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(out, [[10, 10], [20, 20], [30, 30], [50, 50]])
    }))

  it.effect("keeps at most `concurrency` jobs of the stream in flight", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (ms: number) => probe.around(sleeper(ms)),
        concurrency: 8,
        capacity: 100
      })
      const inputs = Array.from({ length: 20 }, (_, i) => 5 + (i * 7) % 11)
      const fiber = yield* fork(Stream.runCollect(pool.executeStream(Stream.fromIterable(inputs), { concurrency: 3 })))
      while (fiber.pollUnsafe() === undefined) {
        const stats = yield* pool.stats
        assert.isAtMost(stats.running + stats.queued, 3)
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual(yield* Fiber.join(fiber), inputs)
      assert.strictEqual(probe.max, 3)
    }))

  it.effect("by default keeps at most the pool's max workers in flight", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (ms: number) => probe.around(sleeper(ms)),
        concurrency: { min: 1, max: 4 },
        capacity: 100
      })
      const inputs = Array.from({ length: 20 }, (_, i) => 5 + (i * 7) % 11)
      const fiber = yield* fork(
        Stream.runCollect(pool.executeStream(Stream.fromIterable(inputs), { ordered: false }))
      )
      while (fiber.pollUnsafe() === undefined) {
        const stats = yield* pool.stats
        assert.isAtMost(stats.running + stats.queued, 4)
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual([...(yield* Fiber.join(fiber))].sort((a, b) => a - b), [...inputs].sort((a, b) => a - b))
      assert.strictEqual(probe.max, 4)
    }))

  it.effect("a failure of the input stream or of a job fails the output stream with that error", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          n === 0 ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false })) : Effect.succeed(n),
        concurrency: 2
      })
      const upstream = Stream.concat(
        Stream.fromIterable([1, 2]),
        Stream.fail(new Boom({ input: -1, attempt: 0, retryable: false }))
      )
      const fromInput = yield* Effect.flip(Stream.runCollect(pool.executeStream(upstream)))
      assert.instanceOf(fromInput, Boom)
      assert.strictEqual((fromInput as Boom).input, -1)
      const fromJob = yield* Effect.flip(Stream.runCollect(pool.executeStream(Stream.fromIterable([1, 0, 2]))))
      assert.instanceOf(fromJob, Boom, "a job's own error, unwrapped")
      assert.strictEqual((fromJob as Boom).input, 0)
    }))

  it.effect("ending the output stream early cancels the stream's jobs in flight", () =>
    Effect.gen(function*() {
      const released: Array<number> = []
      const pool = yield* makePool({
        handler: (ms: number) => sleeper(ms).pipe(Effect.onInterrupt(() => Effect.sync(() => released.push(ms)))),
        concurrency: 4
      })
      const fiber = yield* fork(Stream.runCollect(
        pool.executeStream(Stream.fromIterable([10, 100, 200, 300]), { ordered: false }).pipe(Stream.take(1))
      ))
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [10])
      assert.deepStrictEqual(released.sort((a, b) => a - b), [100, 200, 300])
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["running", "queued", "succeeded", "cancelled"]), {
        running: 0,
        queued: 0,
        succeeded: 1,
        cancelled: 3
      })
    }))
})
