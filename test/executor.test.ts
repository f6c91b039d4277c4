/**
 * The executor: a pool of arbitrary effects, each with its own result, error and services, under one concurrency
 * budget, with the pool's flow control (retry, priority), groups and streams.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { Boom, concurrencyProbe } from "./utils/jobs.ts"
import { makeExecutor } from "./utils/pools.ts"

class Budget extends Context.Service<Budget, WorkerPool.Executor>()("test/Budget") {}
class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}

describe("executor", () => {
  it.effect("each effect keeps its own success, error and services, which come from the caller", () =>
    Effect.gen(function*() {
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 2 })
      const greet = Effect.map(Greeting, (g) => `${g}, world`)
      const viaCaller = yield* executor.execute(greet).pipe(Effect.provideService(Greeting, "hello"))
      const viaOther = yield* executor.execute(greet).pipe(Effect.provideService(Greeting, "bonjour"))
      assert.deepStrictEqual([viaCaller, viaOther], ["hello, world", "bonjour, world"])
      const count: number = yield* executor.execute(Effect.succeed(42))
      assert.strictEqual(count, 42)
      const error = yield* Effect.flip(
        executor.execute(Effect.fail(new Boom({ input: 1, attempt: 1, retryable: false })))
      )
      assert.instanceOf(error, Boom)
    }))

  it.effect("many call sites share one concurrency budget", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 3, capacity: 100 })
      const siteA = Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) =>
        executor.execute(probe.around(Effect.sleep(5 + i))), { concurrency: "unbounded" })
      const siteB = Effect.forEach(
        Array.from({ length: 10 }, (_, i) =>
          `b${i}`),
        (s) =>
          executor.execute(probe.around(Effect.sleep(3).pipe(Effect.as(s)))),
        { concurrency: "unbounded" }
      )
      const both = yield* Effect.forkChild(Effect.all([siteA, siteB], { concurrency: 2 }))
      yield* TestClock.adjust(1000)
      const [, bs] = yield* Fiber.join(both)
      assert.strictEqual(bs.length, 10)
      assert.strictEqual(probe.max, 3)
    }))

  it.effect("submit returns a handle; shutdown returns the effects that never started", () =>
    Effect.gen(function*() {
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 1 })
      const ran: Array<string> = []
      const job = (name: string) => Effect.sync(() => ran.push(name)).pipe(Effect.andThen(Effect.sleep(10)))
      const first = yield* executor.submit(job("first"))
      yield* executor.submit(job("second"))
      const unstarted = yield* executor.shutdown
      assert.strictEqual(unstarted.length, 1)
      assert.strictEqual((yield* Effect.flip(first.await))._tag, "PoolShutdown")
      const rerun = yield* Effect.forkChild(unstarted[0])
      yield* TestClock.adjust(10)
      yield* Fiber.join(rerun)
      assert.deepStrictEqual(ran, ["first", "second"])
    }))

  it.effect("interrupting the caller cancels the effect", () =>
    Effect.gen(function*() {
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 1 })
      const log: Array<string> = []
      const fiber = yield* fork(
        executor.execute(Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("interrupted")))))
      )
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(log, ["interrupted"])
      assert.isTrue(Exit.hasInterrupts(fiber.pollUnsafe()!))
      assert.strictEqual((yield* executor.stats).cancelled, 1)
    }))

  it.effect("re-runs a failed effect on each retry and starts effects by priority", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 1, retry: Schedule.recurs(3) })
      let runs = 0
      const flaky = Effect.suspend(() => {
        runs++
        return runs < 3 ? Effect.fail(new Boom({ input: runs, attempt: runs, retryable: true })) : Effect.succeed(runs)
      })
      assert.strictEqual(yield* executor.execute(flaky), 3)
      assert.strictEqual((yield* executor.stats).retried, 2)
      const order: Array<string> = []
      const step = (name: string) => Effect.sync(() => order.push(name)).pipe(Effect.andThen(Effect.sleep(10)))
      yield* executor.submit(step("first"))
      const low = yield* executor.submit(step("low"), { priority: -1 })
      const high = yield* executor.submit(step("high"), { priority: 1 })
      yield* TestClock.adjust(30)
      yield* low.await
      yield* high.await
      assert.deepStrictEqual(order, ["first", "high", "low"])
    }))

  it.effect("executeAll runs a group of effects, each with its own result, in input order", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 2 })
      const all = yield* fork(executor.executeAll([
        Effect.sleep(30).pipe(Effect.as("a")),
        Effect.succeed("b"),
        Effect.sleep(10).pipe(Effect.as("c"))
      ]))
      yield* TestClock.adjust(30)
      assert.deepStrictEqual(yield* Fiber.join(all), ["a", "b", "c"])
      const failed = yield* Effect.flip(executor.executeAll([
        Effect.sleep(30).pipe(Effect.as(1)),
        Effect.fail(new Boom({ input: 2, attempt: 1, retryable: false }))
      ]))
      assert.instanceOf(failed, Boom)
    }))

  it.effect("executeStream maps a stream of effects", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 2 })
      const fiber = yield* fork(Stream.runCollect(executor.executeStream(
        Stream.fromIterable([20, 10, 5]).pipe(Stream.map((ms) => Effect.sleep(ms).pipe(Effect.as(ms))))
      )))
      yield* TestClock.adjust(30)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [20, 10, 5])
    }))

  it.effect("layerExecutor provides the executor as a service", () =>
    Effect.gen(function*() {
      const result = yield* Budget.use((budget) => budget.execute(Effect.succeed("ok")))
      assert.strictEqual(result, "ok")
    }).pipe(Effect.provide(WorkerPool.layerExecutor(Budget, { concurrency: 4 }))))
})
