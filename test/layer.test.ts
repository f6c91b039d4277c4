import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { concurrencyProbe } from "./utils/jobs.ts"

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { key: Schema.String }) {}

class Storage extends Context.Service<Storage, {
  readonly read: (key: string) => Effect.Effect<string, NotFound>
}>()("test/Storage") {}

class Thumbnails extends Context.Service<Thumbnails, WorkerPool.WorkerPool<string, string, NotFound>>()(
  "test/Thumbnails"
) {}

const StorageLayer = Layer.succeed(Storage, {
  read: (key) => key === "missing" ? Effect.fail(new NotFound({ key })) : Effect.succeed(`<${key}>`)
})

const ThumbnailsLayer = WorkerPool.layer(Thumbnails, {
  handler: (key: string) =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const body = yield* storage.read(key)
      yield* Effect.sleep(10)
      return `thumb${body}`
    }),
  concurrency: 2,
  capacity: 8,
  name: "thumbnails"
})

describe("layer", () => {
  it.effect("provides the pool as a service; the program never sees the handler's requirements", () =>
    Effect.gen(function*() {
      // this program's type mentions Thumbnails only
      const program: Effect.Effect<
        Array<string>,
        NotFound | WorkerPoolError.JobError | WorkerPoolError.SubmitError,
        Thumbnails
      > = Effect.gen(function*() {
        const thumbnails = yield* Thumbnails
        return yield* Effect.forEach(["a", "b", "c"], (key) => thumbnails.execute(key), { concurrency: 3 })
      })
      // the handler's requirements are the layer's requirements, and nothing else
      const layer: Layer.Layer<Thumbnails, WorkerPoolError.InvalidPoolOptions, Storage> = ThumbnailsLayer
      const fiber = yield* Effect.forkChild(program.pipe(Effect.provide(layer.pipe(Layer.provide(StorageLayer)))))
      yield* TestClock.adjust(20)
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["thumb<a>", "thumb<b>", "thumb<c>"])
    }))

  it.effect("a typed error from a service the handler uses reaches the caller unwrapped", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Thumbnails.use((pool) => pool.execute("missing")))
      assert.instanceOf(error, NotFound)
      assert.strictEqual((error as NotFound).key, "missing")
    }).pipe(Effect.provide(ThumbnailsLayer.pipe(Layer.provide(StorageLayer)))))

  it.effect("releasing the layer drains the pool", () =>
    Effect.gen(function*() {
      const handles = yield* Effect.forkChild(
        Thumbnails.use((pool) => Effect.forEach(["x", "y", "z"], (key) => pool.submit(key))).pipe(
          Effect.provide(ThumbnailsLayer.pipe(Layer.provide(StorageLayer)))
        )
      )
      yield* TestClock.adjust(100)
      const settled = yield* Effect.forEach(yield* Fiber.join(handles), (h) => h.await)
      assert.deepStrictEqual(settled, ["thumb<x>", "thumb<y>", "thumb<z>"])
    }))
})

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
      const error = yield* Effect.flip(executor.execute(Effect.fail(new NotFound({ key: "k" }))))
      assert.instanceOf(error, NotFound)
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
      const fiber = yield* Effect.forkChild(
        executor.execute(Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("interrupted"))))),
        { startImmediately: true }
      )
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(log, ["interrupted"])
      assert.isTrue(Exit.hasInterrupts(fiber.pollUnsafe()!))
      assert.strictEqual((yield* executor.stats).cancelled, 1)
    }))

  it.effect("layerExecutor provides the executor as a service", () =>
    Effect.gen(function*() {
      const result = yield* Budget.use((budget) => budget.execute(Effect.succeed("ok")))
      assert.strictEqual(result, "ok")
    }).pipe(Effect.provide(WorkerPool.layerExecutor(Budget, { concurrency: 4 }))))
})
