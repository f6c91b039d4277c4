import { assert, describe, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
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
    ["retry.schedule", { retry: { schedule: "often" } as unknown as WorkerPool.Retry<never> }, "often"],
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
          ["retry.schedule", { retry: { schedule: 5 } as unknown as WorkerPool.Retry<never> }],
          ["retry.while", {
            retry: { schedule: Schedule.recurs(1), while: true } as unknown as WorkerPool.Retry<never>
          }]
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

/** A label for a table row: the value as the error message shows it, with arrays and objects spelled out. */
const show = (value: unknown): string =>
  typeof value === "bigint"
    ? `${value}n`
    : typeof value === "function"
    ? "a function"
    : typeof value === "object" && value !== null && !Schedule.isSchedule(value) && !Duration.isDuration(value)
    ? JSON.stringify(value)
    : String(value)

/** Asserts that `error` is the typed option error `tag` naming `option`, and that its message names it too. */
const assertNames = (
  error: unknown,
  tag: "InvalidPoolOptions" | "InvalidJobOptions",
  option: string,
  label: string
): void => {
  if (tag === "InvalidPoolOptions") assert.instanceOf(error, WorkerPoolError.InvalidPoolOptions, label)
  else assert.instanceOf(error, WorkerPoolError.InvalidJobOptions, label)
  const { message, option: named, reason } = error as WorkerPoolError.InvalidPoolOptions
  assert.strictEqual(named, option, label)
  assert.include(message, `"${option}"`, label)
  assert.isAbove(reason.length, 0, label)
}

/** Asserts that no job was accepted, and no submission counted as turned away (an invalid option is neither). */
const assertNothingAccepted = (pool: { readonly stats: Effect.Effect<WorkerPool.Stats> }) =>
  Effect.map(pool.stats, (stats) => {
    assert.deepStrictEqual(
      [stats.submitted, stats.rejected, stats.queued, stats.running],
      [0, 0, 0, 0],
      "no job was accepted and none was counted as rejected"
    )
  })

type Malformed = WorkerPool.Options<number, number, never, never>

/** Every way of building a pool from settings, failing with the settings' error. */
const buildWith = (
  settings: unknown
): ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, Scope.Scope>]> => [
  ["make", WorkerPool.make({ handler, ...(settings as object) } as Malformed)],
  ["makeExecutor", WorkerPool.makeExecutor(settings as WorkerPool.Settings)]
]

class Budget extends Context.Service<Budget, WorkerPool.Executor>()("test/Budget") {}
class Squares extends Context.Service<Squares, WorkerPool.WorkerPool<number, number>>()("test/Squares") {}

