/**
 * The durable queue, used the way a careless or hostile user would: many consumers at once, consumers started and
 * stopped in a loop, handlers that throw or interrupt themselves, huge payloads, ids made of quotes and braces,
 * absurd delays, racing requeues, cleanups while consumers run, and bad options everywhere. Each case runs on the
 * memory store, on Redis with both of its stores, and on PostgreSQL, where it makes sense. The servers are real
 * (127.0.0.1:6379 and :5432), under a key prefix and a schema of this run, deleted by the last tests.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redis from "effect/persistence/Redis"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as PgDurableQueue from "../layers/PgDurableQueue.ts"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import { DurableQueue, WorkerPoolError } from "../src/index.ts"
import { eventually, takeN } from "./utils/durable.ts"
import { pgConfig, redisUrl, runId } from "./utils/servers.ts"

const redisPrefix = `ewp-hostile-${runId}-`
const pgSchema = `ewp_hostile_${runId.replace(/-/g, "_")}`

const redisClient = NodeRedis.layer({ url: redisUrl })
const pgClient = PgClient.layer({ ...pgConfig, startupParameters: { search_path: pgSchema } })
const pgWithSchema = Layer.effectDiscard(
  SqlClient.SqlClient.use((sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(pgSchema)}`)
).pipe(Layer.provideMerge(pgClient))

type Kind = "memory" | "ewp" | "stock" | "postgres"

interface Locks {
  readonly lockExpiration?: Duration.Input
  readonly lockRefreshInterval?: Duration.Input
}

const makeStore = (
  kind: Kind,
  locks: Locks = { lockExpiration: "5 seconds", lockRefreshInterval: "1 second" }
): Layer.Layer<DurableQueue.DurableQueueStore, unknown> => {
  switch (kind) {
    case "memory":
      return DurableQueue.layerMemory
    case "ewp":
      return RedisDurableQueue.layerStore({ prefix: redisPrefix, ...locks }).pipe(Layer.provide(redisClient))
    case "stock":
      return RedisDurableQueue.layerStore({ store: "stock", prefix: redisPrefix, pollInterval: "10 millis", ...locks })
        .pipe(Layer.provide(redisClient))
    case "postgres":
      return PgDurableQueue.layerStore({ pollInterval: "10 millis", ...locks }).pipe(Layer.provide(pgWithSchema))
  }
}

const kinds: ReadonlyArray<readonly [Kind, string]> = [
  ["memory", "memory"],
  ["ewp", "Redis (RedisQueueStore)"],
  ["stock", "Redis (PersistedQueue's own store)"],
  ["postgres", "PostgreSQL"]
]

class Refused extends Schema.TaggedError<Refused>("test/Refused")("Refused", { code: Schema.Number }) {
  describe(): string {
    return `refused with ${this.code}`
  }
}

class Broken extends Schema.TaggedError<Broken>("test/Broken")("Broken", {
  parts: Schema.Array(Schema.String),
  at: Schema.Number
}) {}

let counter = 0
const uniqueName = (label: string) => `hostile-${label}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

const fast = Schedule.spaced("10 millis")

const numbers = (label: string, options: { readonly maxAttempts?: number } = {}) =>
  DurableQueue.define({
    name: uniqueName(label),
    input: Schema.Number,
    success: Schema.Number,
    error: Schema.Union([Refused, Broken]),
    maxAttempts: options.maxAttempts ?? 3,
    retrySchedule: fast,
    resultTimeToLive: "1 hour"
  })

/** The exit of a job's outcome, waited for at most 20 s. */
const outcomeOf = <I, A, E>(queue: DurableQueue.DurableQueue<I, A, E>, id: string) =>
  DurableQueue.result(queue, id, { pollInterval: "20 millis" }).pipe(
    Effect.timeout("20 seconds"),
    Effect.exit
  )

const typedFailure = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<A, E>).cause)
  assert.isTrue(
    Option.isSome(error),
    `expected a typed failure, got ${Cause.pretty((exit as Exit.Failure<A, E>).cause)}`
  )
  return (error as Option.Some<E>).value
}

/** The outcome was there before `outcomeOf`'s 20 s ran out. */
const assertSettled = <A, E>(exit: Exit.Exit<A, E>, message: string) => {
  if (Exit.isSuccess(exit)) return
  const error = Cause.findErrorOption(exit.cause)
  assert.isFalse(Option.isSome(error) && Cause.isTimeoutError(error.value), message)
}

const invalidOption = <A, E>(exit: Exit.Exit<A, E>, option: string, label = option) => {
  assert.isTrue(
    Exit.isFailure(exit),
    `${label}: expected InvalidQueueOptions or InvalidPoolOptions naming ${option}, got a success`
  )
  const error = typedFailure(exit)
  assert.isTrue(
    error instanceof WorkerPoolError.InvalidQueueOptions || error instanceof WorkerPoolError.InvalidPoolOptions,
    `${label}: expected InvalidQueueOptions or InvalidPoolOptions naming ${option}, got ${String(error)}`
  )
  assert.strictEqual((error as unknown as { readonly option: string }).option, option, label)
}

/** Every id ran exactly once. */
const assertOnce = (runs: Map<string, number>, ids: ReadonlyArray<string>) => {
  const twice = ids.filter((id) => (runs.get(id) ?? 0) > 1)
  const never = ids.filter((id) => (runs.get(id) ?? 0) === 0)
  assert.deepStrictEqual({ twice: twice.length, never: never.length }, { twice: 0, never: 0 })
}

const bump = (runs: Map<string, number>, id: string) => runs.set(id, (runs.get(id) ?? 0) + 1)

