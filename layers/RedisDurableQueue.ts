/**
 * Durable queues on Redis: this library's `RedisQueueStore` (or `PersistedQueue`'s own Redis store) and
 * `Persistence`'s Redis backing, through `@effect/platform-node`'s `NodeRedis`. Every key of one queue carries the queue's name as a hash tag
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
import * as Os from "node:os"
import { type ConsumerInfo, DurableQueueStore, type FailedRecord } from "../src/DurableQueue.ts"
import { parseConsumer } from "../src/internal/consumers.ts"
import { invalidStoreOption, resolveTimings, type StoreTimings } from "../src/internal/durableOptions.ts"
import * as RedisQueueStore from "../src/RedisQueueStore.ts"
import { DurableQueueError, type InvalidQueueOptions } from "../src/WorkerPoolError.ts"

/**
 * The options of the Redis store.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends StoreTimings {
  /** Starts every key. Default `"ewp:"`; it may not contain `{` or `}`. */
  readonly prefix?: string | undefined
  /**
   * Which `PersistedQueueStore` keeps the jobs: `"ewp"` (default), this library's `RedisQueueStore` (one round
   * trip per job, idle consumers woken by the server), or `"stock"`, `PersistedQueue`'s own Redis store (two round
   * trips per job, idle consumers poll). The two do not share a queue's keys: switch stores on an empty queue.
   */
  readonly store?: "ewp" | "stock" | undefined
  /**
   * The `"ewp"` store: the longest an idle consumer waits without a wake-up from the server (default `"1 second"`).
   * The `"stock"` store: how often an idle consumer looks for new jobs (default `"100 millis"`).
   */
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
      const storeOptions = (queue: string) => ({
        prefix: queuePrefix(queue),
        pollInterval: resolved.pollInterval,
        lockExpiration: resolved.lockExpiration,
        lockRefreshInterval: resolved.lockRefreshInterval
      })
      const makeStore = (queue: string): Effect.Effect<
        PersistedQueue.PersistedQueueStore["Service"],
        never,
        Scope.Scope
      > =>
        (resolved.store === "stock"
          ? PersistedQueue.makeStoreRedis(storeOptions(queue))
          // the options were checked when the layer was built
          : Effect.orDie(RedisQueueStore.make(storeOptions(queue)))).pipe(Effect.provideService(Redis.Redis, redis))
      const shared = new Map<string, Deferred.Deferred<PersistedQueue.PersistedQueueStore["Service"]>>()
      const requeueStock = redis.eval(requeueStockScript)
      const requeueOwn = redis.eval(requeueOwnScript)
      const findFailed = redis.eval(findFailedScript)
      const removeFailed = redis.eval(removeFailedScript)
      const countAll = redis.eval(countScript)
      const countOwn = redis.eval(countOwnScript)
      const beat = redis.eval(heartbeatScript)
      const leave = redis.eval(leaveScript)
      const readConsumers = redis.eval(consumersScript)
      // `{consumers}` after the queue's hash tag: a queue's name holds no brace, so no queue's keys can be these
      const consumerKeys = (queue: string) => {
        const base = `${queuePrefix(queue)}{consumers}`
        return [base, `${base}:info`] as const
      }
      const keys = (queue: string) => {
        const base = `${queuePrefix(queue)}${queue}`
        return { queue: base, failed: `${base}:failed`, ids: `${base}:ids` }
      }
      const resultsStoreId = (queue: string) => `${queuePrefix(queue)}results`
      // Where `Persistence`'s Redis backing keeps a job's outcome: its store id, escaped, then the job's id.
      const outcomeKey = (queue: string, id: string) =>
        `${resultsStoreId(queue).replace(/%/g, "%25").replace(/:/g, "%3A")}:${id}`
      const requeue = (queue: string, record: ParsedRecord) => {
        const k = keys(queue)
        const outcome = outcomeKey(queue, record.id)
        if (resolved.store === "stock") {
          const payload = JSON.stringify({ id: record.id, element: record.element })
          return requeueStock(k.failed, k.queue, k.ids, outcome, record.raw, payload, record.id)
        }
        const own = RedisQueueStore.keysOf(queuePrefix(queue), queue)
        return requeueOwn(
          own.failed,
          own.waiting,
          own.jobs,
          own.ids,
          own.wake,
          own.ready,
          outcome,
          record.raw,
          record.id,
          JSON.stringify(record.element)
        )
      }
      const fail = (queue: string, operation: DurableQueueError["operation"]) => (error: Redis.RedisError) =>
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
        resultsStoreId,
        failed: (queue) => Effect.mapError(readFailed(queue), fail(queue, "failed")),
        failedJob: (queue, id) =>
          findFailed(keys(queue).failed, `{"id":${JSON.stringify(id)},`).pipe(
            Effect.map((raw) => raw === null ? undefined : parseRecord(raw)[0]),
            Effect.mapError(fail(queue, "failed"))
          ),
        remove: (queue, id) =>
          Effect.gen(function*() {
            const found = (yield* readFailed(queue)).find((record) => record.id === id)
            if (found === undefined) return false
            const k = keys(queue)
            return (yield* removeFailed(k.failed, k.ids, found.raw, id)) === 1
          }).pipe(Effect.mapError(fail(queue, "remove"))),
        counts: (queue) => {
          const own = RedisQueueStore.keysOf(queuePrefix(queue), queue)
          const k = keys(queue)
          const counted: Effect.Effect<readonly [number, number, number, number, number?], Redis.RedisError> =
            resolved.store === "stock"
              ? countAll(k.queue, `${k.queue}:delayed`, `${k.queue}:pending`, k.failed, "list", "zset", "hash", "list")
              : countOwn(own.waiting, own.delayed, own.active, own.failed, own.ready)
          return counted.pipe(
            Effect.map(([waiting, delayed, running, failed, oldest]) => ({
              waiting,
              delayed,
              running,
              failed,
              oldestWaitingMillis: oldest === undefined || oldest < 0 ? undefined : oldest
            })),
            Effect.mapError(fail(queue, "counts"))
          )
        },
        heartbeat: (queue, consumer, timeToLive) =>
          beat(
            ...consumerKeys(queue),
            consumer.id,
            JSON.stringify({ ...consumer, host: Os.hostname(), pid: process.pid }),
            Math.max(1, Math.round(Duration.toMillis(timeToLive)))
          ).pipe(Effect.asVoid, Effect.mapError(fail(queue, "consumers"))),
        leave: (queue, id) =>
          leave(...consumerKeys(queue), id).pipe(Effect.asVoid, Effect.mapError(fail(queue, "consumers"))),
        consumers: (queue) =>
          readConsumers(...consumerKeys(queue)).pipe(
            Effect.map((flat) => {
              const out: Array<ConsumerInfo> = []
              for (let i = 0; i + 1 < flat.length; i += 2) {
                const value = flat[i + 1]
                const at = value.indexOf(":")
                out.push(...parseConsumer(value.slice(at + 1), Number(value.slice(0, at))))
              }
              return out.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id))
            }),
            Effect.mapError(fail(queue, "consumers"))
          ),
        requeue: (queue, id) =>
          Effect.gen(function*() {
            const records = yield* readFailed(queue)
            const found = records.find((record) => record.id === id)
            if (found === undefined) return false
            return (yield* requeue(queue, found)) === 1
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
    readonly failedAt?: unknown
  }
  return [{
    id: record.id,
    element: record.element,
    attempts: typeof record.attempts === "number" ? record.attempts : Number(record.attempts ?? 0),
    reason: typeof record.lastFailure === "string" ? record.lastFailure : "",
    failedAt: typeof record.failedAt === "number" && Number.isFinite(record.failedAt) ? record.failedAt : undefined,
    raw
  }]
}

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))