describe("options of the wrong shape", () => {
  it.effect("pool options that are not an object fail with InvalidPoolOptions naming options, from every constructor and layer", () =>
    Effect.gen(function*() {
      const values: ReadonlyArray<unknown> = [undefined, null, 42, "fast", [], [{ handler }], handler]
      for (const value of values) {
        const label = `options: ${show(value)}`
        assertNames(yield* Effect.flip(WorkerPool.make(value as Malformed)), "InvalidPoolOptions", "options", label)
        assertNames(
          yield* Effect.flip(Layer.build(WorkerPool.layer(Squares, value as Malformed))),
          "InvalidPoolOptions",
          "options",
          label
        )
        assertNames(
          yield* Effect.flip(
            Layer.build(
              WorkerPool.layerConfig(
                Squares,
                value as Parameters<typeof WorkerPool.layerConfig<unknown, number, number, never, never>>[1]
              )
            )
          ),
          "InvalidPoolOptions",
          "options",
          label
        )
        // an executor takes no required option, so leaving its options out is fine
        if (value === undefined) continue
        assertNames(
          yield* Effect.flip(WorkerPool.makeExecutor(value as WorkerPool.Settings)),
          "InvalidPoolOptions",
          "options",
          label
        )
        assertNames(
          yield* Effect.flip(Layer.build(WorkerPool.layerExecutor(Budget, value as WorkerPool.Settings))),
          "InvalidPoolOptions",
          "options",
          label
        )
      }
    }))

  it.effect("per-job options that are not an object fail with InvalidJobOptions naming options; nothing is accepted", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler, concurrency: 1 })
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 1 })
      for (const value of [null, 42, "fast", [], [{ id: "a" }], handler]) {
        const label = `options: ${show(value)}`
        const options = value as never
        const entryPoints: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
          ["execute", pool.execute(1, options)],
          ["submit", pool.submit(1, options)],
          ["trySubmit", pool.trySubmit(1, options)],
          ["executeAll", pool.executeAll([1, 2], options)],
          ["executeStream", Stream.runCollect(pool.executeStream(Stream.make(1, 2), options))],
          ["executor.execute", executor.execute(Effect.succeed(1), options)],
          ["executor.submit", executor.submit(Effect.succeed(1), options)],
          ["executor.trySubmit", executor.trySubmit(Effect.succeed(1), options)],
          ["executor.executeAll", executor.executeAll([Effect.succeed(1)], options)],
          ["executor.executeStream", Stream.runCollect(executor.executeStream(Stream.make(Effect.succeed(1)), options))]
        ]
        for (const [entry, effect] of entryPoints) {
          assertNames(yield* Effect.flip(effect), "InvalidJobOptions", "options", `${entry}, ${label}`)
        }
      }
      yield* assertNothingAccepted(pool)
      yield* assertNothingAccepted(executor)
    }))

  it.effect("a retry policy of the wrong shape names the field, on the pool and per job; nothing is accepted", () =>
    Effect.gen(function*() {
      const schedule = Schedule.recurs(1)
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, "retry"],
        [3, "retry"],
        ["often", "retry"],
        [[schedule], "retry"],
        [{}, "retry.schedule"],
        [{ schedule: "often" }, "retry.schedule"],
        [{ schedule: { recurs: 1 } }, "retry.schedule"],
        [{ schedule, while: true }, "retry.while"],
        [{ schedule, while: "status >= 500" }, "retry.while"],
        [{ schedule, timeouts: "true" }, "retry.timeouts"],
        [{ schedule, timeouts: 1 }, "retry.timeouts"],
        [{ schedule, defects: 1 }, "retry.defects"],
        [{ schedule, defects: null }, "retry.defects"]
      ]
      const pool = yield* WorkerPool.make({ handler, concurrency: 1 })
      for (const [retry, option] of cases) {
        const label = `retry: ${show(retry)}`
        for (const [build, effect] of buildWith({ retry })) {
          assertNames(yield* Effect.flip(effect), "InvalidPoolOptions", option, `${build}, ${label}`)
        }
        assertNames(yield* Effect.flip(pool.submit(1, { retry } as never)), "InvalidJobOptions", option, label)
        assertNames(yield* Effect.flip(pool.executeAll([1], { retry } as never)), "InvalidJobOptions", option, label)
      }
      // per job, `false` turns the pool's policy off; `true` means nothing
      assertNames(yield* Effect.flip(pool.submit(1, { retry: true } as never)), "InvalidJobOptions", "retry", "true")
      yield* assertNothingAccepted(pool)
    }))

  it.effect("concurrency of the wrong shape, or above 10,000 workers, names the field at construction and in resize", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, "concurrency"],
        ["4", "concurrency"],
        [true, "concurrency"],
        [[2, 4], "concurrency"],
        [0, "concurrency"],
        [1.5, "concurrency"],
        [10_001, "concurrency"],
        [{}, "concurrency.max"],
        [{ min: 0 }, "concurrency.max"],
        [{ max: 4 }, "concurrency.min"],
        [{ min: "0", max: 4 }, "concurrency.min"],
        [{ min: 0, max: "4" }, "concurrency.max"],
        [{ min: 0, max: null }, "concurrency.max"],
        [{ min: 0, max: 10_001 }, "concurrency.max"],
        [{ min: 0, max: 1e9 }, "concurrency.max"],
        [{ min: 0, max: 4, idleTimeout: null }, "concurrency.idleTimeout"],
        [{ min: 0, max: 4, idleTimeout: "soon" }, "concurrency.idleTimeout"]
      ]
      const pool = yield* WorkerPool.make({ handler, concurrency: { min: 1, max: 2 } })
      for (const [concurrency, option] of cases) {
        const label = `concurrency: ${show(concurrency)}`
        for (const [build, effect] of buildWith({ concurrency })) {
          assertNames(yield* Effect.flip(effect), "InvalidPoolOptions", option, `${build}, ${label}`)
        }
        assertNames(
          yield* Effect.flip(pool.resize(concurrency as never)),
          "InvalidPoolOptions",
          option,
          `resize, ${label}`
        )
      }
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.minWorkers, stats.maxWorkers, stats.workers], [1, 2, 1], "resize changed nothing")
      // the bound says why it is there
      for (const concurrency of [10_001, { min: 0, max: 10_001 }]) {
        const error = yield* Effect.flip(WorkerPool.make({ handler, concurrency }))
        assert.include(error.reason, "10,000")
        assert.include(error.reason, "fiber")
      }
    }))

  it.effect("a rateLimit of the wrong shape names the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, "rateLimit"],
        [5, "rateLimit"],
        ["10 per second", "rateLimit"],
        [[5, "1 second"], "rateLimit"],
        [{}, "rateLimit.limit"],
        [{ limit: "5", interval: "1 second" }, "rateLimit.limit"],
        [{ limit: null, interval: "1 second" }, "rateLimit.limit"],
        [{ limit: 5 }, "rateLimit.interval"],
        [{ limit: 5, interval: null }, "rateLimit.interval"]
      ]
      for (const [rateLimit, option] of cases) {
        for (const [build, effect] of buildWith({ rateLimit })) {
          assertNames(
            yield* Effect.flip(effect),
            "InvalidPoolOptions",
            option,
            `${build}, rateLimit: ${show(rateLimit)}`
          )
        }
      }
    }))

  it.effect("a duration that does not parse, is NaN or is out of range names the option, on the pool and per job", () =>
    Effect.gen(function*() {
      const notDurations: ReadonlyArray<unknown> = [
        "soon",
        "5 sec",
        "5seconds",
        {},
        { secs: 5 },
        { seconds: "5" },
        { seconds: NaN },
        [1],
        [NaN, 0],
        [1, 2, 3],
        true,
        null,
        NaN,
        handler
      ]
      const negative: ReadonlyArray<unknown> = [-1, "-1 seconds", -1n, { seconds: -1 }, [-1, 0], Duration.millis(-1)]
      const pool = yield* WorkerPool.make({ handler, concurrency: 1 })
      const poolCases: ReadonlyArray<readonly [string, (value: unknown) => object]> = [
        ["timeout", (timeout) => ({ timeout })],
        ["shutdownTimeout", (shutdownTimeout) => ({ shutdownTimeout })],
        ["concurrency.idleTimeout", (idleTimeout) => ({ concurrency: { min: 0, max: 2, idleTimeout } })],
        ["rateLimit.interval", (interval) => ({ rateLimit: { limit: 5, interval } })]
      ]
      for (const value of [...notDurations, ...negative]) {
        const label = show(value)
        for (const [option, settings] of poolCases) {
          for (const [build, effect] of buildWith(settings(value))) {
            assertNames(yield* Effect.flip(effect), "InvalidPoolOptions", option, `${build}, ${option}: ${label}`)
          }
        }
        const timeout = value as never
        assertNames(yield* Effect.flip(pool.execute(1, { timeout })), "InvalidJobOptions", "timeout", label)
        assertNames(yield* Effect.flip(pool.executeAll([1], { timeout })), "InvalidJobOptions", "timeout", label)
      }
      yield* assertNothingAccepted(pool)
    }))

  it.effect("a flag that is not a boolean names the option: metrics, tracing, failFast, ordered", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler, concurrency: 1 })
      for (const value of ["false", "true", 0, 1, null, {}]) {
        const label = show(value)
        for (const option of ["metrics", "tracing"]) {
          for (const [build, effect] of buildWith({ [option]: value })) {
            assertNames(yield* Effect.flip(effect), "InvalidPoolOptions", option, `${build}, ${option}: ${label}`)
          }
        }
        const flag = value as never
        assertNames(
          yield* Effect.flip(pool.executeAll([1, 2], { failFast: flag })),
          "InvalidJobOptions",
          "failFast",
          `failFast: ${label}`
        )
        assertNames(
          yield* Effect.flip(Stream.runCollect(pool.executeStream(Stream.make(1, 2), { ordered: flag }))),
          "InvalidJobOptions",
          "ordered",
          `ordered: ${label}`
        )
      }
      yield* assertNothingAccepted(pool)
    }))

  it.effect("executeStream's concurrency must be an integer of at least 1; nothing is accepted", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler, concurrency: 2 })
      for (const concurrency of [0, -1, 1.5, NaN, Infinity, "2", null, {}, [2]]) {
        assertNames(
          yield* Effect.flip(Stream.runCollect(pool.executeStream(Stream.make(1, 2), { concurrency } as never))),
          "InvalidJobOptions",
          "concurrency",
          `concurrency: ${show(concurrency)}`
        )
      }
      yield* assertNothingAccepted(pool)
    }))

  it.effect("a scalar option of the wrong type or range names the option, on the pool and per job", () =>
    Effect.gen(function*() {
      const poolCases: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]> = [
        ["capacity", ["4", null, true, 0, 2.5, Infinity, 2 ** 53, 1e300]],
        ["overflow", [null, 42, "block", ["fail"]]],
        ["name", [42, "", null, {}]]
      ]
      for (const [option, values] of poolCases) {
        for (const value of values) {
          for (const [build, effect] of buildWith({ [option]: value })) {
            assertNames(yield* Effect.flip(effect), "InvalidPoolOptions", option, `${build}, ${option}: ${show(value)}`)
          }
        }
      }
      const pool = yield* WorkerPool.make({ handler, concurrency: 1 })
      const jobCases: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]> = [
        ["id", [42, "", null, {}]],
        ["key", [42, "", null, {}]],
        ["priority", ["1", NaN, Infinity, null, 1n]]
      ]
      for (const [option, values] of jobCases) {
        for (const value of values) {
          const options = { [option]: value } as never
          const label = `${option}: ${show(value)}`
          assertNames(yield* Effect.flip(pool.submit(1, options)), "InvalidJobOptions", option, label)
          if (option !== "id") {
            assertNames(yield* Effect.flip(pool.executeAll([1], options)), "InvalidJobOptions", option, label)
          }
        }
      }
      yield* assertNothingAccepted(pool)
    }))

  it.effect("layerConfig's config of the wrong shape names the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [undefined, "config"],
        [null, "config"],
        [4, "config"],
        ["POOL", "config"],
        [[Config.Int("POOL_CONCURRENCY")], "config"],
        [{ concurrency: null }, "config.concurrency"],
        [{ concurrency: 4 }, "config.concurrency"],
        [{ rateLimit: { limit: 5, interval: Config.Duration("RATE_INTERVAL") } }, "config.rateLimit.limit"],
        // a Config of the whole settings object must give an object
        [Config.Int("POOL_CONCURRENCY"), "config"]
      ]
      for (const [config, option] of cases) {
        const layer = WorkerPool.layerConfig(Squares, { handler, config: config as never }).pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ POOL_CONCURRENCY: 4 })))
        )
        assertNames(yield* Effect.flip(Layer.build(layer)), "InvalidPoolOptions", option, `config: ${show(config)}`)
      }
    }))

  it.effect("unknown option names are ignored, at every depth, so settings can be spread from a larger object", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler,
        concurrency: { min: 0, max: 2, scale: "auto" },
        rateLimit: { limit: 5, interval: "1 second", burst: 2 },
        retry: { schedule: Schedule.recurs(1), jitter: true },
        colour: "blue"
      } as WorkerPool.Options<number, number, never, never>)
      const options = { id: "a", timeout: "1 second" as const, note: "spread from a request" }
      assert.strictEqual(yield* pool.execute(1, options), 1)
      assert.deepStrictEqual(yield* pool.executeAll([2, 3], { priority: 1, note: "x" } as WorkerPool.GroupOptions), [
        2,
        3
      ])
      assert.deepStrictEqual(
        Array.from(yield* Stream.runCollect(pool.executeStream(Stream.make(4), { ordered: true, note: "x" } as never))),
        [4]
      )
      yield* pool.resize({ min: 1, max: 3, scale: "auto" } as WorkerPool.Concurrency)
      assert.strictEqual((yield* pool.stats).maxWorkers, 3)
    }))

  it.effect("valid edge values still work: every form of a duration, a zero shutdownTimeout, the largest capacity, 10,000 workers", () =>
    Effect.gen(function*() {
      const second: ReadonlyArray<Duration.Input> = [
        1000,
        "1 second",
        Duration.seconds(1),
        { seconds: 1 },
        [1, 0],
        1_000_000_000n
      ]
      for (const value of [...second, "Infinity"] as ReadonlyArray<Duration.Input>) {
        const finite = value === "Infinity" ? 1000 : value
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* WorkerPool.make({
            handler,
            timeout: value,
            shutdownTimeout: value,
            concurrency: { min: 0, max: 2, idleTimeout: value },
            rateLimit: { limit: 5, interval: finite }
          })
          assert.strictEqual(yield* pool.execute(1, { timeout: value }), 1, show(value))
        }))
      }
      for (const shutdownTimeout of [0, "0 millis", { seconds: 0 }, [0, 0], 0n] as ReadonlyArray<Duration.Input>) {
        yield* Effect.scoped(WorkerPool.make({ handler, shutdownTimeout }))
      }
      yield* Effect.scoped(WorkerPool.make({ handler, concurrency: 10_000, capacity: Number.MAX_SAFE_INTEGER }))
      yield* Effect.scoped(WorkerPool.make({ handler, concurrency: { min: 0, max: 10_000 } }))
    }))
})
