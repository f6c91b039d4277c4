/**
 * A pool (or a durable consumer) whose scope is closed from inside, by one of its own jobs, the way a hostile user
 * would, in every shape a program might take: jobs queued, running, waiting for room; groups and streams
 * in flight; timeouts, retries, keys; two closers at once; a closer that goes on uninterruptibly; a closer in a
 * forked fiber, in an executor, in a layer; a scope whose finalizers run in parallel. Every wait is bounded: a hang
 * is a failure, not a stuck run.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
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
import * as Stream from "effect/Stream"
import * as PgDurableQueue from "../layers/PgDurableQueue.ts"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import { DurableQueue, WorkerPool } from "../src/index.ts"
import { eventually, takeN } from "./utils/durable.ts"
import { trackFibers } from "./utils/fibers.ts"
import { outcome, within } from "./utils/outcomes.ts"
import { pgConfig, redisUrl, runId } from "./utils/servers.ts"
import { checkAccounts } from "./utils/stats.ts"

/** Awaits every handle, failing the test with the pool's stats when they have not all settled within 3 s. */
const settleAll = <A, E>(
  pool: { readonly stats: Effect.Effect<WorkerPool.Stats> },
  handles: ReadonlyArray<WorkerPool.JobHandle<A, E>>
) =>
  Effect.flatMap(
    Effect.timeoutOption(Effect.forEach(handles, (h) => Effect.exit(h.await)), 3000),
    (option) =>
      Option.isSome(option) ? Effect.succeed(option.value) : Effect.flatMap(pool.stats, (stats) =>
        Effect.die(
          new Error(
            `hung: the handles; ${JSON.stringify(pickStats(stats))}; polled: ${
              handles.map((h) => JSON.stringify(h.toJSON())).join(", ")
            }`
          )
        ))
  )

const pickStats = (s: WorkerPool.Stats) => ({
  state: s.state,
  running: s.running,
  queued: s.queued,
  workers: s.workers,
  shutdown: s.shutdown
})