// The server's time in milliseconds.
const nowLua = `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

// Moves one failed record of the "ewp" store back to the tail of its queue, only if it is still in the failed list.
const requeueOwnScript = Redis.script(
  (
    ...args: [
      keyFailed: string,
      keyWaiting: string,
      keyJobs: string,
      keyIds: string,
      keyWake: string,
      keyReady: string,
      keyOutcome: string,
      record: string,
      id: string,
      element: string
    ]
  ) => args,
  {
    lua: `
if redis.call("LREM", KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
${nowLua}
redis.call("DEL", KEYS[7])
redis.call("HSET", KEYS[3], ARGV[2], ARGV[3])
redis.call("RPUSH", KEYS[2], ARGV[2])
redis.call("HSET", KEYS[6], ARGV[2], now)
redis.call("ZADD", KEYS[4], "+inf", ARGV[2])
redis.call("PUBLISH", KEYS[5], "0")
return 1
`,
    numberOfKeys: 7
  }
).withReturnType<number>()

// Removes one failed record and forgets its id.
const removeFailedScript = Redis.script(
  (...args: [keyFailed: string, keyIds: string, record: string, id: string]) => args,
  {
    lua: `
if redis.call("LREM", KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call("ZREM", KEYS[2], ARGV[2])
return 1
`,
    numberOfKeys: 2
  }
).withReturnType<number>()

// Forgets the consumers not heard of within their time to live.
const pruneConsumersLua = `
local stale = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now)
for _, id in ipairs(stale) do
  redis.call("HDEL", KEYS[2], id)
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
`

// Records a consumer's beat, stamped with the server's time, until its time to live passes; the keys themselves
// expire once no consumer beats any more.
const heartbeatScript = Redis.script(
  (...args: [keyExpiries: string, keyInfo: string, id: string, info: string, timeToLive: number]) => args,
  {
    lua: `
${nowLua}
${pruneConsumersLua}
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call("HSET", KEYS[2], ARGV[1], now .. ":" .. ARGV[2])
-- the keys live as long as the consumer heard of last
local last = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
local ttl = math.max(1, math.ceil(tonumber(last[2]) - now))
redis.call("PEXPIRE", KEYS[1], ttl)
redis.call("PEXPIRE", KEYS[2], ttl)
return 1
`,
    numberOfKeys: 2
  }
).withReturnType<number>()

const leaveScript = Redis.script(
  (...args: [keyExpiries: string, keyInfo: string, id: string]) => args,
  {
    lua: `
redis.call("ZREM", KEYS[1], ARGV[1])
redis.call("HDEL", KEYS[2], ARGV[1])
return 1
`,
    numberOfKeys: 2
  }
).withReturnType<number>()

// The consumers heard of within their time to live: id, then "<seenAt>:<info>", for each.
const consumersScript = Redis.script(
  (...args: [keyExpiries: string, keyInfo: string]) => args,
  {
    lua: `
${nowLua}
${pruneConsumersLua}
return redis.call("HGETALL", KEYS[2])
`,
    numberOfKeys: 2
  }
).withReturnType<ReadonlyArray<string>>()

// The sizes of the "ewp" store's keys, and how long the job first in line has been ready (-1: none, or not known).
const countOwnScript = Redis.script(
  (...args: [keyWaiting: string, keyDelayed: string, keyActive: string, keyFailed: string, keyReady: string]) => args,
  {
    lua: `
${nowLua}
local oldest = -1
local head = redis.call("LINDEX", KEYS[1], 0)
if head then
  local ready = redis.call("HGET", KEYS[5], head)
  if ready then oldest = math.max(0, now - tonumber(ready)) end
end
-- delayed jobs whose delay has ended are ready, though no claim has moved them to the list yet (every consumer
-- busy, or none running): they count as waiting, since the end of their delay
local due = redis.call("ZCOUNT", KEYS[2], "-inf", now)
if due > 0 then
  local first = redis.call("ZRANGE", KEYS[2], 0, 0, "WITHSCORES")
  oldest = math.max(oldest, now - tonumber(first[2]))
end
local waiting = redis.call("LLEN", KEYS[1]) + due
return { waiting, redis.call("ZCARD", KEYS[2]) - due, redis.call("ZCARD", KEYS[3]), redis.call("LLEN", KEYS[4]),
  oldest }
`,
    numberOfKeys: 5
  }
).withReturnType<[number, number, number, number, number]>()

type KeyKind = "list" | "zset" | "hash"

// The sizes of four keys in one request.
const countScript = Redis.script(
  (...args: [string, string, string, string, KeyKind, KeyKind, KeyKind, KeyKind]) => args,
  {
    lua: `
local out = {}
for i = 1, 4 do
  local kind = ARGV[i]
  if kind == "list" then
    out[i] = redis.call("LLEN", KEYS[i])
  elseif kind == "zset" then
    out[i] = redis.call("ZCARD", KEYS[i])
  else
    out[i] = redis.call("HLEN", KEYS[i])
  end
end
return out
`,
    numberOfKeys: 4
  }
).withReturnType<[number, number, number, number]>()

// The failed record of one id: every record starts with the id's field, as PersistedQueue writes it.
const findFailedScript = Redis.script(
  (...args: [keyFailed: string, start: string]) => args,
  {
    lua: `
local start = ARGV[1]
for _, record in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
  if string.sub(record, 1, #start) == start then
    return record
  end
end
return nil
`,
    numberOfKeys: 1
  }
).withReturnType<string | null>()

// Moves one failed record back to the queue, only if it is still in the failed list (a concurrent requeue of the
// same id moves it once). The id stays parked in the de-duplication set while the job waits again.
const requeueStockScript = Redis.script(
  (
    ...args: [
      keyFailed: string,
      keyQueue: string,
      keyIds: string,
      keyOutcome: string,
      record: string,
      payload: string,
      id: string
    ]
  ) => args,
  {
    lua: `
if redis.call("LREM", KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call("DEL", KEYS[4])
redis.call("RPUSH", KEYS[2], ARGV[2])
redis.call("ZADD", KEYS[3], "+inf", ARGV[3])
return 1
`,
    numberOfKeys: 4
  }
).withReturnType<number>()

const resolve = (options: Options) =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? "ewp:"
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      return yield* invalidStoreOption("prefix", prefix, "a string without { or }")
    }
    const store = options.store ?? "ewp"
    if (store !== "ewp" && store !== "stock") {
      return yield* invalidStoreOption("store", store, `"ewp" or "stock"`)
    }
    const timings = yield* resolveTimings(options, {
      pollInterval: store === "stock" ? Duration.millis(100) : Duration.seconds(1)
    })
    return { prefix, store, ...timings }
  })
