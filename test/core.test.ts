/**
 * The core contract of a pool: a job's outcome reaches its caller as the handler gave it, jobs start in the order
 * they were accepted and never more than `concurrency` at once, and `submit` hands back a handle.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { Boom, concurrencyProbe, sleeper } from "./utils/jobs.ts"

describe("core contract", () => {
  describe("a job's result, typed error or defect reaches its caller as the handler gave it", () => {
    it.effect("returns the handler's result and passes JobInfo", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number, job: WorkerPool.JobInfo) =>
            Effect.succeed(`${n * n} ${job.id} ${job.attempt} ${job.pool}`),
          concurrency: 2,
          name: "squares"
        })
        assert.strictEqual(yield* pool.execute(3), "9 1 1 squares")
        assert.strictEqual(yield* pool.execute(4, { id: "four" }), "16 four 1 squares")
      }))

    it.effect("a job's own typed error reaches the caller unwrapped", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n < 0 ? Effect.fail(new Boom({ input: n, attempt: 1, retryable: false })) : Effect.succeed(n),
          concurrency: 2
        })
        const error = yield* Effect.flip(pool.execute(-1))
        assert.instanceOf(error, Boom)
        assert.strictEqual(error._tag, "Boom")
        assert.deepStrictEqual((error as Boom).input, -1)
        const caught = yield* pool.execute(-2).pipe(Effect.catchTag("Boom", (e) => Effect.succeed(e.input)))
        assert.strictEqual(caught, -2)
      }))

    it.effect("a defect stays a defect, affects only its own job, and the pool keeps its concurrency", () =>
      Effect.gen(function*() {
        const probe = concurrencyProbe()
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            probe.around(n === 3 ? Effect.die(new Error("kaput")) : Effect.sleep(10).pipe(Effect.as(n))),
          concurrency: 2,
          shutdownTimeout: 0
        })
        const fibers = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => fork(Effect.exit(pool.execute(n))))
        yield* TestClock.adjust(100)
        const exits = yield* Effect.forEach(fibers, Fiber.join)
        const defect = exits[2]
        assert.isTrue(Exit.isFailure(defect) && Cause.hasDies(defect.cause) && !Cause.hasFails(defect.cause))
        assert.deepStrictEqual(exits.filter(Exit.isSuccess).map((e) => e.value), [1, 2, 4, 5, 6])
        assert.strictEqual(probe.max, 2)
        // both workers are still there: two more jobs run side by side
        const more = yield* Effect.forEach([7, 8], (n) => fork(pool.execute(n)))
        yield* TestClock.adjust(10)
        assert.deepStrictEqual(yield* Fiber.joinAll(more), [7, 8])
        const stats = yield* pool.stats
        assert.strictEqual(stats.workers, 2)
        assert.strictEqual(stats.defects, 1)
        assert.strictEqual(stats.succeeded, 7)
      }))
  })

  describe("jobs start in the order they were accepted, never more than `concurrency` at once", () => {
    it.effect("jobs start in the order they were accepted (FIFO)", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
          concurrency: 3,
          capacity: 100
        })
        const handles = yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => i), (n) => pool.submit(n))
        yield* TestClock.adjust(1000)
        yield* Effect.forEach(handles, (h) => h.await)
        assert.deepStrictEqual(started, Array.from({ length: 40 }, (_, i) => i))
      }))

    it.effect("at most `concurrency` handlers run at any instant", () =>
      Effect.gen(function*() {
        const probe = concurrencyProbe()
        const pool = yield* WorkerPool.make({
          handler: (ms: number) => probe.around(Effect.sleep(ms)),
          concurrency: 4,
          capacity: 1000
        })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => 1 + (i * 7) % 13),
          (ms) => fork(pool.execute(ms))
        )
        for (let t = 0; t < 1000; t++) {
          yield* TestClock.adjust(1)
          assert.isAtMost(probe.current, 4)
        }
        yield* Fiber.joinAll(fibers)
        assert.strictEqual(probe.max, 4)
      }))
  })

  describe("submit returns a handle once the job is accepted", () => {
    it.effect("submit returns once accepted; await, poll and interrupt work on the handle", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        const a = yield* pool.submit(10, { id: "a" })
        const b = yield* pool.submit(10, { id: "b" })
        assert.strictEqual(a.id, "a")
        assert.isTrue(Option.isNone(yield* a.poll))
        yield* b.interrupt
        const bExit = Option.getOrThrow(yield* b.poll)
        assert.isTrue(Exit.hasInterrupts(bExit))
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* a.await, 10)
        assert.deepStrictEqual(yield* a.poll, Option.some(Exit.succeed(10)))
        // interrupting a settled job does nothing
        yield* a.interrupt
        assert.strictEqual(yield* a.await, 10)
      }))
  })
})
