/**
 * Backpressure and overflow: what a submission to a full queue does under each overflow strategy, and trySubmit,
 * which never waits.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { sleeper } from "./utils/jobs.ts"

describe("backpressure and overflow", () => {
  const blocked = (overflow: WorkerPool.OverflowStrategy, capacity: number) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started: Array<number> = []
      const pool = yield* WorkerPool.make<number, number>({
        handler: (n) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Deferred.await(gate)), Effect.as(n)),
        concurrency: 1,
        capacity,
        overflow,
        shutdownTimeout: 0
      })
      // job 0 runs and blocks; jobs 1..capacity fill the queue exactly
      const handles = yield* Effect.forEach(Array.from({ length: capacity + 1 }, (_, i) => i), (n) => pool.submit(n))
      assert.strictEqual((yield* pool.stats).queued, capacity)
      return { gate, pool, handles, started }
    })

  describe("suspend: a submitter waits for room and is admitted in arrival order", () => {
    it.effect("suspend: the submitter waits at the exact capacity and is admitted when room appears", () =>
      Effect.gen(function*() {
        const { gate, handles, pool } = yield* blocked("suspend", 2)
        const late = yield* fork(pool.submit(3))
        assert.isUndefined(late.pollUnsafe())
        assert.strictEqual((yield* pool.stats).waiting, 1)
        yield* Deferred.succeed(gate, void 0)
        const handle = yield* Fiber.join(late)
        assert.strictEqual(yield* handle.await, 3)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [0, 1, 2])
      }))

    it.effect("suspend: waiting submitters are admitted in arrival order", () =>
      Effect.gen(function*() {
        const { gate, pool, started } = yield* blocked("suspend", 1)
        const waiting = yield* Effect.forEach([2, 3, 4, 5, 6], (n) => fork(pool.execute(n)))
        assert.strictEqual((yield* pool.stats).waiting, 5)
        yield* Deferred.succeed(gate, void 0)
        yield* Fiber.joinAll(waiting)
        assert.deepStrictEqual(started, [0, 1, 2, 3, 4, 5, 6])
      }))

    it.effect("suspend: cancelling a queued job admits the first waiting submitter at once, ahead of newcomers", () =>
      Effect.gen(function*() {
        const { gate, handles, pool, started } = yield* blocked("suspend", 2)
        const waiter = yield* fork(pool.submit(10))
        assert.strictEqual((yield* pool.stats).waiting, 1)
        yield* handles[1].interrupt
        const admitted = waiter.pollUnsafe()
        assert.isDefined(admitted, "the waiting submitter was admitted when room appeared")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.waiting, stats.queued], [0, 2])
        const newcomer = yield* fork(pool.submit(11))
        assert.isUndefined(newcomer.pollUnsafe(), "a newcomer waits behind the full queue")
        yield* Deferred.succeed(gate, void 0)
        yield* Fiber.join(newcomer)
        yield* pool.awaitIdle
        assert.deepStrictEqual(started, [0, 2, 10, 11])
      }))

    it.effect("suspend: a waiting submitter that is interrupted gives up its place without being counted", () =>
      Effect.gen(function*() {
        const { gate, pool, started } = yield* blocked("suspend", 1)
        const a = yield* fork(pool.execute(2))
        const b = yield* fork(pool.execute(3))
        yield* Fiber.interrupt(a)
        assert.strictEqual((yield* pool.stats).waiting, 1)
        yield* Deferred.succeed(gate, void 0)
        assert.strictEqual(yield* Fiber.join(b), 3)
        assert.deepStrictEqual(started, [0, 1, 3])
        const stats = yield* pool.stats
        assert.strictEqual(stats.submitted, 3)
        assert.strictEqual(stats.rejected, 0)
      }))

    it.effect(
      "a waiting submit caller is admitted once the queue has drained to half its capacity, with every waiter that fits, in arrival order",
      () =>
        Effect.gen(function*() {
          const started: Array<number> = []
          const pool = yield* WorkerPool.make({
            handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
            concurrency: 1,
            capacity: 8,
            shutdownTimeout: 0
          })
          // job 0 runs, jobs 1..8 fill the queue; three submitters wait
          yield* Effect.forEach(Array.from({ length: 9 }, (_, i) => i), (n) => pool.submit(n))
          const waiting = yield* Effect.forEach([100, 101, 102], (n) => fork(pool.submit(n)))
          const look = Effect.map(pool.stats, (s) => [s.queued, s.waiting])
          // each job that ends starts the next: the queue drains one job per 10 ms
          for (const [t, queued] of [[10, 7], [20, 6], [30, 5]] as const) {
            yield* TestClock.adjust(10)
            assert.deepStrictEqual(yield* look, [queued, 3], `at ${t} ms: no submitter admitted above half`)
            assert.isTrue(waiting.every((f) => f.pollUnsafe() === undefined))
          }
          yield* TestClock.adjust(10)
          assert.deepStrictEqual(yield* look, [7, 0], "at 40 ms the queue is at half: all three are admitted")
          yield* Fiber.joinAll(waiting)
          yield* TestClock.adjust(200)
          assert.deepStrictEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102])
        })
    )

    it.effect("an execute caller first in line is admitted as soon as there is room; a submit caller behind it waits for half", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
          concurrency: 1,
          capacity: 4,
          shutdownTimeout: 0
        })
        yield* Effect.forEach([0, 1, 2, 3, 4], (n) => pool.submit(n))
        const executing = yield* fork(pool.execute(50))
        const submitting = yield* fork(pool.submit(60))
        const behind = yield* fork(pool.submit(70))
        const look = Effect.map(pool.stats, (s) => [s.queued, s.waiting])
        assert.deepStrictEqual(yield* look, [4, 3])
        yield* TestClock.adjust(10)
        assert.deepStrictEqual(yield* look, [4, 2], "the execute caller took the room at once")
        yield* TestClock.adjust(10)
        assert.deepStrictEqual(yield* look, [3, 2], "the submit caller waits while the queue is above half")
        yield* TestClock.adjust(10)
        assert.deepStrictEqual(yield* look, [4, 0], "at half, the submit caller and the one behind it are admitted")
        yield* Fiber.joinAll([submitting, behind])
        yield* TestClock.adjust(100)
        assert.strictEqual(yield* Fiber.join(executing), undefined)
        assert.deepStrictEqual(started, [0, 1, 2, 3, 4, 50, 60, 70])
      }))

    it.effect("a burst of thousands of blocked submitters is admitted in order and drains completely", () =>
      Effect.gen(function*() {
        const order: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => order.push(n)).pipe(Effect.andThen(Effect.sleep(1))),
          concurrency: 4,
          capacity: 16
        })
        const n = 5000
        const fibers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => fork(pool.execute(i)))
        assert.strictEqual((yield* pool.stats).waiting, n - 16 - 4)
        yield* TestClock.adjust(n)
        yield* Fiber.joinAll(fibers)
        assert.deepStrictEqual(order, Array.from({ length: n }, (_, i) => i))
        const stats = yield* pool.stats
        assert.strictEqual(stats.succeeded, n)
        assert.strictEqual(stats.waiting, 0)
      }))
  })

  describe("fail, dropping and sliding settle a submission to a full queue at once", () => {
    it.effect("fail: a submission beyond capacity fails with QueueFull at once and is counted as rejected", () =>
      Effect.gen(function*() {
        const { pool } = yield* blocked("fail", 2)
        const error = yield* Effect.flip(pool.submit(3))
        assert.instanceOf(error, WorkerPoolError.QueueFull)
        assert.strictEqual((error as WorkerPoolError.QueueFull).capacity, 2)
        const viaExecute = yield* Effect.flip(pool.execute(4))
        assert.strictEqual(viaExecute._tag, "QueueFull")
        const stats = yield* pool.stats
        assert.strictEqual(stats.rejected, 2)
        assert.strictEqual(stats.submitted, 3)
      }))

    it.effect("dropping: the new job is accepted and settles at once with JobDropped", () =>
      Effect.gen(function*() {
        const { gate, handles, pool } = yield* blocked("dropping", 2)
        const extra = yield* pool.submit(3, { id: "extra" })
        const error = yield* Effect.flip(extra.await)
        assert.instanceOf(error, WorkerPoolError.JobDropped)
        assert.deepStrictEqual([(error as WorkerPoolError.JobDropped).jobId, (error as any).overflow], [
          "extra",
          "dropping"
        ])
        assert.strictEqual((yield* Effect.flip(pool.execute(4)))._tag, "JobDropped")
        yield* Deferred.succeed(gate, void 0)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [0, 1, 2])
        const stats = yield* pool.stats
        assert.strictEqual(stats.dropped, 2)
        assert.strictEqual(stats.submitted, 5)
      }))

    it.effect("sliding: the new job is accepted and the oldest queued job settles with JobDropped", () =>
      Effect.gen(function*() {
        const { gate, handles, pool, started } = yield* blocked("sliding", 2)
        const extra = yield* pool.submit(3)
        const oldest = yield* Effect.flip(handles[1].await)
        assert.strictEqual(oldest._tag, "JobDropped")
        assert.strictEqual((oldest as WorkerPoolError.JobDropped).overflow, "sliding")
        yield* Deferred.succeed(gate, void 0)
        assert.strictEqual(yield* extra.await, 3)
        assert.strictEqual(yield* handles[2].await, 2)
        assert.deepStrictEqual(started, [0, 2, 3])
        assert.strictEqual((yield* pool.stats).dropped, 1)
      }))
  })

  describe("trySubmit never waits: it accepts while there is room and fails with QueueFull on a full queue", () => {
    for (const overflow of ["suspend", "fail", "dropping", "sliding"] as const) {
      it.effect(`trySubmit on a full queue fails with QueueFull (overflow: ${overflow})`, () =>
        Effect.gen(function*() {
          const { pool } = yield* blocked(overflow, 1)
          const error = yield* Effect.flip(pool.trySubmit(9))
          assert.strictEqual(error._tag, "QueueFull")
          const stats = yield* pool.stats
          assert.strictEqual(stats.rejected, 1)
          assert.strictEqual(stats.queued, 1)
        }))
    }

    it.effect("trySubmit accepts while there is room", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, capacity: 1 })
        const running = yield* pool.trySubmit(10)
        const queued = yield* pool.trySubmit(10)
        assert.strictEqual((yield* Effect.flip(pool.trySubmit(10)))._tag, "QueueFull")
        yield* TestClock.adjust(20)
        assert.deepStrictEqual([yield* running.await, yield* queued.await], [10, 10])
      }))
  })
})
