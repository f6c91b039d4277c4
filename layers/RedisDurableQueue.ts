/**
 * Durable queues on Redis: `PersistedQueue`'s Redis store and `Persistence`'s Redis backing, through
 * `@effect/platform-node`'s `NodeRedis`. Every key of one queue carries the queue's name as a hash tag
 * (`<prefix>{<name>}:...`), so a queue lives in one slot and works on a Redis Cluster.
 *
 * @since 0.1.0
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as Persistence from "effect/persistence/Persistence"
import * as Redis from "effect/persistence/Redis"
import * as Scope from "effect/Scope"
import { DurableQueueStore, type FailedRecord } from "../src/DurableQueue.ts"
import { DurableQueueError, InvalidQueueOptions } from "../src/WorkerPoolError.ts"

/**
 * The options of the Redis store.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Starts every key. Default `"ewp:"`; it may not contain `{` or `}`. */
  readonly prefix?: string | undefined
  /** How often an idle consumer looks for new jobs. Default `"100 millis"`. */
  readonly pollInterval?: Duration.Input | undefined
  /**
   * How long a claimed job stays locked without a refresh: a consumer that dies loses its jobs to others after
   * this long. Default `"30 seconds"`.
   */
  readonly lockExpiration?: Duration.Input | undefined
  /** How often a consumer refreshes the locks of its running jobs. Default `"10 seconds"`. */
  readonly lockRefreshInterval?: Duration.Input | undefined
}