describe("closing a pool's scope from inside the pool", () => {
  it.live("a handler closes the scope while jobs run, wait in the queue and wait for room: all settle once", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const finalized: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(20).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
              : Effect.sleep(10_000).pipe(
                Effect.onInterrupt(() => Effect.sync(() => finalized.push(n))),
                Effect.as(n)
              ),
          concurrency: 3,
          capacity: 4,
          overflow: "suspend"
        }).pipe(Scope.provide(scope))
        const handles = yield* Effect.forEach([0, 1, 2, 3, 4, 5, 6], (n) => pool.submit(n))
        // the queue is full: these wait for room, one by `execute`, one by `submit`
        const executing = yield* Effect.forkChild(Effect.exit(pool.execute(7)), { startImmediately: true })
        const submitting = yield* Effect.forkChild(Effect.exit(pool.submit(8)), { startImmediately: true })
        const settledCount = new Map<number, number>()
        const exits = yield* within(
          Effect.forEach(
            handles,
            (h, i) =>
              Effect.tap(
                Effect.exit(h.await),
                () => Effect.sync(() => settledCount.set(i, (settledCount.get(i) ?? 0) + 1))
              )
          ),
          "the handles"
        )
        const executed = yield* within(Fiber.join(executing), "the execute waiting for room")
        const submitted = yield* within(Fiber.join(submitting), "the submit waiting for room")
        yield* Effect.sleep(20)
        return { exits, executed, submitted, stats: yield* pool.stats, finalized, settledCount }
      }))
      assert.deepStrictEqual(result.exits.map(outcome), Array(7).fill("PoolShutdown"))
      assert.strictEqual(outcome(result.executed), "PoolShutdown")
      assert.strictEqual(outcome(result.submitted), "PoolShutdown")
      assert.deepStrictEqual(result.finalized.sort(), [1, 2])
      assert.deepStrictEqual([...result.settledCount.values()], Array(7).fill(1))
      const stats = result.stats
      assert.deepStrictEqual([stats.state, stats.running, stats.queued, stats.workers], ["closed", 0, 0, 0])
      assert.strictEqual(stats.shutdown, 7)
      assert.strictEqual(stats.rejected, 2)
      checkAccounts(stats, "after the close")
      assert.isAtLeast(started, 3)
      assert.strictEqual(alive, 0)
    }))

  it.live("executeAll and executeStream in flight end with PoolShutdown when a handler closes the scope", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(30).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
              : Effect.as(Effect.sleep(5_000), n),
          concurrency: 3,
          capacity: 3
        }).pipe(Scope.provide(scope))
        const closer = yield* pool.submit(0)
        const all = yield* Effect.forkChild(Effect.exit(pool.executeAll([1, 2, 3, 4, 5, 6, 7, 8])), {
          startImmediately: true
        })
        const stream = yield* Effect.forkChild(
          Effect.exit(Stream.runCollect(pool.executeStream(Stream.make(9, 10, 11, 12), { concurrency: 2 }))),
          { startImmediately: true }
        )
        const exits = {
          closer: yield* within(Effect.exit(closer.await), "the closer"),
          all: yield* within(Fiber.join(all), "executeAll"),
          stream: yield* within(Fiber.join(stream), "executeStream")
        }
        // the closing job's worker ends just after its job has settled
        yield* Effect.sleep(20)
        return { ...exits, stats: yield* pool.stats }
      }))
      assert.strictEqual(outcome(result.closer), "PoolShutdown")
      assert.strictEqual(outcome(result.all), "PoolShutdown")
      assert.strictEqual(outcome(result.stream), "PoolShutdown")
      assert.strictEqual(result.stats.state, "closed")
      checkAccounts(result.stats, "after the close")
      assert.isAtLeast(started, 3)
      assert.strictEqual(alive, 0)
    }))

  it.live("concurrency 1 with 200 queued jobs and a timeout: the closer and every queued job settle at once", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
              : Effect.succeed(n),
          concurrency: 1,
          capacity: 1000,
          timeout: "50 millis"
        }).pipe(Scope.provide(scope))
        const handles = yield* Effect.forEach(Array.from({ length: 201 }, (_, i) => i), (n) => pool.submit(n))
        const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
        // past the timeout: a timer that fires late must not change anything
        yield* Effect.sleep(80)
        return { exits, stats: yield* pool.stats }
      }))
      assert.deepStrictEqual(new Set(result.exits.map(outcome)), new Set(["PoolShutdown"]))
      const stats = result.stats
      assert.deepStrictEqual([stats.state, stats.shutdown, stats.timedOut, stats.succeeded], ["closed", 201, 0, 0])
      checkAccounts(stats, "after the close")
      assert.isAtLeast(started, 1)
      assert.strictEqual(alive, 0)
    }))

  it.live("the closer's own timeout runs out while the close waits for another job's finalizer", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
              : Effect.sleep(10_000).pipe(Effect.onInterrupt(() => Effect.sleep(150)), Effect.as(n)),
          concurrency: 2,
          timeout: "60 millis"
        }).pipe(Scope.provide(scope))
        const other = yield* pool.submit(1)
        const closer = yield* pool.submit(0)
        const exits = yield* within(Effect.all([Effect.exit(closer.await), Effect.exit(other.await)]), "the jobs")
        yield* Effect.sleep(20)
        return { exits, stats: yield* pool.stats }
      }))
      // the close settles both with PoolShutdown: the shutdown was their first ending, before the timeout's
      assert.deepStrictEqual(result.exits.map(outcome), ["PoolShutdown", "PoolShutdown"])
      checkAccounts(result.stats, "after the close")
      assert.isAtLeast(started, 2)
      assert.strictEqual(alive, 0)
    }))

  for (const how of ["runFork", "runSync"] as const) {
    it.live(`a retry policy's while predicate closes the scope (Effect.${how}): every job settles`, () =>
      Effect.gen(function*() {
        const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
          const scope = yield* Scope.make()
          let asked = 0
          const pool: WorkerPool.WorkerPool<number, number, string> = yield* WorkerPool.make({
            handler: (n: number) =>
              n === 0 ? Effect.sleep(10).pipe(Effect.andThen(Effect.fail("boom"))) : Effect.as(Effect.sleep(50), n),
            concurrency: 2,
            shutdownTimeout: "1 second",
            retry: {
              schedule: Schedule.recurs(3),
              while: () => {
                asked++
                if (how === "runFork") Effect.runFork(Scope.close(scope, Exit.void))
                else Effect.runSync(Scope.close(scope, Exit.void))
                return true
              }
            }
          }).pipe(Scope.provide(scope))
          const handles = yield* Effect.forEach([1, 0, 2, 3], (n) => pool.submit(n))
          const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
          yield* Effect.sleep(20)
          return { exits, asked, stats: yield* pool.stats }
        }))
        // the predicate is synchronous: a close it starts runs on a fiber of its own, outside the pool, so it is an
        // ordinary close (a drain); under runSync the close cannot finish synchronously and the predicate throws
        assert.deepStrictEqual(
          result.exits.map(outcome),
          how === "runFork" ? ["ok:1", "boom", "ok:2", "ok:3"] : ["ok:1", "defect", "ok:2", "ok:3"]
        )
        assert.strictEqual(result.stats.state, "closed")
        checkAccounts(result.stats, "after the close")
        assert.isAtLeast(started, 2)
        assert.strictEqual(alive, 0)
      }))
  }

  it.live("two handlers close the scope at once: every job settles with PoolShutdown", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const after: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n < 2
              ? Effect.sleep(20).pipe(
                Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                Effect.andThen(Effect.sync(() => after.push(n))),
                Effect.as(n)
              )
              : Effect.as(Effect.sleep(5_000), n),
          concurrency: 3
        }).pipe(Scope.provide(scope))
        const handles = yield* Effect.forEach([0, 1, 2, 3], (n) => pool.submit(n))
        const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
        yield* Effect.sleep(20)
        return { exits, after, stats: yield* pool.stats }
      }))
      assert.deepStrictEqual(result.exits.map(outcome), Array(4).fill("PoolShutdown"))
      assert.deepStrictEqual(result.after, [])
      checkAccounts(result.stats, "after the close")
      assert.isAtLeast(started, 3)
      assert.strictEqual(alive, 0)
    }))

  it.live("a handler that closes the scope and then works uninterruptibly: its job settles when the work ends", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.uninterruptible(
                Effect.sleep(10).pipe(
                  Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                  Effect.andThen(Effect.sync(() => log.push("closed"))),
                  Effect.andThen(Effect.sleep(100)),
                  Effect.andThen(Effect.sync(() => log.push("worked on"))),
                  Effect.as(0)
                )
              )
              : Effect.as(Effect.sleep(5_000), n),
          concurrency: 2
        }).pipe(Scope.provide(scope))
        const closer = yield* pool.submit(0)
        const other = yield* pool.submit(1)
        const queued = yield* pool.submit(2)
        const others = yield* within(Effect.all([Effect.exit(other.await), Effect.exit(queued.await)]), "the others")
        yield* Effect.sleep(30)
        const midway = { stats: yield* pool.stats, log: [...log] }
        const closing = yield* within(Effect.exit(closer.await), "the closer")
        yield* Effect.sleep(20)
        return { others, midway, closing, log: [...log], stats: yield* pool.stats }
      }))
      assert.deepStrictEqual(result.others.map(outcome), ["PoolShutdown", "PoolShutdown"])
      // the close has returned to the closer, which works on: the pool reports itself closed, the job still running
      assert.deepStrictEqual(result.midway.log, ["closed"])
      assert.deepStrictEqual([result.midway.stats.state, result.midway.stats.running], ["closed", 1])
      checkAccounts(result.midway.stats, "while the closer works on")
      assert.strictEqual(outcome(result.closing), "PoolShutdown")
      assert.deepStrictEqual(result.log, ["closed", "worked on"])
      checkAccounts(result.stats, "after the close")
      assert.strictEqual(result.stats.running, 0)
      assert.isAtLeast(started, 2)
      assert.strictEqual(alive, 0)
    }))

  it.live("a keyed closer: the jobs waiting for its key settle with PoolShutdown", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
              : Effect.succeed(n),
          concurrency: 4
        }).pipe(Scope.provide(scope))
        const handles = yield* Effect.forEach([0, 1, 2, 3], (n) => pool.submit(n, { key: "k", priority: n }))
        const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
        yield* Effect.sleep(20)
        return { exits, stats: yield* pool.stats }
      }))
      assert.deepStrictEqual(result.exits.map(outcome), Array(4).fill("PoolShutdown"))
      checkAccounts(result.stats, "after the close")
      assert.isAtLeast(started, 1)
      assert.strictEqual(alive, 0)
    }))

  it.live("a handler of an Executor closes the executor's scope", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const executor = yield* WorkerPool.makeExecutor({ concurrency: 2 }).pipe(Scope.provide(scope))
        const slow = yield* executor.submit(Effect.as(Effect.sleep(5_000), 1))
        const queued = yield* executor.submit(Effect.succeed(2))
        const closing = yield* executor.submit(
          Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
        )
        const exits = yield* within(
          Effect.all([Effect.exit(slow.await), Effect.exit(queued.await), Effect.exit(closing.await)]),
          "the handles"
        )
        yield* Effect.sleep(20)
        return { exits, stats: yield* executor.stats }
      }))
      // `queued` started before the closer: two workers, the slow job and then `queued`, which succeeds at once
      assert.deepStrictEqual(result.exits.map(outcome), ["PoolShutdown", "ok:2", "PoolShutdown"])
      checkAccounts(result.stats, "after the close")
      assert.isAtLeast(started, 2)
      assert.strictEqual(alive, 0)
    }))

  it.live("a pool provided by a Layer, built in a scope its handler closes", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(
          WorkerPool.layer(Pool, {
            handler: (n: number) =>
              n === 0
                ? Effect.sleep(10).pipe(
                  Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                  Effect.as(0)
                )
                : Effect.as(Effect.sleep(5_000), n),
            concurrency: 2
          }),
          scope
        )
        const pool = Context.get(context, Pool)
        const handles = yield* Effect.forEach([1, 0, 2], (n) => pool.submit(n))
        const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
        yield* Effect.sleep(20)
        return { exits, stats: yield* pool.stats }
      }))
      assert.deepStrictEqual(result.exits.map(outcome), Array(3).fill("PoolShutdown"))
      checkAccounts(result.stats, "after the close")
      assert.isAtLeast(started, 2)
      assert.strictEqual(alive, 0)
    }))

  it.live("a handler closes the scope while other jobs wait between attempts and the pool is paused", () =>
    Effect.gen(function*() {
      const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        let poolRef: WorkerPool.WorkerPool<number, number, string> | undefined
        const pool: WorkerPool.WorkerPool<number, number, string> = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(40).pipe(
                Effect.andThen(Effect.suspend(() => poolRef!.pause)),
                Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                Effect.as(0)
              )
              : n === 1
              ? Effect.fail("again")
              : Effect.succeed(n),
          concurrency: 2,
          retry: Schedule.spaced("1 second")
        }).pipe(Scope.provide(scope))
        poolRef = pool
        const handles = yield* Effect.forEach([0, 1], (n) => pool.submit(n))
        yield* Effect.sleep(20)
        // paused by the closer before it closes: these stay queued
        const queued = yield* Effect.forEach([2, 3], (n) => pool.submit(n))
        const exits = yield* settleAll(pool, [...handles, ...queued])
        yield* Effect.sleep(20)
        return { exits, stats: yield* pool.stats }
      }))
      assert.deepStrictEqual(result.exits.map(outcome).slice(0, 2), ["PoolShutdown", "PoolShutdown"])
      // 2 and 3 ran before the pause, or settled with PoolShutdown
      for (const o of result.exits.map(outcome).slice(2)) assert.include(["ok:2", "ok:3", "PoolShutdown"], o)
      const stats = result.stats
      assert.deepStrictEqual([stats.state, stats.retrying, stats.queued, stats.running], ["closed", 0, 0, 0])
      checkAccounts(stats, "after the close")
      assert.isAtLeast(started, 2)
      assert.strictEqual(alive, 0)
    }))

  it.live("a handler closes the scope while an outside close drains it: the second close returns, the drain ends", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const go = yield* Deferred.make<void>()
      const pool = yield* WorkerPool.make({
        handler: (n: number) =>
          n === 0
            ? Deferred.await(go).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
            : Effect.as(Effect.sleep(50), n),
        concurrency: 2,
        shutdownTimeout: "Infinity"
      }).pipe(Scope.provide(scope))
      const handles = yield* Effect.forEach([0, 1, 2], (n) => pool.submit(n))
      const outside = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* Effect.sleep(10)
      yield* Deferred.succeed(go, undefined)
      yield* within(Fiber.join(outside), "the outside close")
      const exits = yield* settleAll(pool, handles)
      // the scope was closing already: the handler's close returned at once, and the drain let every job finish
      assert.deepStrictEqual(exits.map(outcome), ["ok:0", "ok:1", "ok:2"])
      assert.strictEqual((yield* pool.stats).state, "closed")
    }))

  // A parallel scope that holds the pool alone runs the pool's finalizers (in their own sequential scope) on the
  // closing fiber itself, which the close sees as the pool's own.
  it.live("a handler closes a parallel scope the pool was built in", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make("parallel")
      const pool = yield* WorkerPool.make({
        handler: (n: number) =>
          n === 0
            ? Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
            : Effect.as(Effect.sleep(5_000), n),
        concurrency: 2,
        shutdownTimeout: "200 millis"
      }).pipe(Scope.provide(scope))
      const handles = yield* Effect.forEach([1, 0, 2], (n) => pool.submit(n))
      const exits = yield* settleAll(pool, handles)
      assert.deepStrictEqual(exits.map(outcome), Array(3).fill("PoolShutdown"))
      assert.strictEqual((yield* pool.stats).state, "closed")
    }))

  // Not a close from inside: in a parallel scope the pool's finalizers (its close, and the close of its fibers'
  // set) must still run in order, or the drain would race the interruption of every worker.
  it.live("closing a parallel scope from outside drains the pool within shutdownTimeout", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make("parallel")
      const pool = yield* WorkerPool.make({
        handler: (n: number) => Effect.as(Effect.sleep(100), n),
        concurrency: 2,
        shutdownTimeout: "1 second"
      }).pipe(Scope.provide(scope))
      const handles = yield* Effect.forEach([1, 2, 3], (n) => pool.submit(n))
      yield* Effect.sleep(10)
      yield* within(Scope.close(scope, Exit.void), "the close")
      const exits = yield* settleAll(pool, handles)
      assert.deepStrictEqual(exits.map(outcome), ["ok:1", "ok:2", "ok:3"])
    }))

  // a release that shuts the pool down: natural outside, and run on the closing worker when a handler closes
  it.live("a handler closes a scope where the pool was acquired with `shutdown` as its release", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const pool = yield* Effect.acquireRelease(
        WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
              : Effect.as(Effect.sleep(5_000), n),
          concurrency: 2
        }),
        (pool) => pool.shutdown
      ).pipe(Scope.provide(scope))
      const handles = yield* Effect.forEach([1, 0, 2], (n) => pool.submit(n))
      const exits = yield* settleAll(pool, handles)
      assert.deepStrictEqual(exits.map(outcome), Array(3).fill("PoolShutdown"))
      assert.strictEqual((yield* pool.stats).state, "closed")
    }))
})