/** On stores that count (not the memory store), the queue holds nothing any more. */
const assertDrained = <I, A, E>(kind: Kind, queue: DurableQueue.DurableQueue<I, A, E>, failed = 0) =>
  Effect.gen(function*() {
    if (kind === "memory") {
      assert.strictEqual((yield* DurableQueue.counts(queue)).failed, failed)
      return
    }
    yield* eventually(
      DurableQueue.counts(queue),
      (counts) => counts.waiting === 0 && counts.delayed === 0 && counts.running === 0 && counts.failed === failed
    )
  })

/** The subscribers of a Redis queue's wake-up channel (the `"ewp"` store subscribes one per open consumer). */
const wakeSubscribers = (name: string) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const channel = `${redisPrefix}{${name}}:${name}:wake`
    const reply = yield* redis.send<Array<string | number>>("PUBSUB", "NUMSUB", channel)
    return Number(reply[1])
  }).pipe(Effect.provide(redisClient), Effect.orDie)

for (const [kind, label] of kinds) {
  describe(`a hostile user of the durable queue on ${label}`, () => {
    const live = (
      title: string,
      body: () => Effect.Effect<void, unknown, DurableQueue.DurableQueueStore | Scope.Scope>,
      timeout = 30_000
    ) => it.live(title, () => Effect.provide(Effect.scoped(body()), makeStore(kind)), timeout)

    live(
      "4 consumers at concurrency 16 run 2,000 jobs exactly once each, and every outcome is readable",
      () =>
        Effect.gen(function*() {
          const queue = numbers("stress")
          const total = 2000
          const ids = Array.from({ length: total }, (_, n) => `job-${n}`)
          const runs = new Map<string, number>()
          const done = yield* Queue.unbounded<string>()
          const consumers = yield* Scope.make()
          for (let c = 0; c < 4; c++) {
            yield* DurableQueue.consume(queue, {
              concurrency: 16,
              handler: (n, job) =>
                Effect.suspend(() => {
                  bump(runs, job.id)
                  return Effect.as(Queue.offer(done, job.id), n * 2)
                })
            }).pipe(Scope.provide(consumers))
          }
          yield* Effect.forEach(ids, (id, n) => DurableQueue.offer(queue, n, { id }), {
            concurrency: 32,
            discard: true
          })
          yield* takeN(done, total)
          const exits = yield* Effect.forEach(ids, (id) => outcomeOf(queue, id), { concurrency: 32 })
          exits.forEach((exit, n) => assert.deepStrictEqual(exit, Exit.succeed(n * 2), ids[n]))
          yield* Scope.close(consumers, Exit.void)
          assertOnce(runs, ids)
          assert.strictEqual(yield* Queue.size(done), 0, "no job ran a second time")
          yield* assertDrained(kind, queue)
          if (kind === "ewp") assert.strictEqual(yield* wakeSubscribers(queue.name), 0, "every subscription closed")
        })
    )

    live(
      "definitions of one queue with different input schemas each encode with their own, offers interleaved",
      () =>
        Effect.gen(function*() {
          const name = uniqueName("schemas")
          const define = <I>(input: Schema.Codec<I, any>) =>
            DurableQueue.define({ name, input, success: Schema.Unknown, maxAttempts: 1, resultTimeToLive: "1 hour" })
          const asNumber = define(Schema.Number)
          const asString = define(Schema.NumberFromString)
          const stored = define(Schema.Unknown)
          for (let i = 0; i < 3; i++) {
            yield* DurableQueue.offer(asNumber, i, { id: `number-${i}` })
            yield* DurableQueue.offer(asString, i, { id: `string-${i}` })
            const refused = typedFailure(yield* Effect.exit(DurableQueue.offer(asNumber, "x" as never)))
            assert.instanceOf(refused, WorkerPoolError.JobSchemaError, `offer ${i} of a string as a number`)
          }
          // a consumer that reads the stored JSON as it is: each job was encoded by its own definition's schema
          yield* DurableQueue.consume(stored, { handler: Effect.succeed })
          for (let i = 0; i < 3; i++) {
            assert.deepStrictEqual(yield* outcomeOf(stored, `number-${i}`), Exit.succeed(i))
            assert.deepStrictEqual(yield* outcomeOf(stored, `string-${i}`), Exit.succeed(String(i)))
          }
        })
    )

    live(
      "closing a consumer that holds claimed jobs releases every one without spending an attempt",
      () =>
        Effect.gen(function*() {
          const queue = numbers("claimed", { maxAttempts: 1 })
          const total = 30
          const started = yield* Queue.unbounded<string>()
          const scope = yield* Scope.make()
          yield* DurableQueue.consume(queue, {
            concurrency: 8,
            shutdownTimeout: 0,
            handler: (_, job) => Effect.andThen(Queue.offer(started, job.id), Effect.never)
          }).pipe(Scope.provide(scope))
          const ids: Array<string> = []
          for (let n = 0; n < total; n++) ids.push(yield* DurableQueue.offer(queue, n, { id: `claimed-${n}` }))
          yield* takeN(started, 8)
          yield* Scope.close(scope, Exit.void)

          // maxAttempts is 1: a release that spent an attempt would send the job to the failed record
          const attempts = new Map<string, Array<number>>()
          yield* DurableQueue.consume(queue, {
            concurrency: 4,
            handler: (n, job) =>
              Effect.sync(() => {
                attempts.set(job.id, [...(attempts.get(job.id) ?? []), job.attempts])
                return n
              })
          })
          const exits = yield* Effect.forEach(ids, (id) => outcomeOf(queue, id), { concurrency: 16 })
          exits.forEach((exit, n) => assert.deepStrictEqual(exit, Exit.succeed(n), ids[n]))
          for (const id of ids) assert.deepStrictEqual(attempts.get(id), [1], id)
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        })
    )

    live(
      "a handler that closes its own consumer's scope: the close returns, the other job finishes, and the closing job is released and runs again",
      () =>
        Effect.gen(function*() {
          // maxAttempts is 1: a release that spent an attempt would send the closing job to the failed record
          const queue = numbers("self-close", { maxAttempts: 1 })
          const scope = yield* Scope.make()
          const started = yield* Queue.unbounded<string>()
          const log: Array<string> = []
          // added first, run last: the close has run every finalizer of the consumer
          const closed = yield* Deferred.make<void>()
          yield* Scope.addFinalizer(scope, Deferred.succeed(closed, undefined))
          yield* DurableQueue.consume(queue, {
            concurrency: 2,
            shutdownTimeout: "10 seconds",
            handler: (n, job) =>
              Effect.andThen(
                Queue.offer(started, job.id),
                n === 0
                  ? Effect.sleep("50 millis").pipe(
                    Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                    Effect.andThen(Effect.sync(() => log.push("went on after the close"))),
                    Effect.as(-1)
                  )
                  : Effect.as(Effect.sleep("300 millis"), n)
              )
          }).pipe(Scope.provide(scope))
          const closing = yield* DurableQueue.offer(queue, 0, { id: "closing" })
          const other = yield* DurableQueue.offer(queue, 1, { id: "other" })
          yield* takeN(started, 2)
          yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"), Effect.orDie)
          // the close ran inside the handler; the other job had its shutdownTimeout and finished
          assert.deepStrictEqual(yield* outcomeOf(queue, other), Exit.succeed(1))
          assert.deepStrictEqual(log, [])
          const runs = new Map<string, number>()
          yield* DurableQueue.consume(queue, {
            handler: (n, job) => Effect.sync(() => bump(runs, job.id)).pipe(Effect.as(n + 100))
          })
          assert.deepStrictEqual(yield* outcomeOf(queue, closing), Exit.succeed(100))
          assert.deepStrictEqual([...runs], [["closing", 1]])
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
          yield* assertDrained(kind, queue)
        })
    )

    live(
      "consumers started and stopped in a loop lose no job and leave no taker or subscription behind",
      () =>
        Effect.gen(function*() {
          const queue = numbers("churn")
          const rounds = 12
          const perRound = 10
          const ids: Array<string> = []
          let ghosts = 0
          for (let round = 0; round < rounds; round++) {
            const scope = yield* Scope.make()
            let closed = false
            const ran = yield* Deferred.make<void>()
            yield* DurableQueue.consume(queue, {
              concurrency: 4,
              shutdownTimeout: round % 2 === 0 ? 0 : "5 seconds",
              handler: (n) =>
                Effect.suspend(() => {
                  if (closed) ghosts++
                  return Effect.as(Effect.andThen(Deferred.succeed(ran, undefined), Effect.sleep("2 millis")), n)
                })
            }).pipe(Scope.provide(scope))
            for (let i = 0; i < perRound; i++) {
              ids.push(yield* DurableQueue.offer(queue, round * perRound + i, { id: `churn-${round}-${i}` }))
            }
            yield* Deferred.await(ran).pipe(Effect.timeout("10 seconds"), Effect.orDie)
            yield* Scope.close(scope, Exit.void)
            closed = true
          }
          if (kind === "ewp") assert.strictEqual(yield* wakeSubscribers(queue.name), 0, "every subscription closed")
          yield* DurableQueue.consume(queue, { concurrency: 8, handler: (n) => Effect.succeed(n) })
          const exits = yield* Effect.forEach(ids, (id) => outcomeOf(queue, id), { concurrency: 16 })
          exits.forEach((exit, n) => assert.deepStrictEqual(exit, Exit.succeed(n), ids[n]))
          assert.strictEqual(ghosts, 0, "no handler of a closed consumer ran")
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        })
    )

    live(
      "closing a consumer that runs nothing returns at once, whatever its shutdownTimeout",
      () =>
        Effect.gen(function*() {
          const queue = numbers("idle-close")
          yield* DurableQueue.offer(queue, 1, { id: "one" })
          for (let round = 0; round < 5; round++) {
            const scope = yield* Scope.make()
            const ran = yield* Deferred.make<void>()
            yield* DurableQueue.consume(queue, {
              concurrency: 4,
              shutdownTimeout: "10 seconds",
              handler: (n) => Effect.as(Deferred.succeed(ran, undefined), n)
            }).pipe(Scope.provide(scope))
            if (round === 0) yield* Deferred.await(ran)
            const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutOption("2 seconds"))
            assert.isTrue(Option.isSome(closed), `round ${round}: closing took more than 2 s`)
          }
        })
    )

    live(
      "jobs offered while a consumer shuts down are all run once by the next consumer",
      () =>
        Effect.gen(function*() {
          const queue = numbers("offer-during-shutdown")
          const runs = new Map<string, number>()
          const started = yield* Queue.unbounded<void>()
          const finish = yield* Deferred.make<void>()
          const scope = yield* Scope.make()
          yield* DurableQueue.consume(queue, {
            concurrency: 2,
            shutdownTimeout: "10 seconds",
            handler: (n, job) =>
              Effect.suspend(() => {
                bump(runs, job.id)
                return Effect.andThen(Queue.offer(started, undefined), Effect.as(Deferred.await(finish), n))
              })
          }).pipe(Scope.provide(scope))
          const ids = [
            yield* DurableQueue.offer(queue, 0, { id: "busy-0" }),
            yield* DurableQueue.offer(queue, 1, {
              id: "busy-1"
            })
          ]
          yield* takeN(started, 2)
          const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
          const late = yield* Effect.forEach(
            Array.from({ length: 40 }, (_, i) => i + 2),
            (n) => DurableQueue.offer(queue, n, { id: `late-${n}` }),
            { concurrency: 8 }
          )
          ids.push(...late)
          yield* Deferred.succeed(finish, undefined)
          yield* Fiber.join(closing)
          yield* DurableQueue.consume(queue, {
            concurrency: 4,
            handler: (n, job) => Effect.sync(() => (bump(runs, job.id), n))
          })
          const exits = yield* Effect.forEach(ids, (id) => outcomeOf(queue, id), { concurrency: 16 })
          exits.forEach((exit, n) => assert.deepStrictEqual(exit, Exit.succeed(n), ids[n]))
          assertOnce(runs, ids)
        })
    )

    live(
      "a handler that throws, returns a non-Effect or dies ends its job with a defect its submitter sees",
      () =>
        Effect.gen(function*() {
          const queue = numbers("misbehave", { maxAttempts: 2 })
          const runs = new Map<string, number>()
          yield* DurableQueue.consume(queue, {
            concurrency: 3,
            handler: (n, job) => {
              bump(runs, job.id)
              if (n === 1) throw new Error("thrown synchronously")
              if (n === 2) return 42 as unknown as Effect.Effect<number>
              return Effect.die(new Error("died on purpose"))
            }
          })
          for (const n of [1, 2, 3]) yield* DurableQueue.offer(queue, n, { id: `misbehave-${n}` })
          for (const n of [1, 2, 3]) {
            const exit = yield* outcomeOf(queue, `misbehave-${n}`)
            assert.isTrue(Exit.isFailure(exit), `job ${n} failed`)
            const cause = (exit as Exit.Failure<number, unknown>).cause
            assert.isTrue(Cause.hasDies(cause), `job ${n} ended with a defect: ${Cause.pretty(cause)}`)
          }
          const thrown = yield* outcomeOf(queue, "misbehave-1")
          assert.include(Cause.pretty((thrown as Exit.Failure<number, unknown>).cause), "thrown synchronously")
          const failed = yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 3)
          assert.deepStrictEqual(failed.map((job) => job.id).sort(), ["misbehave-1", "misbehave-2", "misbehave-3"])
          for (const job of failed) {
            assert.strictEqual(job.attempts, 2, job.id)
            assert.strictEqual(runs.get(job.id), 2, job.id)
          }
        })
    )

    live(
      "typed errors keep their class, fields and methods in result and in the failed record",
      () =>
        Effect.gen(function*() {
          const queue = numbers("typed", { maxAttempts: 1 })
          yield* DurableQueue.consume(queue, {
            handler: (n) =>
              n === 1
                ? Effect.fail(new Refused({ code: 7 }))
                : Effect.fail(new Broken({ parts: ["a", "\"b\""], at: n }))
          })
          yield* DurableQueue.offer(queue, 1, { id: "refused" })
          yield* DurableQueue.offer(queue, 2, { id: "broken" })
          const refused = typedFailure(yield* outcomeOf(queue, "refused"))
          assert.instanceOf(refused, Refused)
          assert.strictEqual(refused.constructor, Refused)
          assert.strictEqual((refused as Refused).describe(), "refused with 7")
          const broken = typedFailure(yield* outcomeOf(queue, "broken"))
          assert.instanceOf(broken, Broken)
          assert.deepStrictEqual((broken as Broken).parts, ["a", "\"b\""])
          const failed = yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 2)
          for (const job of failed) {
            const error = Option.getOrThrow(job.error)
            if (job.id === "refused") assert.instanceOf(error, Refused)
            else assert.instanceOf(error, Broken)
          }
        })
    )

    live(
      "a typed error its schema cannot encode still ends the job where its submitter can see it",
      () =>
        Effect.gen(function*() {
          const queue = numbers("unencodable-error", { maxAttempts: 1 })
          yield* DurableQueue.consume(queue, {
            handler: () => Effect.fail(new Error("not in the error schema") as unknown as Refused)
          })
          const id = yield* DurableQueue.offer(queue, 1)
          const exit = yield* outcomeOf(queue, id)
          assertSettled(exit, "result() settled")
          assert.isTrue(Exit.isFailure(exit))
          yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 1)
        })
    )

    live(
      "huge payloads (4 MB in, 1 MB out) go through offer, consume, result and the failed record intact",
      () =>
        Effect.gen(function*() {
          const queue = DurableQueue.define({
            name: uniqueName("huge"),
            input: Schema.Struct({ blob: Schema.String, items: Schema.Array(Schema.Number) }),
            success: Schema.String,
            error: Refused,
            maxAttempts: 1,
            resultTimeToLive: "1 hour"
          })
          const blob = "ü\"{}\\".repeat(800_000)
          const items = Array.from({ length: 20_000 }, (_, i) => i / 3)
          yield* DurableQueue.consume(queue, {
            handler: (input, job) =>
              job.id === "fail-huge"
                ? Effect.fail(new Refused({ code: input.blob.length }))
                : Effect.succeed(`${input.blob.length}:${input.items.length}:${"x".repeat(1_000_000)}`)
          })
          yield* DurableQueue.offer(queue, { blob, items }, { id: "huge" })
          yield* DurableQueue.offer(queue, { blob, items }, { id: "fail-huge" })
          const exit = yield* outcomeOf(queue, "huge")
          assert.isTrue(Exit.isSuccess(exit))
          assert.strictEqual((exit as Exit.Success<string>).value, `${blob.length}:20000:${"x".repeat(1_000_000)}`)
          const refused = typedFailure(yield* outcomeOf(queue, "fail-huge"))
          assert.strictEqual((refused as Refused).code, blob.length)
          const [failed] = yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 1)
          assert.isTrue(Option.isSome(failed.input))
          const input = Option.getOrThrow(failed.input)
          assert.strictEqual(input.blob, blob)
          assert.deepStrictEqual(input.items, items)
        }),
      60_000
    )

    live(
      "ids with unicode, slashes, quotes, braces and JSON in them are kept exact, de-duplicated, failed and requeued",
      () =>
        Effect.gen(function*() {
          const queue = numbers("ids", { maxAttempts: 1 })
          const ids = [
            "a/b/c",
            "../../etc/passwd",
            "quote\"d",
            "single'quote",
            "{brace}",
            "}{",
            "{",
            "back\\slash",
            "🚀 ünïcödé 日本語",
            "line\nbreak\ttab",
            "%3A:colon:",
            "*",
            "?[glob]",
            "null",
            "__proto__",
            "constructor",
            " ",
            "{\"id\":\"x\"}",
            "\",\"element\":1,\"x\":\"",
            "\u2028\u2029",
            "x".repeat(255),
            "é".repeat(255)
          ]
          const seen = new Map<string, number>()
          let healthy = false
          yield* DurableQueue.consume(queue, {
            concurrency: 4,
            handler: (n, job) =>
              Effect.suspend(() => {
                bump(seen, job.id)
                return healthy ? Effect.succeed(n) : Effect.fail(new Refused({ code: n }))
              })
          })
          for (let n = 0; n < ids.length; n++) {
            assert.strictEqual(yield* DurableQueue.offer(queue, n, { id: ids[n] }), ids[n])
            // the same id again, with another input: stored once
            assert.strictEqual(yield* DurableQueue.offer(queue, n + 1000, { id: ids[n] }), ids[n])
          }
          for (let n = 0; n < ids.length; n++) {
            assert.strictEqual(
              (typedFailure(yield* outcomeOf(queue, ids[n])) as Refused).code,
              n,
              JSON.stringify(ids[n])
            )
          }
          assert.deepStrictEqual(
            [...seen.keys()].sort(),
            [...ids].sort(),
            "the handler saw every id exactly as offered"
          )
          const failed = yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === ids.length)
          assert.deepStrictEqual(failed.map((job) => job.id).sort(), [...ids].sort())
          for (const job of failed) assert.deepStrictEqual(job.input, Option.some(ids.indexOf(job.id)), job.id)
          healthy = true
          for (const id of ids) assert.isTrue(yield* DurableQueue.requeue(queue, id), JSON.stringify(id))
          for (let n = 0; n < ids.length; n++) {
            assert.deepStrictEqual(yield* outcomeOf(queue, ids[n]), Exit.succeed(n), JSON.stringify(ids[n]))
          }
          for (const id of ids) assert.strictEqual(seen.get(id), 2, JSON.stringify(id))
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        })
    )

    live(
      "a delay of 0 or a negative delay runs the job at once; a huge one keeps it back; a non-finite one is refused",
      () =>
        Effect.gen(function*() {
          const queue = numbers("delays")
          const ran = new Map<string, number>()
          yield* DurableQueue.consume(queue, { handler: (n, job) => Effect.sync(() => (bump(ran, job.id), n)) })
          yield* DurableQueue.offer(queue, 1, { id: "far", delay: Duration.days(3650) })
          yield* DurableQueue.offer(queue, 2, { id: "farther", delay: Duration.millis(Number.MAX_SAFE_INTEGER) })
          yield* DurableQueue.offer(queue, 3, { id: "zero", delay: 0 })
          yield* DurableQueue.offer(queue, 4, { id: "negative", delay: Duration.millis(-5000) })
          yield* DurableQueue.offer(queue, 5, { id: "negative-number", delay: -1 })
          assert.deepStrictEqual(yield* outcomeOf(queue, "zero"), Exit.succeed(3))
          assert.deepStrictEqual(yield* outcomeOf(queue, "negative"), Exit.succeed(4))
          assert.deepStrictEqual(yield* outcomeOf(queue, "negative-number"), Exit.succeed(5))
          assert.isFalse(ran.has("far"), "a job delayed by ten years did not run")
          assert.isFalse(ran.has("farther"))
          if (kind !== "memory") {
            const counts = yield* DurableQueue.counts(queue)
            assert.strictEqual(counts.delayed, 2)
          }
          for (
            const delay of [
              Infinity,
              Duration.infinity,
              "soon",
              "-1 lightyears",
              NaN,
              {},
              // longer than every store keeps (PostgreSQL's timestamps end in the year 294276)
              Duration.millis(Number.MAX_SAFE_INTEGER + 2 ** 11),
              Duration.millis(1e16),
              Duration.millis(1e20),
              Duration.weeks(1e12)
            ]
          ) {
            invalidOption(
              yield* Effect.exit(DurableQueue.offer(queue, 9, { delay: delay as never })),
              "delay",
              `delay ${String(delay)}`
            )
          }
        })
    )

    live(
      "a retry schedule whose delays are longer than every store keeps, or infinite, holds the job back on every store",
      () =>
        Effect.gen(function*() {
          for (const delay of [Duration.millis(1e20), Duration.infinity]) {
            const queue = DurableQueue.define({
              name: uniqueName("retry-far"),
              input: Schema.Number,
              success: Schema.Number,
              error: Refused,
              maxAttempts: 3,
              retrySchedule: Schedule.spaced(delay),
              resultTimeToLive: "1 hour"
            })
            let runs = 0
            yield* DurableQueue.consume(queue, {
              handler: () =>
                Effect.suspend(() => {
                  runs++
                  return Effect.fail(new Refused({ code: 7 }))
                })
            })
            yield* DurableQueue.offer(queue, 1)
            // the failed attempt is stored as a retry, far off: the job is delayed, not left running or failed
            if (kind === "memory") {
              yield* eventually(Effect.sync(() => runs), (n) => n === 1)
            } else {
              yield* eventually(
                DurableQueue.counts(queue),
                (counts) => counts.delayed === 1 && counts.running === 0 && counts.waiting === 0
              )
            }
            assert.strictEqual(runs, 1, `retry delay ${Duration.format(delay)}`)
            assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
          }
        })
    )

    live(
      "a handler that interrupts itself does not loop for ever: its job reaches an outcome",
      () =>
        Effect.gen(function*() {
          const queue = numbers("self-interrupt", { maxAttempts: 2 })
          let runs = 0
          yield* DurableQueue.consume(queue, {
            handler: () =>
              Effect.suspend(() => {
                runs++
                return Effect.interrupt
              })
          })
          const id = yield* DurableQueue.offer(queue, 1)
          const exit = yield* DurableQueue.result(queue, id, { pollInterval: "20 millis" }).pipe(
            Effect.timeout("3 seconds"),
            Effect.exit
          )
          assertSettled(exit, `the job reached no outcome in 3 s after ${runs} runs`)
          assert.isTrue(Exit.isFailure(exit))
          assert.isAtMost(runs, 2, "no more runs than maxAttempts")
        })
    )

    live("a handler that interrupts itself once does not cost its consumer a taker", () =>
      Effect.gen(function*() {
        const queue = numbers("self-interrupt-once")
        let runs = 0
        yield* DurableQueue.consume(queue, {
          handler: (n) =>
            Effect.suspend(() => {
              runs++
              return n === 1 ? Effect.interrupt : Effect.succeed(n)
            })
        })
        yield* DurableQueue.offer(queue, 1, { id: "interrupts" })
        yield* eventually(Effect.sync(() => runs), (n) => n >= 1)
        yield* DurableQueue.offer(queue, 2, { id: "plain" })
        const exit = yield* DurableQueue.result(queue, "plain").pipe(Effect.timeout("3 seconds"), Effect.exit)
        assert.deepStrictEqual(exit, Exit.succeed(2), `the consumer still runs jobs (${runs} runs so far)`)
      }))

    live("requeue of a job that completed returns false and leaves its outcome readable", () =>
      Effect.gen(function*() {
        const queue = numbers("requeue-completed")
        yield* DurableQueue.consume(queue, { handler: (n) => Effect.succeed(n * 3) })
        const id = yield* DurableQueue.offer(queue, 5, { id: "completed" })
        assert.deepStrictEqual(yield* outcomeOf(queue, id), Exit.succeed(15))
        assert.isFalse(yield* DurableQueue.requeue(queue, id))
        assert.isFalse(yield* DurableQueue.requeue(queue, "never-offered"))
        const again = yield* DurableQueue.result(queue, id).pipe(Effect.timeout("2 seconds"), Effect.exit)
        assert.deepStrictEqual(again, Exit.succeed(15), "the outcome of a completed job survives a refused requeue")
      }))

    live("two requeues of one failed job at once move it once, and it runs once more", () =>
      Effect.gen(function*() {
        const queue = numbers("requeue-race", { maxAttempts: 1 })
        const runs = new Map<string, number>()
        yield* DurableQueue.consume(queue, {
          concurrency: 4,
          handler: (n, job) =>
            Effect.suspend(() => {
              bump(runs, job.id)
              return runs.get(job.id) === 1 ? Effect.fail(new Refused({ code: n })) : Effect.succeed(n)
            })
        })
        const ids = Array.from({ length: 10 }, (_, n) => `race-${n}`)
        for (let n = 0; n < ids.length; n++) yield* DurableQueue.offer(queue, n, { id: ids[n] })
        yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === ids.length)
        for (let n = 0; n < ids.length; n++) {
          const moved = yield* Effect.all(
            [
              DurableQueue.requeue(queue, ids[n]),
              DurableQueue.requeue(queue, ids[n]),
              // an offer of the same id in the race is de-duplicated
              Effect.as(DurableQueue.offer(queue, n + 100, { id: ids[n] }), false)
            ],
            { concurrency: "unbounded" }
          )
          assert.strictEqual(moved.filter(Boolean).length, 1, `${ids[n]}: exactly one requeue moved it`)
        }
        // every requeued job runs once more, and its new outcome is the one kept
        for (let n = 0; n < ids.length; n++) {
          const exit = yield* outcomeOf(queue, ids[n])
          assert.deepStrictEqual(
            exit,
            Exit.succeed(n),
            `${ids[n]} after ${runs.get(ids[n])} runs: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : exit.value}`
          )
        }
        for (const id of ids) assert.strictEqual(runs.get(id), 2, id)
        yield* assertDrained(kind, queue)
      }))

    live(
      "result() of an id never offered waits until its timeout, and fails with a typed error",
      () =>
        Effect.gen(function*() {
          const queue = numbers("never-offered")
          const exit = yield* DurableQueue.result(queue, "never-offered").pipe(
            Effect.timeout("300 millis"),
            Effect.exit
          )
          const error = typedFailure(exit)
          assert.isTrue(Cause.isTimeoutError(error))
          const unknown = yield* DurableQueue.result(queue, "{never}/\"offered\"", { pollInterval: "1 millis" }).pipe(
            Effect.timeout("1200 millis"),
            Effect.exit
          )
          assert.isTrue(Cause.isTimeoutError(typedFailure(unknown)))
          for (const pollInterval of [0, -1, "soon", Infinity, NaN]) {
            invalidOption(
              yield* Effect.exit(DurableQueue.result(queue, "x", { pollInterval: pollInterval as never })),
              "pollInterval",
              `pollInterval ${String(pollInterval)}`
            )
          }
        })
    )

    live(
      "cleanup while consumers run forgets only finished jobs: every job still runs exactly once",
      () =>
        Effect.gen(function*() {
          const queue = numbers("cleanup-race", { maxAttempts: 1 })
          const total = 400
          const ids = Array.from({ length: total }, (_, n) => `cleanup-${n}`)
          const runs = new Map<string, number>()
          const done = yield* Queue.unbounded<string>()
          for (let c = 0; c < 2; c++) {
            yield* DurableQueue.consume(queue, {
              concurrency: 8,
              handler: (n, job) =>
                Effect.suspend(() => {
                  bump(runs, job.id)
                  return Effect.as(Queue.offer(done, job.id), n)
                })
            })
          }
          let cleaning = true
          const cleaner = yield* Effect.forkChild(
            Effect.whileLoop({
              while: () => cleaning,
              body: () =>
                Effect.andThen(
                  DurableQueue.cleanup(queue, { timeToLive: 0, failedTimeToLive: 0 }),
                  Effect.sleep("5 millis")
                ),
              step: () => {}
            })
          )
          yield* Effect.forEach(ids, (id, n) => DurableQueue.offer(queue, n, { id }), {
            concurrency: 16,
            discard: true
          })
          yield* takeN(done, total)
          cleaning = false
          yield* Fiber.join(cleaner)
          assertOnce(runs, ids)
          yield* assertDrained(kind, queue)
        })
    )

    live(
      "bad options fail with a typed error naming the option, never a defect or a hang",
      () =>
        Effect.gen(function*() {
          const bad = (options: Record<string, unknown>) =>
            DurableQueue.define({ name: uniqueName("bad"), input: Schema.Number, success: Schema.Number, ...options })
          const defined: Array<[Record<string, unknown>, string]> = [
            [{ name: "" }, "name"],
            [{ name: "x".repeat(201) }, "name"],
            [{ name: "{tag}" }, "name"],
            [{ name: 42 }, "name"],
            [{ maxAttempts: 0 }, "maxAttempts"],
            [{ maxAttempts: -1 }, "maxAttempts"],
            [{ maxAttempts: 1.5 }, "maxAttempts"],
            [{ maxAttempts: NaN }, "maxAttempts"],
            [{ maxAttempts: Infinity }, "maxAttempts"],
            [{ maxAttempts: "3" }, "maxAttempts"],
            [{ resultTimeToLive: 0 }, "resultTimeToLive"],
            [{ resultTimeToLive: -1 }, "resultTimeToLive"],
            [{ resultTimeToLive: "soon" }, "resultTimeToLive"],
            [{ failedTimeToLive: "soon" }, "failedTimeToLive"]
          ]
          for (const [options, option] of defined) {
            const queue = bad(options)
            const label = `define ${JSON.stringify(options)}`
            invalidOption(yield* Effect.exit(DurableQueue.offer(queue, 1)), option, `${label} offer`)
            invalidOption(
              yield* Effect.exit(Effect.scoped(DurableQueue.consume(queue, { handler: Effect.succeed }))),
              option,
              `${label} consume`
            )
            invalidOption(yield* Effect.exit(DurableQueue.failed(queue)), option, `${label} failed`)
            invalidOption(yield* Effect.exit(DurableQueue.requeue(queue, "x")), option, `${label} requeue`)
            invalidOption(yield* Effect.exit(DurableQueue.cleanup(queue)), option, `${label} cleanup`)
          }
          const queue = numbers("options")
          // lone surrogates: UTF-8 stores would turn both into U+FFFD, one job answering for the other
          for (const id of ["", "x".repeat(256), 42, null, "\uD800", "a\uDBFF", "\uDC00b", "nul\u0000"]) {
            const label = `id ${JSON.stringify(id)}`
            invalidOption(yield* Effect.exit(DurableQueue.offer(queue, 1, { id: id as never })), "id", `${label} offer`)
            if (typeof id !== "string") continue
            invalidOption(yield* Effect.exit(DurableQueue.result(queue, id)), "id", `${label} result`)
            invalidOption(yield* Effect.exit(DurableQueue.requeue(queue, id)), "id", `${label} requeue`)
            invalidOption(yield* Effect.exit(DurableQueue.remove(queue, id)), "id", `${label} remove`)
          }
          const consumeWith = (options: Record<string, unknown>) =>
            Effect.exit(Effect.scoped(DurableQueue.consume(queue, { handler: Effect.succeed, ...options })))
          const consumed: Array<[Record<string, unknown>, string]> = [
            [{ concurrency: 0 }, "concurrency"],
            [{ concurrency: -1 }, "concurrency"],
            [{ concurrency: 1.5 }, "concurrency"],
            [{ concurrency: NaN }, "concurrency"],
            [{ concurrency: Infinity }, "concurrency"],
            [{ timeout: -1 }, "timeout"],
            [{ timeout: "soon" }, "timeout"],
            [{ shutdownTimeout: -1 }, "shutdownTimeout"],
            [{ shutdownTimeout: "soon" }, "shutdownTimeout"],
            [{ shutdownTimeout: NaN }, "shutdownTimeout"],
            [{ handler: undefined }, "handler"],
            [{ handler: "not a function" }, "handler"]
          ]
          for (const [options, option] of consumed) {
            invalidOption(
              yield* consumeWith(options).pipe(Effect.timeout("5 seconds")),
              option,
              `consume ${String(Object.values(options)[0])}`
            )
          }
          for (
            const [options, option] of [
              [{ timeToLive: -1 }, "timeToLive"],
              [{ timeToLive: "soon" }, "timeToLive"],
              [{ failedTimeToLive: "soon" }, "failedTimeToLive"]
            ] as const
          ) {
            invalidOption(
              yield* Effect.exit(DurableQueue.cleanup(queue, options as never)),
              option,
              `cleanup ${JSON.stringify(options)}`
            )
          }
          // nothing of the refusals above reached the store
          if (kind !== "memory") {
            assert.deepStrictEqual(yield* DurableQueue.counts(queue), {
              waiting: 0,
              delayed: 0,
              running: 0,
              failed: 0,
              oldestWaitingMillis: undefined
            })
          }
        })
    )

    // PostgreSQL: the SQL store judges a lock expired by the claiming consumer's own lockExpiration, so the consumers
    // of one queue must share it (the README says so)
    if (kind === "ewp" || kind === "stock") {
      it.live(
        "consumers with different lock settings never take a job another live consumer holds",
        () =>
          Effect.gen(function*() {
            const queue = numbers("locks")
            const runs = new Map<string, number>()
            const started = yield* Deferred.make<void>()
            const finish = yield* Deferred.make<void>()
            const handler = (n: number, job: DurableQueue.JobMetadata) =>
              Effect.suspend(() => {
                bump(runs, job.id)
                return Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Deferred.await(finish), n))
              })
            // each consumer on a store of its own, as if in another process
            const patient = yield* Layer.build(
              makeStore(kind, { lockExpiration: "6 seconds", lockRefreshInterval: "2 seconds" })
            )
            const impatient = yield* Layer.build(
              makeStore(kind, { lockExpiration: "200 millis", lockRefreshInterval: "50 millis" })
            )
            const producer = yield* Layer.build(makeStore(kind))
            yield* DurableQueue.consume(queue, { handler }).pipe(Effect.provide(patient))
            const id = yield* DurableQueue.offer(queue, 1, { id: "held" }).pipe(Effect.provide(producer))
            yield* Deferred.await(started).pipe(Effect.timeout("10 seconds"), Effect.orDie)
            yield* DurableQueue.consume(queue, { handler }).pipe(Effect.provide(impatient))
            // long enough for the impatient consumer to look many times, shorter than the patient one's refresh
            yield* Effect.sleep("1500 millis")
            yield* Deferred.succeed(finish, undefined)
            assert.deepStrictEqual(yield* outcomeOf(queue, id).pipe(Effect.provide(producer)), Exit.succeed(1))
            assert.strictEqual(runs.get(id), 1, "the held job ran once")
          }).pipe(Effect.scoped),
        30_000
      )
    }
  })
}

