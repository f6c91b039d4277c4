/**
 * Durable queues across processes: this library's `DurableQueue` on its Redis and PostgreSQL layers, the
 * `PersistedQueue` stores driven directly (`PersistedQueue.makeFactory` over the store, its `offer` and `take`, no
 * `DurableQueue` in between), and BullMQ on the same Redis. Each implementation says how to make a producer (in
 * the bench process) and a consumer (in a consumer process, `bench/durable/consumer.ts`), and how to delete what a
 * run left on the server. Every module is imported when a producer or consumer is made, so that BullMQ's processes
 * never load `effect`.
 *
 * - `durable-redis`: `DurableQueue` on `RedisDurableQueue.layer` with its default store (`RedisQueueStore`, one
 *   round trip per job, idle consumers woken by the server) and default timings.
 * - `durable-redis-stock`: the same layer with `store: "stock"` (`PersistedQueue`'s own Redis store, polled every
 *   100 ms, the layer's default for it).
 * - `persisted-redis-ewp` / `persisted-redis-stock`: those two stores driven directly, with the timings the layer
 *   gives them (poll 1 s / 100 ms, locks 30 s refreshed every 10 s). The gap between a `durable-*` row and its
 *   `persisted-*` row is what `DurableQueue` adds.
 * - `durable-pg`: `DurableQueue` on `PgDurableQueue.layer` (the stock SQL store, polled every 200 ms).
 * - `persisted-pg`: the stock SQL store driven directly with the layer's timings.
 * - `bullmq`: a BullMQ `Queue` and `Worker` (defaults: completed jobs kept, no retries), on the same Redis, through
 *   node-redis (BullMQ's adapter; `ioredis` is optional in BullMQ 6.7 and not installed).
 *
 * A job is `{ n, t }`: its number and the wall-clock time (ms, sub-millisecond) at which its offer started; the
 * handler is a no-op that reports the job to the consumer process (`onJob`). Producers offer with at most
 * `offerConcurrency` offers in flight (a fiber per offer for the Effect side, as many promise loops for BullMQ).
 *
 * Isolation: every run has a token; Redis keys start with `ewpbench:<token>:` (the Effect side) or live under the
 * BullMQ queue names `ewpbench-<token>-*`, and PostgreSQL tables live in the schema `ewpbench_<token>`, which the
 * run creates (every connection's `search_path`) and drops.
 */
import type * as EffectModule from "effect/Effect"
import type * as LayerModule from "effect/Layer"
import type * as PersistedQueueModule from "effect/persistence/PersistedQueue"
import type { DurableQueueStore } from "../../src/DurableQueue.ts"

/** Where the servers are (the round-trip case points these at its counting proxy). */
export interface Servers {
  readonly redisHost: string
  readonly redisPort: number
  readonly pgHost: string
  readonly pgPort: number
  readonly pgUser: string
  readonly pgDatabase: string
}

export const defaultServers = (): Servers => {
  const redis = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379")
  return {
    redisHost: redis.hostname,
    redisPort: Number(redis.port || 6379),
    pgHost: process.env.PGHOST ?? "127.0.0.1",
    pgPort: Number(process.env.PGPORT ?? 5432),
    pgUser: process.env.PGUSER ?? "postgres",
    pgDatabase: process.env.PGDATABASE ?? "test"
  }
}

export interface Job {
  readonly n: number
  readonly t: number
}

/** Wall-clock milliseconds with a sub-millisecond fraction, comparable between processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now()

export interface Producer {
  /** Makes what offering to `queue` needs (BullMQ: its `Queue`, a connection of its own) before any timing. */
  readonly open: (queue: string) => Promise<void>
  /** Offers the jobs numbered `from` to `from + count - 1` to `queue`, at most `concurrency` offers in flight. */
  readonly offerAll: (queue: string, from: number, count: number, concurrency: number) => Promise<void>
  /** Offers one job, stamped when the offer starts. */
  readonly offerOne: (queue: string, n: number) => Promise<void>
  readonly close: () => Promise<void>
}

export interface Consumer {
  /** Starts taking jobs of the queue (connections are made before). */
  readonly start: () => Promise<void>
  /** Stops taking jobs and closes. */
  readonly close: () => Promise<void>
}

export interface Run {
  /** unique to the run: key prefixes, queue names, schema */
  readonly token: string
  readonly servers: Servers
}

