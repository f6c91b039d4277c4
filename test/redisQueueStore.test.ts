/**
 * What `RedisQueueStore` adds to the durable queue's contract (which `durableQueue.test.ts` checks on it): a job
 * claimed ahead of a taker goes back at once to the head of its queue without spending an attempt when its consumer
 * stops; an idle consumer is woken by the server, not by its poll; and settlements are fenced, so a consumer whose
 * lock expired cannot complete or fail a job another consumer holds. On the real Redis (127.0.0.1:6379), under a
 * key prefix of this run, deleted by the last test.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redis from "effect/persistence/Redis"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import { DurableQueue } from "../src/index.ts"
import * as RedisQueueStore from "../src/RedisQueueStore.ts"
import { redisUrl, runId } from "./utils/servers.ts"

const prefix = `ewp-test-store-${runId}-`
const redisClient = NodeRedis.layer({ url: redisUrl })

let counter = 0
const uniqueName = (label: string) => `${label}-${++counter}`

const durable = (options: Partial<RedisDurableQueue.Options> = {}) =>
  RedisDurableQueue.layerStore({ prefix, ...options }).pipe(Layer.provide(redisClient))

const queueKeys = (name: string) => RedisQueueStore.keysOf(`${prefix}{${name}}:`, name)

describe("RedisQueueStore", () => {
  it.live("a job claimed ahead for a consumer that stops goes back to the head at once, without an attempt", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const queue = DurableQueue.define({ name: uniqueName("ahead"), input: Schema.Number, success: Schema.Number })
      for (let n = 1; n <= 3; n++) yield* DurableQueue.offer(queue, n, { id: `job-${n}` })
      const started = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const consumer = yield* Scope.make()
      yield* DurableQueue.consume(queue, {
        shutdownTimeout: "10 seconds",
        handler: (n) => Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Deferred.await(finish), n))
      }).pipe(Scope.provide(consumer))
      yield* Deferred.await(started)
      // stop the consumer while job 1 runs: its completion claims job 2 ahead, which nobody will take
      const closing = yield* Effect.forkChild(Scope.close(consumer, Exit.void))
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(finish, undefined)
      yield* Fiber.join(closing)
      const keys = queueKeys(queue.name)
      assert.deepStrictEqual(yield* redis.send<Array<string>>("LRANGE", keys.waiting, "0", "-1"), ["job-2", "job-3"])
      assert.strictEqual(yield* redis.send<string | null>("HGET", keys.attempts, "job-2"), null)
      assert.strictEqual(yield* redis.send<number>("HLEN", keys.owner), 0, "no claim is left behind")
      assert.strictEqual(yield* redis.send<number>("ZCARD", keys.active), 0)
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(durable({ lockRefreshInterval: "5 seconds" }), redisClient))))

  it.live("an idle consumer on another connection is woken by the server when a job is offered", () =>
    Effect.gen(function*() {
      const queue = DurableQueue.define({ name: uniqueName("wake"), input: Schema.Number, success: Schema.Number })
      const ran = yield* Deferred.make<number>()
      // the consumer's own store polls only every 30 s: a prompt pickup comes from the server's wake-up
      const consumerSide = yield* Layer.build(durable({ pollInterval: "30 seconds" }))
      const producerSide = yield* Layer.build(durable())
      yield* DurableQueue.consume(queue, {
        handler: (n) => Effect.as(Effect.flatMap(Clock.currentTimeMillis, (now) => Deferred.succeed(ran, now)), n)
      }).pipe(Effect.provideContext(consumerSide))
      yield* Effect.sleep("200 millis")
      const offeredAt = yield* Clock.currentTimeMillis
      // offered through another store on another connection: nothing in this process tells the consumer
      yield* DurableQueue.offer(queue, 1).pipe(Effect.provideContext(producerSide))
      const at = yield* Deferred.await(ran).pipe(Effect.timeout("10 seconds"))
      assert.isBelow(at - offeredAt, 500)
    }).pipe(Effect.scoped))

  it.live("a consumer whose lock expired cannot complete or fail the job another consumer now holds", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const name = uniqueName("fence")
      const storePrefix = `${prefix}{${name}}:`
      const keys = RedisQueueStore.keysOf(storePrefix, name)
      const options: RedisQueueStore.Options = {
        prefix: storePrefix,
        lockExpiration: "30 seconds",
        lockRefreshInterval: "10 seconds"
      }
      const storeA = yield* RedisQueueStore.make(options)
      const storeB = yield* RedisQueueStore.make(options)
      const takeOptions = { name, maxAttempts: 5, retryDelay: () => Effect.succeed(Duration.zero) }
      yield* storeA.offer({ name, id: "job", element: { n: 1 }, isCustomId: true })

      const scopeA = yield* Scope.make()
      const a = yield* storeA.take(takeOptions).pipe(Scope.provide(scopeA))
      assert.strictEqual(a.attempts, 1)
      // A stalls past its lock: the lock is made to look expired, and B recovers and claims the job
      yield* redis.send("ZADD", keys.active, "0", "job")
      const scopeB = yield* Scope.make()
      const b = yield* storeB.take(takeOptions).pipe(Scope.provide(scopeB))
      assert.strictEqual(b.id, "job")
      assert.strictEqual(b.attempts, 2, "the stalled claim counted as an attempt")
      const ownerB = yield* redis.send<string>("HGET", keys.owner, "job")

      // A's late failure and completion change nothing
      yield* Scope.close(scopeA, Exit.fail("late failure"))
      assert.strictEqual(yield* redis.send<string>("HGET", keys.owner, "job"), ownerB)
      assert.strictEqual(yield* redis.send<number>("LLEN", keys.failed), 0)
      assert.isNotNull(yield* redis.send<string | null>("HGET", keys.jobs, "job"))

      // B's completion completes it
      yield* Scope.close(scopeB, Exit.void)
      assert.strictEqual(yield* redis.send<string | null>("HGET", keys.jobs, "job"), null)
      assert.strictEqual(yield* redis.send<string | null>("HGET", keys.owner, "job"), null)
      assert.strictEqual(yield* redis.send<number>("ZCARD", keys.active), 0)
    }).pipe(Effect.scoped, Effect.provide(redisClient)))

  it.live("a late completion after the job was recovered does not complete the recovered job", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const name = uniqueName("late")
      const storePrefix = `${prefix}{${name}}:`
      const keys = RedisQueueStore.keysOf(storePrefix, name)
      const store = yield* RedisQueueStore.make({
        prefix: storePrefix,
        lockExpiration: "30 seconds",
        lockRefreshInterval: "10 seconds"
      })
      const takeOptions = { name, maxAttempts: 5, retryDelay: () => Effect.succeed(Duration.zero) }
      yield* store.offer({ name, id: "job", element: 1, isCustomId: true })
      const first = yield* Scope.make()
      yield* store.take(takeOptions).pipe(Scope.provide(first))
      yield* redis.send("ZADD", keys.active, "0", "job")
      // another store's claim recovers it to the head of the queue, then takes it
      const other = yield* RedisQueueStore.make({ prefix: storePrefix })
      const second = yield* Scope.make()
      const again = yield* other.take(takeOptions).pipe(Scope.provide(second))
      assert.strictEqual(again.attempts, 2)
      yield* Scope.close(first, Exit.void)
      assert.isNotNull(
        yield* redis.send<string | null>("HGET", keys.jobs, "job"),
        "the first claim's completion did not complete the job"
      )
      yield* Scope.close(second, Exit.void)
      assert.strictEqual(yield* redis.send<string | null>("HGET", keys.jobs, "job"), null)
    }).pipe(Effect.scoped, Effect.provide(redisClient)))

  it.live("completions that end together settle in one script, each fenced on its own claim", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const name = uniqueName("batch")
      const storePrefix = `${prefix}{${name}}:`
      const keys = RedisQueueStore.keysOf(storePrefix, name)
      const options: RedisQueueStore.Options = {
        prefix: storePrefix,
        lockExpiration: "30 seconds",
        lockRefreshInterval: "10 seconds"
      }
      // the store's EVALSHA calls are counted
      let scripts = 0
      const counted = Redis.Redis.of({
        ...redis,
        send: (command, ...args) => {
          if (command === "EVALSHA") scripts++
          return redis.send(command, ...args)
        }
      })
      const store = yield* RedisQueueStore.make(options).pipe(Effect.provideService(Redis.Redis, counted))
      const other = yield* RedisQueueStore.make(options)
      const takeOptions = { name, maxAttempts: 5, retryDelay: () => Effect.succeed(Duration.zero) }
      for (let n = 1; n <= 8; n++) yield* store.offer({ name, id: `job-${n}`, element: n, isCustomId: true })
      const scopes = yield* Effect.forEach([1, 2, 3, 4], () => Scope.make())
      const taken = yield* Effect.forEach(scopes, (scope) => store.take(takeOptions).pipe(Scope.provide(scope)))
      assert.deepStrictEqual(taken.map((item) => item.id), ["job-1", "job-2", "job-3", "job-4"])
      // job-4's lock expires and another store takes it over: its late completion must change nothing
      yield* redis.send("ZADD", keys.active, "0", "job-4")
      const overtaken = yield* other.take(takeOptions)
      assert.strictEqual(overtaken.id, "job-4")
      const ownerOfJob4 = yield* redis.send<string>("HGET", keys.owner, "job-4")

      scripts = 0
      yield* Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { concurrency: "unbounded" })
      assert.isAtMost(scripts, 2, "the first completion goes alone, the three that waited for it share one script")
      for (const id of ["job-1", "job-2", "job-3"]) {
        assert.strictEqual(yield* redis.send<string | null>("HGET", keys.jobs, id), null, `${id} completed`)
      }
      assert.isNotNull(yield* redis.send<string | null>("HGET", keys.jobs, "job-4"), "job-4 was not completed")
      assert.strictEqual(yield* redis.send<string>("HGET", keys.owner, "job-4"), ownerOfJob4)
      // every completion claimed a next job for its taker, held by the store until taken or released
      assert.deepStrictEqual(
        (yield* redis.send<Array<string>>("HKEYS", keys.owner)).sort(),
        ["job-4", "job-5", "job-6", "job-7", "job-8"]
      )
    }).pipe(Effect.scoped, Effect.provide(redisClient)))

  it.live("an offer wakes consumers up only while one waits for a job", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const name = uniqueName("idle")
      const storePrefix = `${prefix}{${name}}:`
      const keys = RedisQueueStore.keysOf(storePrefix, name)
      const consumer = yield* RedisQueueStore.make({ prefix: storePrefix })
      const producer = yield* RedisQueueStore.make({ prefix: storePrefix })
      const takeOptions = { name, maxAttempts: 5, retryDelay: () => Effect.succeed(Duration.zero) }
      const wakeUps = yield* redis.subscribe(keys.wake)
      // nobody waits: the offer publishes nothing
      yield* producer.offer({ name, id: "first", element: 1, isCustomId: true })
      assert.strictEqual(yield* redis.send<number>("EXISTS", keys.idle), 0)
      const first = yield* consumer.take(takeOptions).pipe(Effect.scoped)
      assert.strictEqual(first.id, "first")
      // a taker that finds the queue empty marks it idle; the next offer wakes it and clears the mark
      const waiting = yield* Effect.forkChild(Effect.scoped(consumer.take(takeOptions)), { startImmediately: true })
      while ((yield* redis.send<number>("EXISTS", keys.idle)) === 0) yield* Effect.sleep("5 millis")
      yield* producer.offer({ name, id: "second", element: 2, isCustomId: true })
      assert.strictEqual(yield* redis.send<number>("EXISTS", keys.idle), 0)
      const second = yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(second.id, "second")
      const message = yield* Queue.take(wakeUps)
      assert.strictEqual(message.message, "0")
      assert.isTrue(Option.isNone(yield* Queue.poll(wakeUps)), "one wake-up, for the second offer only")
    }).pipe(Effect.scoped, Effect.provide(redisClient)))

  it.live("the run leaves no key behind", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* redis.send<Array<string>>("KEYS", `${prefix}*`)
      assert.isAbove(keys.length, 0)
      yield* redis.send("DEL", ...keys)
      assert.deepStrictEqual(yield* redis.send<Array<string>>("KEYS", `${prefix}*`), [])
    }).pipe(Effect.provide(redisClient)))
})