describe("the hostile suite's servers", () => {
  it.live("store options that make no sense fail the layer with InvalidQueueOptions naming them", () =>
    Effect.gen(function*() {
      const build = <E>(layer: Layer.Layer<DurableQueue.DurableQueueStore, E>) =>
        Effect.exit(Effect.scoped(Layer.build(layer))).pipe(Effect.timeout("10 seconds"))
      const redisCases: Array<[RedisDurableQueue.Options, string]> = [
        [{ prefix: "a{b" }, "prefix"],
        [{ store: "bullmq" as never }, "store"],
        [{ pollInterval: 0 }, "pollInterval"],
        [{ pollInterval: "soon" as never }, "pollInterval"],
        [{ lockExpiration: -1 }, "lockExpiration"],
        [{ lockExpiration: Infinity }, "lockExpiration"],
        [{ lockRefreshInterval: "2 seconds", lockExpiration: "1 second" }, "lockRefreshInterval"],
        [{ lockExpiration: "1 second" }, "lockExpiration"]
      ]
      for (const [options, option] of redisCases) {
        for (const store of ["ewp", "stock"] as const) {
          invalidOption(
            yield* build(RedisDurableQueue.layerStore({ store, ...options }).pipe(Layer.provide(redisClient))),
            option
          )
        }
      }
      const pgCases: Array<[PgDurableQueue.Options, string]> = [
        [{ tableName: "jobs; DROP TABLE x" }, "tableName"],
        [{ tableName: "" }, "tableName"],
        [{ pollInterval: -5 }, "pollInterval"],
        [{ lockRefreshInterval: "1 minute" }, "lockRefreshInterval"]
      ]
      for (const [options, option] of pgCases) {
        invalidOption(yield* build(PgDurableQueue.layerStore(options).pipe(Layer.provide(pgWithSchema))), option)
      }
    }))

  it.live("the Redis run leaves no key behind", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* redis.send<Array<string>>("KEYS", `${redisPrefix}*`)
      assert.isAbove(keys.length, 0, "the Redis cases wrote under their prefix")
      for (const key of keys) assert.match(key, /^[^{]*\{[^}]+\}/, key)
      for (let i = 0; i < keys.length; i += 500) yield* redis.send("DEL", ...keys.slice(i, i + 500))
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