export interface DurableImplementation {
  readonly producer: (run: Run) => Promise<Producer>
  /** A consumer of `queue`, connected; it runs `onJob` for every job it takes, as the job's no-op handler. */
  readonly consumer: (
    run: Run,
    queue: string,
    concurrency: number,
    onJob: (job: Job) => void
  ) => Promise<Consumer>
  /** Deletes every key, table or schema of the run (from the bench process, after the consumers have exited). */
  readonly cleanup: (run: Run) => Promise<void>
  /** Prepares the server for the run (the PostgreSQL schema). */
  readonly prepare?: ((run: Run) => Promise<void>) | undefined
}

const redisPrefix = (run: Run) => `ewpbench:${run.token}:`
const pgSchema = (run: Run) => `ewpbench_${run.token.replace(/[^A-Za-z0-9_]/g, "_")}`
const redisUrl = (servers: Servers) => `redis://${servers.redisHost}:${servers.redisPort}`

/** Deletes every key that starts with `pattern` (a SCAN pattern), with a plain node-redis client. */
const deleteRedisKeys = async (servers: Servers, pattern: string): Promise<void> => {
  const { createClient } = await import("redis")
  const client = createClient({ url: redisUrl(servers) })
  client.on("error", () => {})
  await client.connect()
  try {
    let cursor = "0"
    do {
      const reply = (await client.sendCommand(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])) as [
        string,
        Array<string>
      ]
      cursor = reply[0]
      if (reply[1].length > 0) await client.sendCommand(["UNLINK", ...reply[1]])
    } while (cursor !== "0")
  } finally {
    await client.close()
  }
}

// -----------------------------------------------------------------------------
// the Effect side
// -----------------------------------------------------------------------------

type StoreKind =
  | "durable-redis"
  | "durable-redis-stock"
  | "durable-pg"
  | "persisted-redis-ewp"
  | "persisted-redis-stock"
  | "persisted-pg"

/** The modules every Effect implementation needs, imported on first use. */
const effectModules = async () => {
  const [Effect, Exit, Layer, ManagedRuntime, Schema, Scope, Fiber] = await Promise.all([
    import("effect/Effect"),
    import("effect/Exit"),
    import("effect/Layer"),
    import("effect/ManagedRuntime"),
    import("effect/Schema"),
    import("effect/Scope"),
    import("effect/Fiber")
  ])
  return { Effect, Exit, Layer, ManagedRuntime, Schema, Scope, Fiber }
}

const jobSchema = async () => {
  const Schema = await import("effect/Schema")
  return Schema.Struct({ n: Schema.Number, t: Schema.Number })
}

const pgClientLayer = async (run: Run) => {
  const PgClient = await import("@effect/sql-pg/PgClient")
  const s = run.servers
  return PgClient.layer({
    host: s.pgHost,
    port: s.pgPort,
    username: s.pgUser,
    database: s.pgDatabase,
    startupParameters: { search_path: pgSchema(run) }
  })
}

/** Runs one SQL statement on a connection of its own (schema creation and removal). */
const pgStatement = async (run: Run, statement: (schema: string) => string): Promise<void> => {
  const { Effect, Layer } = await effectModules()
  const PgClient = await import("@effect/sql-pg/PgClient")
  const SqlClient = await import("effect/sql/SqlClient")
  const s = run.servers
  const client = PgClient.layer({ host: s.pgHost, port: s.pgPort, username: s.pgUser, database: s.pgDatabase })
  await Effect.runPromise(
    SqlClient.SqlClient.use((sql) => sql.unsafe(statement(pgSchema(run)))).pipe(
      Effect.provide(Layer.fresh(client)),
      Effect.asVoid
    )
  )
}

/** The `DurableQueueStore` layer of a `durable-*` implementation. */
const durableLayer = async (kind: StoreKind, run: Run): Promise<LayerModule.Layer<DurableQueueStore, unknown>> => {
  if (kind === "durable-pg") {
    const PgDurableQueue = await import("../../layers/PgDurableQueue.ts")
    const { Layer } = await effectModules()
    return PgDurableQueue.layerStore({ tableName: "jobs" }).pipe(Layer.provide(await pgClientLayer(run)))
  }
  const RedisDurableQueue = await import("../../layers/RedisDurableQueue.ts")
  return RedisDurableQueue.layer({
    prefix: redisPrefix(run),
    store: kind === "durable-redis-stock" ? "stock" : "ewp",
    redis: { url: redisUrl(run.servers) }
  })
}