/**
 * The Redis store on a `Redis` service already provided.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore = (
  options: Options = {}
): Layer.Layer<DurableQueueStore, InvalidQueueOptions, Redis.Redis> =>
  Layer.effect(
    DurableQueueStore,
    Effect.gen(function*() {
      const resolved = yield* resolve(options)
      const redis = yield* Redis.Redis
      const persistence = yield* Persistence.Persistence
      const layerScope = yield* Effect.scope
      const queuePrefix = (queue: string) => `${resolved.prefix}{${queue}}:`
      const makeStore = (queue: string) =>
        PersistedQueue.makeStoreRedis({
          prefix: queuePrefix(queue),
          pollInterval: resolved.pollInterval,
          lockExpiration: resolved.lockExpiration,
          lockRefreshInterval: resolved.lockRefreshInterval
        }).pipe(Effect.provideService(Redis.Redis, redis))
      const shared = new Map<string, Deferred.Deferred<PersistedQueue.PersistedQueueStore["Service"]>>()
      const requeueFailed = redis.eval(requeueScript)
      const keys = (queue: string) => {
        const base = `${queuePrefix(queue)}${queue}`
        return { queue: base, failed: `${base}:failed`, ids: `${base}:ids` }
      }
      const fail = (queue: string, operation: "failed" | "requeue") => (error: Redis.RedisError) =>
        new DurableQueueError({ queue, operation, reason: `Redis: ${String(error.cause)}` })
      const readFailed = (queue: string) =>
        Effect.map(
          redis.send<Array<string>>("LRANGE", keys(queue).failed, "0", "-1"),
          (raw) => raw.flatMap(parseRecord)
        )
      return DurableQueueStore.of({
        kind: "redis",
        store: (queue) =>
          Effect.suspend(() => {
            const built = shared.get(queue)
            if (built !== undefined) return Deferred.await(built)
            const store = Deferred.makeUnsafe<PersistedQueue.PersistedQueueStore["Service"]>()
            shared.set(queue, store)
            return Scope.provide(makeStore(queue), layerScope).pipe(
              Effect.exit,
              Effect.flatMap((exit) => Deferred.done(store, exit)),
              Effect.uninterruptible,
              Effect.andThen(Deferred.await(store))
            )
          }),
        consumerStore: makeStore,
        persistence,
        resultsStoreId: (queue) => `${queuePrefix(queue)}results`,
        failed: (queue) => Effect.mapError(readFailed(queue), fail(queue, "failed")),
        requeue: (queue, id) =>
          Effect.gen(function*() {
            const records = yield* readFailed(queue)
            const found = records.find((record) => record.id === id)
            if (found === undefined) return false
            const k = keys(queue)
            const payload = JSON.stringify({ id, element: found.element })
            const moved = yield* requeueFailed(k.failed, k.queue, k.ids, found.raw, payload, id)
            return moved === 1
          }).pipe(Effect.mapError(fail(queue, "requeue")))
      })
    })
  ).pipe(Layer.provide(Persistence.layerRedis))

/**
 * The Redis store with its own client: `redis` takes node-redis client options (`url`, `socket`, ...; default
 * `redis://localhost:6379`). Building the layer connects and fails with `RedisError` when Redis does not answer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options & { readonly redis?: Parameters<typeof NodeRedis.layer>[0] } = {}
): Layer.Layer<DurableQueueStore, InvalidQueueOptions | Redis.RedisError> =>
  layerStore(options).pipe(Layer.provide(NodeRedis.layer(options.redis)))

interface ParsedRecord extends FailedRecord {
  readonly raw: string
}

const parseRecord = (raw: string): Array<ParsedRecord> => {
  const parsed = Option.getOrUndefined(parseJson(raw))
  if (typeof parsed !== "object" || parsed === null || typeof (parsed as { id?: unknown }).id !== "string") return []
  const record = parsed as {
    readonly id: string
    readonly element?: unknown
    readonly attempts?: unknown
    readonly lastFailure?: unknown
  }
  return [{
    id: record.id,
    element: record.element,
    attempts: typeof record.attempts === "number" ? record.attempts : Number(record.attempts ?? 0),
    reason: typeof record.lastFailure === "string" ? record.lastFailure : "",
    raw
  }]
}

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))

// Moves one failed record back to the queue, only if it is still in the failed list (a concurrent requeue of the
// same id moves it once). The id stays parked in the de-duplication set while the job waits again.
const requeueScript = Redis.script(
  (...args: [keyFailed: string, keyQueue: string, keyIds: string, record: string, payload: string, id: string]) => args,
  {
    lua: `
if redis.call("LREM", KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call("RPUSH", KEYS[2], ARGV[2])
redis.call("ZADD", KEYS[3], "+inf", ARGV[3])
return 1
`,
    numberOfKeys: 3
  }
).withReturnType<number>()

interface Resolved {
  readonly prefix: string
  readonly pollInterval: Duration.Duration
  readonly lockExpiration: Duration.Duration
  readonly lockRefreshInterval: Duration.Duration
}

const resolve = (options: Options): Effect.Effect<Resolved, InvalidQueueOptions> =>
  Effect.gen(function*() {
    const invalid = (option: string, value: unknown, reason: string) =>
      new InvalidQueueOptions({ queue: "*", option, value, reason })
    const prefix = options.prefix ?? "ewp:"
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      return yield* invalid("prefix", prefix, "a string without { or }")
    }
    const duration = (option: string, input: Duration.Input | undefined, fallback: Duration.Duration) => {
      if (input === undefined) return Effect.succeed(fallback)
      const decoded = Duration.fromInput(input)
      return Option.isSome(decoded) && Duration.isPositive(decoded.value) && Duration.isFinite(decoded.value)
        ? Effect.succeed(decoded.value)
        : Effect.fail(invalid(option, input, "a positive, finite duration"))
    }
    const pollInterval = yield* duration("pollInterval", options.pollInterval, Duration.millis(100))
    const lockExpiration = yield* duration("lockExpiration", options.lockExpiration, Duration.seconds(30))
    const lockRefreshInterval = yield* duration(
      "lockRefreshInterval",
      options.lockRefreshInterval,
      Duration.seconds(10)
    )
    if (!Duration.isLessThan(lockRefreshInterval, lockExpiration)) {
      return yield* invalid(
        "lockRefreshInterval",
        options.lockRefreshInterval,
        "shorter than lockExpiration, or locks lapse while jobs run"
      )
    }
    return { prefix, pollInterval, lockExpiration, lockRefreshInterval }
  })
