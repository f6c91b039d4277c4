/**
 * The durable queue's conformance suite on every store: memory, Redis (127.0.0.1:6379, a key prefix per run) and
 * PostgreSQL (127.0.0.1:5432, a schema per run). The servers are real; the last test of each checks that the run
 * left nothing behind.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redis from "effect/persistence/Redis"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import * as PgDurableQueue from "../layers/PgDurableQueue.ts"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import { DurableQueue } from "../src/index.ts"
import * as RedisQueueStore from "../src/RedisQueueStore.ts"
import { durableConformance, eventually } from "./utils/durable.ts"
import { pgConfig, redisUrl, runId } from "./utils/servers.ts"

const redisPrefix = `ewp-test-${runId}-`
const pgSchema = `ewp_test_${runId.replace(/-/g, "_")}`

const redisClient = NodeRedis.layer({ url: redisUrl })
const pgClient = PgClient.layer({ ...pgConfig, startupParameters: { search_path: pgSchema } })
const pgWithSchema = Layer.effectDiscard(
  SqlClient.SqlClient.use((sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(pgSchema)}`)
).pipe(Layer.provideMerge(pgClient))

durableConformance("memory", () => DurableQueue.layerMemory)

durableConformance("Redis (RedisQueueStore)", () =>
  RedisDurableQueue.layerStore({
    prefix: redisPrefix,
    lockExpiration: "5 seconds",
    lockRefreshInterval: "1 second"
  }).pipe(Layer.provide(redisClient)), { oldestWaiting: true })

durableConformance("Redis (PersistedQueue's own store)", () =>
  RedisDurableQueue.layerStore({
    store: "stock",
    prefix: redisPrefix,
    pollInterval: "10 millis",
    lockExpiration: "5 seconds",
    lockRefreshInterval: "1 second"
  }).pipe(Layer.provide(redisClient)))

durableConformance("PostgreSQL", () =>
  PgDurableQueue.layerStore({
    pollInterval: "10 millis",
    lockExpiration: "5 seconds",
    lockRefreshInterval: "1 second"
  }).pipe(Layer.provide(pgWithSchema)), { oldestWaiting: true })

describe("the durable queue on Redis, in one process", () => {
  it.live("a job offered in a consumer's own process is taken at once, not at the next poll", () =>
    Effect.gen(function*() {
      const queue = DurableQueue.define({
        name: `local-${runId}`,
        input: Schema.Number,
        success: Schema.Number,
        resultTimeToLive: "1 minute"
      })
      const seen = yield* Deferred.make<number>()
      yield* DurableQueue.consume(queue, {
        handler: (n) => Effect.as(Effect.flatMap(Clock.currentTimeMillis, (now) => Deferred.succeed(seen, now)), n)
      })
      // let the consumer's first poll find the queue empty, so that it sleeps for its 30 s poll interval
      yield* Effect.sleep("200 millis")
      const offeredAt = yield* Clock.currentTimeMillis
      yield* DurableQueue.offer(queue, 1)
      const ranAt = yield* Deferred.await(seen).pipe(Effect.timeout("10 seconds"))
      assert.isBelow(ranAt - offeredAt, 1000)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        RedisDurableQueue.layerStore({ store: "stock", prefix: redisPrefix, pollInterval: "30 seconds" }).pipe(
          Layer.provide(redisClient)
        )
      )
    ))
})

describe("the oldest waiting job's age on RedisQueueStore", () => {
  it.live("is kept only while a job waits: from its offer, the end of its delay, or its release at a shutdown", () =>
    Effect.gen(function*() {
      const name = `ages-${runId}`
      const queue = DurableQueue.define({ name, input: Schema.Number, success: Schema.Number })
      const ready = RedisQueueStore.keysOf(`${redisPrefix}{${name}}:`, name).ready
      const redis = yield* Redis.Redis
      const readyCount = redis.send<number>("HLEN", ready)
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<number>()
      const first = yield* Scope.make()
      yield* DurableQueue.consume(queue, {
        shutdownTimeout: 0,
        handler: (n) => Effect.as(Effect.andThen(Deferred.succeed(started, n), Deferred.await(gate)), n)
      }).pipe(Scope.provide(first))
      yield* DurableQueue.offer(queue, 1)
      assert.strictEqual(yield* Deferred.await(started), 1)
      assert.strictEqual(yield* readyCount, 0, "a claimed job's age is dropped")
      yield* DurableQueue.offer(queue, 2)
      yield* Effect.sleep("300 millis")
      const waiting = yield* DurableQueue.counts(queue)
      assert.strictEqual(waiting.waiting, 1)
      assert.isAtLeast(waiting.oldestWaitingMillis!, 250)
      // the consumer stops mid-job: its job goes back to the head, ready again from now
      yield* Scope.close(first, Exit.void)
      const released = yield* DurableQueue.counts(queue)
      assert.strictEqual(released.waiting, 2)
      assert.isAtMost(released.oldestWaitingMillis!, 100, "the released job at the head became ready just now")
      // a delayed job's age counts from the end of its delay; once everything ran, nothing is kept
      yield* DurableQueue.offer(queue, 3, { delay: "200 millis" })
      const ran = yield* Queue.unbounded<number>()
      yield* DurableQueue.consume(queue, { handler: (n) => Effect.as(Queue.offer(ran, n), n) })
      assert.deepStrictEqual([...(yield* Queue.takeN(ran, 3))].sort(), [1, 2, 3])
      assert.strictEqual(yield* readyCount, 0)
      assert.strictEqual((yield* DurableQueue.counts(queue)).oldestWaitingMillis, undefined)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.merge(
          RedisDurableQueue.layerStore({ prefix: redisPrefix }).pipe(Layer.provide(redisClient)),
          redisClient
        )
      )
    ))
})

describe("queue names that look like the library's own keys", () => {
  for (const store of ["ewp", "stock"] as const) {
    it.live(`on Redis (${store}): queues named "consumers", "consumers:info", "ready" and "results" work`, () =>
      Effect.gen(function*() {
        for (const name of ["consumers", "consumers:info", "ready", "results"]) {
          const queue = DurableQueue.define({
            name,
            input: Schema.Number,
            success: Schema.Number,
            resultTimeToLive: "1 minute"
          })
          yield* DurableQueue.consume(queue, { name: `on-${name}`, handler: (n) => Effect.succeed(n * 2) })
          const id = yield* DurableQueue.offer(queue, 21)
          assert.strictEqual(yield* DurableQueue.result(queue, id).pipe(Effect.timeout("10 seconds")), 42, name)
          assert.strictEqual((yield* DurableQueue.counts(queue)).failed, 0, name)
          const listed = yield* eventually(DurableQueue.consumers(queue), (consumers) => consumers.length === 1)
          assert.strictEqual(listed[0].name, `on-${name}`)
        }
      }).pipe(
        Effect.scoped,
        Effect.provide(
          RedisDurableQueue.layerStore({ store, prefix: `${redisPrefix}names-${store}-`, pollInterval: "20 millis" })
            .pipe(Layer.provide(redisClient))
        )
      ))
  }
})

describe("the durable queue on PostgreSQL, starting", () => {
  it.live("stores built at once on a fresh schema all start (the tables are created one at a time)", () =>
    Effect.gen(function*() {
      const schema = `${pgSchema}_start`
      const client = PgClient.layer({ ...pgConfig, startupParameters: { search_path: schema } })
      yield* SqlClient.SqlClient.use((sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`).pipe(
        Effect.provide(client)
      )
      const built = yield* Effect.forEach(
        Array.from({ length: 8 }, () => PgDurableQueue.layerStore().pipe(Layer.provide(client))),
        (layer) => Effect.exit(Effect.scoped(Layer.build(layer))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(built.filter((exit) => exit._tag === "Failure"), [])
      yield* SqlClient.SqlClient.use((sql) => sql`DROP SCHEMA ${sql(schema)} CASCADE`).pipe(Effect.provide(client))
    }))
})

describe("the consumers list, on the TestClock", () => {
  it.effect("a consumer's figures reach the list at each beat, every 5 seconds, and a silent one expires after 15", () =>
    Effect.gen(function*() {
      const queue = DurableQueue.define({ name: "beats", input: Schema.Number, success: Schema.Number, maxAttempts: 1 })
      yield* DurableQueue.consume(queue, {
        concurrency: 2,
        handler: (n) => n < 0 ? Effect.die("negative") : Effect.succeed(n)
      })
      // the first beat runs in a fiber of its own, at once
      yield* Effect.yieldNow
      const [first] = yield* DurableQueue.consumers(queue)
      assert.deepStrictEqual([first.running, first.succeeded, first.failed, first.seenAt], [0, 0, 0, 0])
      for (const n of [1, 2, -1]) yield* DurableQueue.offer(queue, n)
      yield* TestClock.adjust("4999 millis")
      const [early] = yield* DurableQueue.consumers(queue)
      assert.deepStrictEqual([early.succeeded, early.failed], [0, 0], "figures wait for the next beat")
      yield* TestClock.adjust("1 millis")
      const [next] = yield* DurableQueue.consumers(queue)
      assert.deepStrictEqual([next.succeeded, next.failed, next.seenAt], [2, 1, 5000])

      // a consumer that stops beating (its process died) is listed until its 15 seconds pass
      const backend = yield* DurableQueue.DurableQueueStore
      yield* backend.heartbeat(queue.name, { ...next, id: "silent" }, Duration.seconds(15))
      yield* TestClock.adjust("14999 millis")
      assert.strictEqual((yield* DurableQueue.consumers(queue)).length, 2)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual((yield* DurableQueue.consumers(queue)).map((consumer) => consumer.id), [first.id])
    }).pipe(Effect.scoped, Effect.provide(DurableQueue.layerMemory)))
})

describe("the durable queue's test servers", () => {
  it.live("the Redis run leaves no key behind", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* redis.send<Array<string>>("KEYS", `${redisPrefix}*`)
      assert.isAbove(keys.length, 0, "the Redis suite wrote under its prefix")
      // every key of a queue carries the queue's hash tag
      for (const key of keys) assert.match(key, /^[^{]*\{[^}]+\}/, key)
      yield* redis.send("DEL", ...keys)
      assert.deepStrictEqual(yield* redis.send<Array<string>>("KEYS", `${redisPrefix}*`), [])
    }).pipe(Effect.provide(redisClient)))

  it.live("the PostgreSQL run leaves no schema behind", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP SCHEMA IF EXISTS ${sql(pgSchema)} CASCADE`
      const left = yield* sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${pgSchema}`
      assert.strictEqual(left.length, 0)
    }).pipe(Effect.provide(PgClient.layer(pgConfig))))
})
