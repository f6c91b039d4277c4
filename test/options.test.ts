import { assert, describe, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"

const handler = (n: number) => Effect.succeed(n)

const invalid = (options: Partial<WorkerPool.Options<number, number, never, never>>) =>
  Effect.flip(WorkerPool.make({ handler, ...options } as WorkerPool.Options<number, number, never, never>))

describe("options", () => {
  const cases: ReadonlyArray<readonly [string, Partial<WorkerPool.Options<number, number, never, never>>, unknown]> = [
    ["concurrency", { concurrency: 0 }, 0],
    ["concurrency", { concurrency: -3 }, -3],
    ["concurrency", { concurrency: 1.5 }, 1.5],
    ["concurrency", { concurrency: NaN }, NaN],
    ["concurrency", { concurrency: Infinity }, Infinity],
    ["concurrency", { concurrency: "4" as unknown as number }, "4"],
    ["capacity", { capacity: 0 }, 0],
    ["capacity", { capacity: 2.5 }, 2.5],
    ["capacity", { capacity: Infinity }, Infinity],
    ["overflow", { overflow: "block" as unknown as "suspend" }, "block"],
    ["timeout", { timeout: -1 }, -1],
    ["timeout", { timeout: NaN }, NaN],
    ["timeout", { timeout: 0 }, 0],
    ["timeout", { timeout: "soon" as unknown as number }, "soon"],
    ["shutdownTimeout", { shutdownTimeout: -5 }, -5],
    ["shutdownTimeout", { shutdownTimeout: NaN }, NaN],
    ["shutdownTimeout", { shutdownTimeout: "later" as unknown as number }, "later"],
    ["name", { name: "" }, ""],
    ["rateLimit.limit", { rateLimit: { limit: 0, interval: "1 second" } }, 0],
    ["rateLimit.limit", { rateLimit: { limit: 2.5, interval: "1 second" } }, 2.5],
    ["rateLimit.limit", { rateLimit: { limit: 1e9, interval: "1 second" } }, 1e9],
    ["rateLimit.interval", { rateLimit: { limit: 5, interval: 0 } }, 0],
    ["rateLimit.interval", { rateLimit: { limit: 5, interval: "Infinity" } }, "Infinity"],
    ["retry", { retry: { schedule: "often" } as unknown as WorkerPool.Retry<never> }, { schedule: "often" }],
    ["retry", { retry: 3 as unknown as WorkerPool.Retry<never> }, 3],
    ["metrics", { metrics: "yes" as unknown as boolean }, "yes"],
    ["tracing", { tracing: 1 as unknown as boolean }, 1],
    ["handler", { handler: undefined as unknown as typeof handler }, undefined]
  ]
  for (const [option, options, value] of cases) {
    it.effect(`${option}: ${String(value)} fails with InvalidPoolOptions naming the option and the value`, () =>
      Effect.gen(function*() {
        const error = yield* invalid(options)
        assert.instanceOf(error, WorkerPoolError.InvalidPoolOptions)
        assert.strictEqual(error._tag, "InvalidPoolOptions")
        assert.strictEqual(error.option, option)
        assert.deepStrictEqual(error.value, value)
        assert.include(error.message, option)
      }))
  }

  it.effect("valid edge values are accepted", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler,
        concurrency: 1,
        capacity: 1,
        timeout: "Infinity",
        shutdownTimeout: 0,
        name: "edge"
      })
      assert.strictEqual(yield* pool.execute(2), 2)
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.name, stats.concurrency, stats.capacity], ["edge", 1, 1])
    }))

  it.effect("defaults: concurrency 1, capacity 1024", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler })
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.concurrency, stats.capacity, stats.name], [1, 1024, "worker-pool"])
    }))

  it.effect("an invalid per-job option fails the submission with InvalidJobOptions and nothing is accepted", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler, concurrency: 1 })
      const e1 = yield* Effect.flip(pool.submit(1, { timeout: -1 }))
      assert.instanceOf(e1, WorkerPoolError.InvalidJobOptions)
      assert.deepStrictEqual([(e1 as WorkerPoolError.InvalidJobOptions).option, (e1 as any).value], ["timeout", -1])
      const e2 = yield* Effect.flip(pool.execute(1, { id: "" }))
      assert.strictEqual(e2._tag, "InvalidJobOptions")
      assert.strictEqual((e2 as WorkerPoolError.InvalidJobOptions).option, "id")
      const e3 = yield* Effect.flip(pool.trySubmit(1, { timeout: NaN }))
      assert.strictEqual(e3._tag, "InvalidJobOptions")
      for (
        const [option, options] of [
          ["priority", { priority: NaN }],
          ["priority", { priority: Infinity }],
          ["key", { key: "" }],
          ["retry", { retry: { schedule: 5 } as unknown as WorkerPool.Retry<never> }],
          ["retry", { retry: { schedule: Schedule.recurs(1), while: true } as unknown as WorkerPool.Retry<never> }]
        ] as const
      ) {
        const error = yield* Effect.flip(pool.submit(1, options))
        assert.strictEqual(error._tag, "InvalidJobOptions")
        assert.strictEqual((error as WorkerPoolError.InvalidJobOptions).option, option)
      }
      const stats = yield* pool.stats
      assert.strictEqual(stats.submitted, 0)
    }))

  describe("layerConfig", () => {
    class Squares extends Context.Service<Squares, WorkerPool.WorkerPool<number, number>>()("test/Squares") {}

    const provider = (values: Record<string, unknown>) => ConfigProvider.layer(ConfigProvider.fromUnknown(values))

    it.effect("reads settings from Config", () =>
      Effect.gen(function*() {
        const stats = yield* Squares.use((pool) => Effect.andThen(pool.execute(7), pool.stats))
        assert.deepStrictEqual([stats.concurrency, stats.capacity, stats.name, stats.succeeded], [3, 10, "sq", 1])
      }).pipe(
        Effect.provide(
          WorkerPool.layerConfig(Squares, {
            handler: (n: number) => Effect.succeed(n * n),
            config: {
              concurrency: Config.Int("POOL_CONCURRENCY"),
              capacity: Config.Int("POOL_CAPACITY"),
              name: Config.String("POOL_NAME")
            }
          }).pipe(Layer.provide(provider({ POOL_CONCURRENCY: 3, POOL_CAPACITY: 10, POOL_NAME: "sq" })))
        )
      ))

    it.effect("reads the rate limit from Config; the retry policy is given in code", () =>
      Effect.gen(function*() {
        const flaky = yield* Squares.use((pool) =>
          Effect.gen(function*() {
            const handles = []
            for (let n = 1; n <= 3; n++) handles.push(yield* pool.submit(n))
            // the limit from Config: 2 starts per 100 ms
            assert.strictEqual((yield* pool.stats).started, 2)
            yield* TestClock.adjust(99)
            assert.strictEqual((yield* pool.stats).started, 2)
            yield* TestClock.adjust(1)
            assert.strictEqual((yield* pool.stats).started, 4)
            yield* TestClock.adjust(1000)
            return yield* Effect.forEach(handles, (handle) => handle.await)
          })
        )
        assert.deepStrictEqual(flaky, [1, 4, 9])
        const stats = yield* Squares.use((pool) => pool.stats)
        // each job fails on its first attempt, then succeeds
        assert.deepStrictEqual([stats.started, stats.retried, stats.succeeded], [6, 3, 3])
      }).pipe(
        Effect.provide(
          WorkerPool.layerConfig(Squares, {
            handler: (n: number, job) => job.attempt === 1 ? Effect.fail("busy" as never) : Effect.succeed(n * n),
            config: {
              concurrency: Config.Int("POOL_CONCURRENCY"),
              rateLimit: Config.all({ limit: Config.Int("RATE_LIMIT"), interval: Config.Duration("RATE_INTERVAL") })
            },
            retry: Schedule.recurs(1)
          }).pipe(Layer.provide(provider({ POOL_CONCURRENCY: 3, RATE_LIMIT: 2, RATE_INTERVAL: "100 millis" })))
        )
      ))

    it.effect("an invalid value from Config fails with InvalidPoolOptions naming the option", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Squares.pipe(
            Effect.provide(
              WorkerPool.layerConfig(Squares, {
                handler: (n: number) => Effect.succeed(n),
                config: { concurrency: Config.Int("POOL_CONCURRENCY") }
              }).pipe(Layer.provide(provider({ POOL_CONCURRENCY: 0 })))
            )
          )
        )
        assert.strictEqual(error._tag, "InvalidPoolOptions")
        assert.strictEqual((error as WorkerPoolError.InvalidPoolOptions).option, "concurrency")
        assert.strictEqual((error as WorkerPoolError.InvalidPoolOptions).value, 0)
      }))
  })
})
