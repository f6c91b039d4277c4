import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"

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