/** The `PersistedQueueStore` layer of a `persisted-*` implementation, with the timings the library's layers use. */
const storeLayer = async (
  kind: StoreKind,
  run: Run
): Promise<LayerModule.Layer<PersistedQueueModule.PersistedQueueStore, unknown>> => {
  const { Layer } = await effectModules()
  const PersistedQueue = await import("effect/persistence/PersistedQueue")
  const locks = { lockExpiration: "30 seconds", lockRefreshInterval: "10 seconds" } as const
  if (kind === "persisted-pg") {
    return PersistedQueue.layerStoreSql({ tableName: "jobs", pollInterval: "200 millis", ...locks }).pipe(
      Layer.provide(await pgClientLayer(run))
    )
  }
  const NodeRedis = await import("@effect/platform-node/NodeRedis")
  const redis = NodeRedis.layer({ url: redisUrl(run.servers) })
  // the prefix the library's layer would give a queue's keys is `<prefix>{<queue>}:`; one prefix serves here
  const prefix = `${redisPrefix(run)}{direct}:`
  if (kind === "persisted-redis-stock") {
    return PersistedQueue.layerStoreRedis({ prefix, pollInterval: "100 millis", ...locks }).pipe(Layer.provide(redis))
  }
  const RedisQueueStore = await import("../../src/RedisQueueStore.ts")
  return RedisQueueStore.layer({ prefix, pollInterval: "1 second", ...locks }).pipe(Layer.provide(redis))
}