class Pool extends Context.Service<Pool, WorkerPool.WorkerPool<number, number>>()("test/selfClose/Pool") {}

// -----------------------------------------------------------------------------
// the durable queue
// -----------------------------------------------------------------------------

const redisPrefix = `ewp-selfclose-${runId}-`
const pgSchema = `ewp_selfclose_${runId.replace(/-/g, "_")}`
const redisClient = NodeRedis.layer({ url: redisUrl })
const pgClient = PgClient.layer({ ...pgConfig, startupParameters: { search_path: pgSchema } })
const pgWithSchema = Layer.effectDiscard(
  SqlClient.SqlClient.use((sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(pgSchema)}`)
).pipe(Layer.provideMerge(pgClient))

type Kind = "memory" | "ewp" | "stock" | "postgres"

const locks = { lockExpiration: "5 seconds", lockRefreshInterval: "1 second" } as const

const makeStore = (kind: Kind): Layer.Layer<DurableQueue.DurableQueueStore, unknown> => {
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

let counter = 0
const numbers = (label: string, maxAttempts = 1) =>
  DurableQueue.define({
    name: `selfclose-${label}-${++counter}-${Math.random().toString(36).slice(2, 8)}`,
    input: Schema.Number,
    success: Schema.Number,
    maxAttempts,
    retrySchedule: Schedule.spaced("10 millis"),
    resultTimeToLive: "1 hour"
  })

const outcomeOf = <I, A, E>(queue: DurableQueue.DurableQueue<I, A, E>, id: string) =>
  DurableQueue.result(queue, id, { pollInterval: "20 millis" }).pipe(Effect.timeout("20 seconds"), Effect.exit)

const bump = (runs: Map<string, number>, id: string) => runs.set(id, (runs.get(id) ?? 0) + 1)

/** On stores that count (not the memory store), the queue holds nothing any more. */
const assertDrained = <I, A, E>(kind: Kind, queue: DurableQueue.DurableQueue<I, A, E>) =>
  Effect.gen(function*() {
    if (kind === "memory") {
      assert.strictEqual((yield* DurableQueue.counts(queue)).failed, 0)
      return
    }
    yield* eventually(
      DurableQueue.counts(queue),
      (counts) => counts.waiting === 0 && counts.delayed === 0 && counts.running === 0 && counts.failed === 0
    )
  })

/** Runs the jobs left in `queue` on a fresh consumer until every id has an outcome: `n + 100` for each. */
const finishOnFreshConsumer = <E>(
  queue: DurableQueue.DurableQueue<number, number, E>,
  ids: ReadonlyArray<string>,
  runs: Map<string, number>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* DurableQueue.consume(queue, {
      concurrency: 2,
      handler: (n, job) => Effect.sync(() => bump(runs, job.id)).pipe(Effect.as(n + 100))
    }).pipe(Scope.provide(scope))
    const exits = yield* Effect.forEach(ids, (id) => outcomeOf(queue, id))
    yield* within(Scope.close(scope, Exit.void), "the fresh consumer's close", 10_000)
    return exits
  })

for (const [kind, label] of kinds) {
  describe(`a handler closing its own durable consumer on ${label}`, () => {
    const live = (
      title: string,
      body: () => Effect.Effect<void, unknown, DurableQueue.DurableQueueStore | Scope.Scope>,
      timeout = 30_000
    ) => it.live(title, () => Effect.provide(Effect.scoped(body()), makeStore(kind)), timeout)

    live(
      "with shutdownTimeout 0 and two other jobs running: all three are released and run again once",
      () =>
        Effect.gen(function*() {
          const queue = numbers("zero")
          const scope = yield* Scope.make()
          const started = yield* Queue.unbounded<string>()
          const runs = new Map<string, number>()
          const log: Array<string> = []
          yield* DurableQueue.consume(queue, {
            concurrency: 3,
            shutdownTimeout: 0,
            handler: (n, job) =>
              Effect.andThen(
                Effect.sync(() => bump(runs, job.id)).pipe(Effect.andThen(Queue.offer(started, job.id))),
                n === 0
                  ? Effect.sleep("50 millis").pipe(
                    Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                    Effect.andThen(Effect.sync(() => log.push("closer went on"))),
                    Effect.as(-1)
                  )
                  : Effect.sleep("10 seconds").pipe(
                    Effect.onInterrupt(() => Effect.sync(() => log.push(`interrupted ${job.id}`))),
                    Effect.as(n)
                  )
              )
          }).pipe(Scope.provide(scope))
          const ids = [
            yield* DurableQueue.offer(queue, 1, { id: "a" }),
            yield* DurableQueue.offer(queue, 0, { id: "closing" }),
            yield* DurableQueue.offer(queue, 2, { id: "b" })
          ]
          yield* takeN(started, 3)
          yield* eventually(Effect.sync(() => scope.state._tag), (tag) => tag === "Closed")
          const exits = yield* finishOnFreshConsumer(queue, ids, runs)
          assert.deepStrictEqual(exits, [Exit.succeed(101), Exit.succeed(100), Exit.succeed(102)])
          assert.deepStrictEqual([...runs].sort(), [["a", 2], ["b", 2], ["closing", 2]])
          assert.deepStrictEqual(log.sort(), ["interrupted a", "interrupted b"])
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
          yield* assertDrained(kind, queue)
        })
    )

    live(
      "concurrency 1 with jobs waiting behind the closer: the close returns, nothing is lost or spent",
      () =>
        Effect.gen(function*() {
          const queue = numbers("one")
          const scope = yield* Scope.make()
          const runs = new Map<string, number>()
          const closed = yield* Deferred.make<void>()
          yield* Scope.addFinalizer(scope, Deferred.succeed(closed, undefined))
          yield* DurableQueue.consume(queue, {
            handler: (n, job) =>
              Effect.andThen(
                Effect.sync(() => bump(runs, job.id)),
                n === 0
                  ? Effect.sleep("20 millis").pipe(
                    Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                    Effect.as(-1)
                  )
                  : Effect.succeed(n)
              )
          }).pipe(Scope.provide(scope))
          const ids = [yield* DurableQueue.offer(queue, 0, { id: "closing" })]
          for (let n = 1; n <= 5; n++) ids.push(yield* DurableQueue.offer(queue, n, { id: `j${n}` }))
          yield* within(Deferred.await(closed), "the close", 10_000)
          const ranBefore = new Map(runs)
          const exits = yield* finishOnFreshConsumer(queue, ids, runs)
          for (const [i, exit] of exits.entries()) {
            const n = i === 0 ? 0 : i
            // a job that ran on the first consumer before the close keeps its first outcome
            assert.isTrue(
              Exit.isSuccess(exit) && (exit.value === n + 100 || (i > 0 && exit.value === n)),
              `${ids[i]}: ${JSON.stringify(exit)}`
            )
          }
          assert.strictEqual(ranBefore.get("closing"), 1)
          assert.strictEqual(runs.get("closing"), 2)
          for (const id of ids) assert.isAtMost(runs.get(id) ?? 0, 2, id)
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
          yield* assertDrained(kind, queue)
        })
    )

    live("two handlers close the consumer at once: the close returns and no job is lost", () =>
      Effect.gen(function*() {
        const queue = numbers("two")
        const scope = yield* Scope.make()
        const started = yield* Queue.unbounded<string>()
        const runs = new Map<string, number>()
        const closed = yield* Deferred.make<void>()
        yield* Scope.addFinalizer(scope, Deferred.succeed(closed, undefined))
        const go = yield* Deferred.make<void>()
        yield* DurableQueue.consume(queue, {
          concurrency: 3,
          shutdownTimeout: "5 seconds",
          handler: (n, job) =>
            Effect.andThen(
              Effect.sync(() => bump(runs, job.id)).pipe(Effect.andThen(Queue.offer(started, job.id))),
              n === 0
                ? Deferred.await(go).pipe(
                  Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                  Effect.as(-1)
                )
                : Effect.as(Effect.sleep("100 millis"), n)
            )
        }).pipe(Scope.provide(scope))
        const ids = [
          yield* DurableQueue.offer(queue, 0, { id: "c1" }),
          yield* DurableQueue.offer(queue, 0, { id: "c2" }),
          yield* DurableQueue.offer(queue, 1, { id: "other" })
        ]
        yield* takeN(started, 3)
        yield* Deferred.succeed(go, undefined)
        yield* within(Deferred.await(closed), "the close", 10_000)
        const exits = yield* finishOnFreshConsumer(queue, ids, runs)
        assert.deepStrictEqual(exits.map(outcome).slice(2), ["ok:1"])
        for (const [i, exit] of exits.slice(0, 2).entries()) {
          // the closer released (100 on the fresh consumer), or, for the second closer whose close returned at once
          // (the scope was closing already), its own outcome
          assert.isTrue(Exit.isSuccess(exit) && (exit.value === 100 || exit.value === -1), `${ids[i]}`)
        }
        for (const id of ids) assert.isAtMost(runs.get(id) ?? 0, 2, id)
        assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        yield* assertDrained(kind, queue)
      }))
  })
}

describe("a handler closing its own durable consumer, elsewhere", () => {
  const live = (
    title: string,
    body: () => Effect.Effect<void, unknown, DurableQueue.DurableQueueStore | Scope.Scope>,
    timeout = 30_000
  ) => it.live(title, () => Effect.provide(Effect.scoped(body()), DurableQueue.layerMemory), timeout)

  live("no fiber of the consumer is left alive after the close", () =>
    Effect.gen(function*() {
      const queue = numbers("fibers")
      const { alive, started } = yield* trackFibers(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const closed = yield* Deferred.make<void>()
        yield* Scope.addFinalizer(scope, Deferred.succeed(closed, undefined))
        yield* DurableQueue.consume(queue, {
          concurrency: 3,
          shutdownTimeout: "2 seconds",
          handler: (n) =>
            n === 0
              ? Effect.sleep("20 millis").pipe(
                Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                Effect.as(-1)
              )
              : Effect.as(Effect.sleep("100 millis"), n)
        }).pipe(Scope.provide(scope))
        yield* DurableQueue.offer(queue, 1)
        yield* DurableQueue.offer(queue, 0)
        yield* within(Deferred.await(closed), "the close", 10_000)
        yield* Effect.sleep("50 millis")
      }))
      assert.isAtLeast(started, 4)
      assert.strictEqual(alive, 0)
    }))
})

describe("the servers after the self-close cases", () => {
  it.live("the Redis run leaves no key behind", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* redis.send<Array<string>>("KEYS", `${redisPrefix}*`)
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
