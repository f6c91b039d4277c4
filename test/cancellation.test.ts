/**
 * Cancellation: interrupting the caller of `execute` or a job's handle cancels the job, queued or running, and
 * waits for its finalizers; the worker carries on.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { sleeper } from "./utils/jobs.ts"

describe("cancellation", () => {
  describe("interrupting the caller of execute cancels its job, queued or running", () => {
    it.effect("interrupting the caller of a queued job means the job never starts", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
          concurrency: 1
        })
        const first = yield* fork(pool.execute(1))
        const second = yield* fork(pool.execute(2))
        assert.strictEqual((yield* pool.stats).queued, 1)
        yield* Fiber.interrupt(second)
        assert.strictEqual((yield* pool.stats).queued, 0)
        yield* TestClock.adjust(100)
        yield* Fiber.join(first)
        assert.deepStrictEqual(started, [1])
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.succeeded, 1)
      }))

    it.effect("interrupting the caller of a running job interrupts it and waits for its finalizers", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (_: number) =>
            Effect.sleep(1000).pipe(
              Effect.onInterrupt(() =>
                Effect.sleep(50).pipe(Effect.andThen(Effect.sync(() => log.push("finalizer done"))))
              )
            ),
          concurrency: 1
        })
        const caller = yield* fork(pool.execute(1))
        yield* TestClock.adjust(10)
        assert.strictEqual((yield* pool.stats).running, 1)
        const interrupter = yield* fork(Fiber.interrupt(caller))
        yield* TestClock.adjust(49)
        assert.isUndefined(interrupter.pollUnsafe(), "the caller's interruption waits for the job's finalizers")
        assert.deepStrictEqual(log, [])
        yield* TestClock.adjust(1)
        yield* Fiber.join(interrupter)
        assert.deepStrictEqual(log, ["finalizer done"])
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.running, 0)
        assert.strictEqual(stats.workers, 1)
        // the slot is usable again
        const next = yield* fork(pool.execute(2))
        yield* TestClock.adjust(1000)
        yield* Fiber.join(next)
      }))

    it.effect("Effect.timeout around execute cancels the job, queued or running (a deadline on wait + run)", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(100))),
          concurrency: 1
        })
        const a = yield* fork(Effect.timeoutOption(pool.execute(1), 60))
        const b = yield* fork(Effect.timeoutOption(pool.execute(2), 50))
        yield* TestClock.adjust(50)
        assert.isTrue(Option.isNone(yield* Fiber.join(b)))
        assert.deepStrictEqual(started, [1], "job 2 was cancelled while queued")
        yield* TestClock.adjust(10)
        assert.isTrue(Option.isNone(yield* Fiber.join(a)))
        assert.deepStrictEqual(started, [1])
        assert.strictEqual((yield* pool.stats).cancelled, 2)
      }))
  })

  describe("interrupting a handle cancels its job; interrupting a fiber that awaits it does not", () => {
    it.effect("handle.interrupt on a running job returns after its finalizers ran", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (_: number) => Effect.never.pipe(Effect.ensuring(Effect.sync(() => log.push("released")))),
          concurrency: 1
        })
        const handle = yield* pool.submit(1)
        yield* Effect.yieldNow
        yield* handle.interrupt
        assert.deepStrictEqual(log, ["released"])
        assert.isTrue(Exit.hasInterrupts(Option.getOrThrow(yield* handle.poll)))
      }))

    it.effect("interrupting a fiber that only awaits a handle does not cancel the job", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        const handle = yield* pool.submit(100)
        const waiter = yield* fork(handle.await)
        yield* TestClock.adjust(10)
        yield* Fiber.interrupt(waiter)
        yield* TestClock.adjust(90)
        assert.strictEqual(yield* handle.await, 100)
        assert.strictEqual((yield* pool.stats).succeeded, 1)
      }))

    it.effect("a job cancelled after its worker took it, before its handler started, never starts", () =>
      Effect.gen(function*() {
        const starts: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (id: string) =>
            Effect.sync(() => starts.push(id)).pipe(Effect.andThen(Effect.sleep(10)), Effect.as(id)),
          concurrency: 1
        })
        let second: WorkerPool.JobHandle<string, unknown> | undefined
        // The worker takes "b" as "a" finishes, then hands "a"'s result to its caller, which cancels "b" at once.
        const caller = yield* fork(pool.execute("a").pipe(Effect.andThen(Effect.suspend(() => second!.interrupt))))
        second = yield* pool.submit("b")
        yield* TestClock.adjust(10)
        yield* Fiber.join(caller)
        assert.isTrue(Exit.hasInterrupts(Option.getOrThrow(yield* second.poll)))
        const third = yield* fork(pool.execute("c"))
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* Fiber.join(third), "c")
        assert.deepStrictEqual(starts, ["a", "c"])
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.workers, 1)
      }))
  })

  describe("a handler that interrupts itself cancels only its own job", () => {
    it.effect("a handler that interrupts itself settles as cancelled and the worker carries on", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) => n === 0 ? Effect.interrupt : Effect.succeed(n),
          concurrency: 1
        })
        const exit = yield* Effect.exit(pool.execute(0))
        assert.isTrue(Exit.hasInterrupts(exit))
        assert.strictEqual(yield* pool.execute(5), 5)
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.workers, 1)
      }))
  })
})