const makeDurable = (kind: StoreKind): DurableImplementation => {
  const isPg = kind === "durable-pg" || kind === "persisted-pg"
  const direct = kind.startsWith("persisted-")
  return {
    prepare: isPg ? (run) => pgStatement(run, (schema) => `CREATE SCHEMA IF NOT EXISTS "${schema}"`) : undefined,
    cleanup: isPg
      ? (run) => pgStatement(run, (schema) => `DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      : (run) => deleteRedisKeys(run.servers, `${redisPrefix(run)}*`),
    producer: async (run) => {
      const { Effect, ManagedRuntime } = await effectModules()
      const Job = await jobSchema()
      if (direct) {
        const PersistedQueue = await import("effect/persistence/PersistedQueue")
        const runtime = ManagedRuntime.make(await storeLayer(kind, run))
        const factory = await runtime.runPromise(PersistedQueue.makeFactory)
        const queues = new Map<string, PersistedQueueOf>()
        const queueOf = async (name: string) => {
          let queue = queues.get(name)
          if (queue === undefined) {
            queue = await Effect.runPromise(factory.make({ name, schema: Job }))
            queues.set(name, queue)
          }
          return queue
        }
        const offer = (queue: PersistedQueueOf, n: number) =>
          Effect.suspend(() => queue.offer({ n, t: now() })) as EffectModule.Effect<unknown, unknown>
        return {
          open: async (name) => {
            await queueOf(name)
          },
          offerAll: async (name, from, count, concurrency) => {
            const queue = await queueOf(name)
            await runtime.runPromise(
              Effect.forEach(range(from, count), (n) => offer(queue, n), { concurrency, discard: true })
            )
          },
          offerOne: async (name, n) => {
            const queue = await queueOf(name)
            await runtime.runPromise(offer(queue, n))
          },
          close: () => runtime.dispose()
        }
      }
      const { DurableQueue } = await import("../../src/index.ts")
      const Schema = await import("effect/Schema")
      const runtime = ManagedRuntime.make(await durableLayer(kind, run))
      const definitions = new Map<string, ReturnType<typeof define>>()
      const define = (name: string) => DurableQueue.define({ name, input: Job, success: Schema.Void })
      const definitionOf = (name: string) => {
        let definition = definitions.get(name)
        if (definition === undefined) {
          definition = define(name)
          definitions.set(name, definition)
        }
        return definition
      }
      const offer = (name: string, n: number) =>
        Effect.suspend(() => DurableQueue.offer(definitionOf(name), { n, t: now() }))
      return {
        open: async (name) => {
          definitionOf(name)
          await runtime.runPromise(Effect.void)
        },
        offerAll: (name, from, count, concurrency) =>
          runtime.runPromise(Effect.forEach(range(from, count), (n) => offer(name, n), { concurrency, discard: true })),
        offerOne: async (name, n) => {
          await runtime.runPromise(offer(name, n))
        },
        close: () => runtime.dispose()
      }
    },
    consumer: async (run, name, concurrency, onJob) => {
      const { Effect, Exit, ManagedRuntime, Scope } = await effectModules()
      const Job = await jobSchema()
      const handler = (job: Job) => Effect.sync(() => onJob(job))
      if (direct) {
        const PersistedQueue = await import("effect/persistence/PersistedQueue")
        const runtime = ManagedRuntime.make(await storeLayer(kind, run))
        const factory = await runtime.runPromise(PersistedQueue.makeFactory)
        const queue = await Effect.runPromise(factory.make({ name, schema: Job }))
        const scope = Effect.runSync(Scope.make())
        return {
          // `concurrency` fibers, each taking one job at a time, for ever
          start: () =>
            runtime.runPromise(
              Effect.forEach(
                range(0, concurrency),
                () => Effect.forkIn(Effect.forever(queue.take(handler), { disableYield: true }), scope),
                { discard: true }
              )
            ),
          close: async () => {
            await runtime.runPromise(Scope.close(scope, Exit.void))
            await runtime.dispose()
          }
        }
      }
      const { DurableQueue } = await import("../../src/index.ts")
      const Schema = await import("effect/Schema")
      const queue = DurableQueue.define({ name, input: Job, success: Schema.Void })
      const runtime = ManagedRuntime.make(await durableLayer(kind, run))
      // builds the layer (connects) now, before the consumer starts
      await runtime.runPromise(Effect.void)
      const scope = Effect.runSync(Scope.make())
      return {
        start: () =>
          runtime.runPromise(Scope.provide(DurableQueue.consume(queue, { handler, concurrency }), scope)).then(
            () => undefined
          ),
        close: async () => {
          await runtime.runPromise(Scope.close(scope, Exit.void))
          await runtime.dispose()
        }
      }
    }
  }
}

type PersistedQueueOf = PersistedQueueModule.PersistedQueue<Job>

const range = (from: number, count: number): Array<number> => Array.from({ length: count }, (_, i) => from + i)

export const durableRedis = makeDurable("durable-redis")
export const durableRedisStock = makeDurable("durable-redis-stock")
export const durablePg = makeDurable("durable-pg")
export const persistedRedisEwp = makeDurable("persisted-redis-ewp")
export const persistedRedisStock = makeDurable("persisted-redis-stock")
export const persistedPg = makeDurable("persisted-pg")

// -----------------------------------------------------------------------------
// BullMQ
// -----------------------------------------------------------------------------

const bullName = (run: Run, queue: string) => `ewpbench-${run.token}-${queue}`

/**
 * BullMQ 6.7 makes `ioredis` optional and it is not installed here: its connections are node-redis clients (the
 * client the Effect side uses too), through BullMQ's own adapter (`createNodeRedisClient`), made by the factory its
 * documentation gives for that.
 */
const loadBullmq = async () => {
  const bullmq = await import("bullmq")
  const { createClient } = await import("redis")
  bullmq.RedisConnection.clientFactory = (options) =>
    bullmq.createNodeRedisClient(
      createClient({ url: `redis://${options.host ?? "127.0.0.1"}:${options.port ?? 6379}` })
    )
  return bullmq
}

export const bullmq: DurableImplementation = {
  cleanup: (run) => deleteRedisKeys(run.servers, `bull:ewpbench-${run.token}-*`),
  producer: async (run) => {
    const { Queue } = await loadBullmq()
    const connection = { host: run.servers.redisHost, port: run.servers.redisPort }
    const queues = new Map<string, InstanceType<typeof Queue>>()
    const queueOf = (name: string) => {
      let queue = queues.get(name)
      if (queue === undefined) {
        queue = new Queue(bullName(run, name), { connection })
        queues.set(name, queue)
      }
      return queue
    }
    const offer = async (name: string, n: number) => {
      const job: Job = { n, t: now() }
      await queueOf(name).add("job", job)
    }
    return {
      open: async (name) => {
        await queueOf(name).waitUntilReady()
      },
      offerAll: async (name, from, count, concurrency) => {
        let next = from
        const end = from + count
        const loop = async () => {
          while (next < end) await offer(name, next++)
        }
        await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop))
      },
      offerOne: offer,
      close: async () => {
        await Promise.all([...queues.values()].map((queue) => queue.close()))
      }
    }
  },
  consumer: async (run, name, concurrency, onJob) => {
    const { Worker } = await loadBullmq()
    const worker = new Worker<Job>(
      bullName(run, name),
      async (job) => {
        onJob(job.data)
      },
      {
        connection: { host: run.servers.redisHost, port: run.servers.redisPort, maxRetriesPerRequest: null },
        concurrency,
        autorun: false
      }
    )
    await worker.waitUntilReady()
    let running: Promise<void> | undefined
    return {
      start: async () => {
        running = worker.run().catch(() => {})
      },
      close: async () => {
        await worker.close()
        await running
      }
    }
  }
}
