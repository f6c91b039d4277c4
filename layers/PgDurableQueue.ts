/**
 * Durable queues on PostgreSQL: `PersistedQueue`'s SQL store and `Persistence`'s SQL backing, through
 * `@effect/sql-pg`. Jobs live in one table (created with its indexes when the layer is built); outcomes in
 * `Persistence`'s `effect_persistence` table.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as Persistence from "effect/persistence/Persistence"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Os from "node:os"
import { DurableQueueStore, type FailedRecord } from "../src/DurableQueue.ts"
import { parseConsumer } from "../src/internal/consumers.ts"
import { invalidStoreOption, resolveTimings, type StoreTimings } from "../src/internal/durableOptions.ts"
import { DurableQueueError, type InvalidQueueOptions } from "../src/WorkerPoolError.ts"

/**
 * The options of the PostgreSQL store.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends StoreTimings {
  /** The jobs' table. Default `"effect_worker_pool_jobs"`. */
  readonly tableName?: string | undefined
  /** How often an idle consumer looks for new jobs. Default `"200 millis"`. */
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
 * The PostgreSQL store on a `SqlClient` already provided.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore = (
  options: Options = {}
): Layer.Layer<DurableQueueStore, InvalidQueueOptions | SqlError, SqlClient.SqlClient> =>
  Layer.effect(
    DurableQueueStore,
    Effect.gen(function*() {
      const resolved = yield* resolve(options)
      const client = yield* SqlClient.SqlClient
      const sql = client.withoutTransforms()
      const layerScope = yield* Effect.scope
      const table = sql(resolved.tableName)
      const makeStore = PersistedQueue.makeStoreSql({
        tableName: resolved.tableName,
        pollInterval: resolved.pollInterval,
        lockExpiration: resolved.lockExpiration,
        lockRefreshInterval: resolved.lockRefreshInterval
      }).pipe(Effect.provideService(SqlClient.SqlClient, client))
      // Built now, in the layer's scope: the tables are created, so a bad connection fails the layer. PostgreSQL's
      // `CREATE ... IF NOT EXISTS` is not safe when run concurrently, so processes starting together on a fresh
      // database create them one at a time, under a transaction-scoped advisory lock.
      // The creation runs in a scope of its own, closed before the transaction ends: what the stores built there
      // start is bound to the transaction's connection. The layer's own stores are built after it, on tables that
      // exist.
      const consumersTable = sql(`${resolved.tableName}_consumers`)
      // `updated_at` of a failed job (a `TIMESTAMP` written with `NOW()`), in milliseconds since the epoch
      const failedAtSql = sql.literal("(EXTRACT(EPOCH FROM updated_at::timestamptz) * 1000)::float8 AS failed_at")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(${schemaLock})`
        yield* makeStore
        yield* Layer.build(Persistence.layerSql)
        yield* sql`
          CREATE TABLE IF NOT EXISTS ${consumersTable} (
            queue_name VARCHAR(100) NOT NULL,
            id VARCHAR(64) NOT NULL,
            info TEXT NOT NULL,
            joined_at TIMESTAMPTZ NOT NULL,
            seen_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (queue_name, id)
          )
        `
      })).pipe(client.withTransaction, Effect.provideService(SqlClient.SqlClient, client))
      const shared = yield* makeStore
      const persistence = Context.get(
        yield* Layer.buildWithScope(Persistence.layerSql, layerScope),
        Persistence.Persistence
      )
      const resultsStoreId = (queue: string) => `effect-worker-pool/${queue}`
      const fail = (queue: string, operation: DurableQueueError["operation"]) => (error: SqlError) =>
        new DurableQueueError({ queue, operation, reason: `PostgreSQL: ${error.message}` })
      return DurableQueueStore.of({
        kind: "postgres",
        store: () => Effect.succeed(shared),
        consumerStore: () => Effect.orDie(makeStore),
        persistence,
        resultsStoreId,
        failed: (queue) =>
          sql<Row>`
            SELECT id, element, attempts, COALESCE(last_failure, '') AS reason, ${failedAtSql} FROM ${table}
            WHERE queue_name = ${queue} AND state = 'failed'
            ORDER BY updated_at ASC, sequence ASC
          `.pipe(Effect.map((rows) => rows.map(toRecord)), Effect.mapError(fail(queue, "failed"))),
        failedJob: (queue, id) =>
          sql<Row>`
            SELECT id, element, attempts, COALESCE(last_failure, '') AS reason, ${failedAtSql} FROM ${table}
            WHERE queue_name = ${queue} AND id = ${id} AND state = 'failed'
          `.pipe(
            Effect.map((rows) => rows.length === 0 ? undefined : toRecord(rows[0])),
            Effect.mapError(fail(queue, "failed"))
          ),
        remove: (queue, id) =>
          sql<{ readonly id: string }>`
            DELETE FROM ${table} WHERE queue_name = ${queue} AND id = ${id} AND state = 'failed' RETURNING id
          `.pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.mapError(fail(queue, "remove"))
          ),
        counts: (queue) =>
          sql<
            {
              readonly waiting: number
              readonly delayed: number
              readonly running: number
              readonly failed: number
              readonly oldest: number | null
            }
          >`
            SELECT
              COUNT(*) FILTER (WHERE state = 'pending' AND acquired_by IS NULL AND visible_at <= NOW()) AS waiting,
              COUNT(*) FILTER (WHERE state = 'pending' AND acquired_by IS NULL AND visible_at > NOW()) AS delayed,
              COUNT(*) FILTER (WHERE state = 'pending' AND acquired_by IS NOT NULL) AS running,
              COUNT(*) FILTER (WHERE state = 'failed') AS failed,
              (EXTRACT(EPOCH FROM NOW() - (
                MIN(visible_at) FILTER (WHERE state = 'pending' AND acquired_by IS NULL AND visible_at <= NOW())
              )::timestamptz) * 1000)::float8 AS oldest
            FROM ${table} WHERE queue_name = ${queue}
          `.pipe(
            Effect.map(([row]) => ({
              waiting: Number(row.waiting),
              delayed: Number(row.delayed),
              running: Number(row.running),
              failed: Number(row.failed),
              oldestWaitingMillis: row.oldest === null ? undefined : Math.max(0, Math.round(Number(row.oldest)))
            })),
            Effect.mapError(fail(queue, "counts"))
          ),
        heartbeat: (queue, beat, timeToLive) =>
          Effect.gen(function*() {
            const info = JSON.stringify({ ...beat, host: Os.hostname(), pid: process.pid })
            const ttl = `${Duration.toMillis(timeToLive)} milliseconds`
            yield* sql`
              INSERT INTO ${consumersTable} (queue_name, id, info, joined_at, seen_at, expires_at)
              VALUES (${queue}, ${beat.id}, ${info}, NOW(), NOW(), NOW() + ${ttl}::interval)
              ON CONFLICT (queue_name, id) DO UPDATE
              SET info = EXCLUDED.info, seen_at = NOW(), expires_at = EXCLUDED.expires_at
            `
            // the consumers of dead processes, of every queue
            yield* sql`DELETE FROM ${consumersTable} WHERE expires_at < NOW()`
          }).pipe(Effect.mapError(fail(queue, "consumers"))),
        leave: (queue, id) =>
          sql`DELETE FROM ${consumersTable} WHERE queue_name = ${queue} AND id = ${id}`.pipe(
            Effect.asVoid,
            Effect.mapError(fail(queue, "consumers"))
          ),
        consumers: (queue) =>
          sql<{ readonly info: string; readonly seen_at: number }>`
            SELECT info, (EXTRACT(EPOCH FROM seen_at) * 1000)::float8 AS seen_at FROM ${consumersTable}
            WHERE queue_name = ${queue} AND expires_at > NOW()
            ORDER BY joined_at ASC, id ASC
          `.pipe(
            Effect.map((rows) => rows.flatMap((row) => parseConsumer(row.info, Math.round(Number(row.seen_at))))),
            Effect.mapError(fail(queue, "consumers"))
          ),
        requeue: (queue, id) =>
          sql<{ readonly id: string }>`
            UPDATE ${table}
            SET state = 'pending', attempts = 0, visible_at = NOW(), last_failure = NULL,
              acquired_at = NULL, acquired_by = NULL, updated_at = NOW()
            WHERE queue_name = ${queue} AND id = ${id} AND state = 'failed'
            RETURNING id
          `.pipe(
            // in one transaction with the removal of the job's old outcome: no run sees the job before both
            Effect.tap((rows): Effect.Effect<unknown, SqlError> =>
              rows.length === 0
                ? Effect.void
                : sql`DELETE FROM effect_persistence WHERE store_id = ${resultsStoreId(queue)} AND id = ${id}`
            ),
            Effect.map((rows) => rows.length > 0),
            sql.withTransaction,
            Effect.mapError(fail(queue, "requeue"))
          )
      })
    })
  )

/** The advisory lock under which the tables are created (any fixed number, shared by every process). */
const schemaLock = 0x65777071

/**
 * The PostgreSQL store with its own connection pool: `pg` takes `@effect/sql-pg`'s client options (`url`, `host`,
 * `database`, ...). Building the layer connects and creates the tables.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options & { readonly pg: PgClient.PgPoolConfig }
): Layer.Layer<DurableQueueStore, InvalidQueueOptions | SqlError> =>
  layerStore(options).pipe(Layer.provide(PgClient.layer(options.pg)))

interface Row {
  readonly id: string
  readonly element: string
  readonly attempts: number
  readonly reason: string
  readonly failed_at: number | null
}

const toRecord = (row: Row): FailedRecord => ({
  id: row.id,
  element: Option.getOrUndefined(parseJson(row.element)),
  attempts: Number(row.attempts),
  reason: row.reason,
  failedAt: row.failed_at === null ? undefined : Math.round(Number(row.failed_at))
})

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))

const resolve = (options: Options) =>
  Effect.gen(function*() {
    const tableName = options.tableName ?? "effect_worker_pool_jobs"
    if (typeof tableName !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,50}$/.test(tableName)) {
      return yield* invalidStoreOption("tableName", tableName, "an SQL identifier: letters, digits and _, at most 51")
    }
    const timings = yield* resolveTimings(options, { pollInterval: Duration.millis(200) })
    return { tableName, ...timings }
  })
