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
import { DurableQueueStore, type FailedRecord } from "../src/DurableQueue.ts"
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
      yield* Effect.scoped(Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(${schemaLock})`
        yield* makeStore
        yield* Layer.build(Persistence.layerSql)
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
            SELECT id, element, attempts, COALESCE(last_failure, '') AS reason FROM ${table}
            WHERE queue_name = ${queue} AND state = 'failed'
            ORDER BY updated_at ASC, sequence ASC
          `.pipe(Effect.map((rows) => rows.map(toRecord)), Effect.mapError(fail(queue, "failed"))),
        failedJob: (queue, id) =>
          sql<Row>`
            SELECT id, element, attempts, COALESCE(last_failure, '') AS reason FROM ${table}
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
            { readonly waiting: number; readonly delayed: number; readonly running: number; readonly failed: number }
          >`
            SELECT
              COUNT(*) FILTER (WHERE state = 'pending' AND acquired_by IS NULL AND visible_at <= NOW()) AS waiting,
              COUNT(*) FILTER (WHERE state = 'pending' AND acquired_by IS NULL AND visible_at > NOW()) AS delayed,
              COUNT(*) FILTER (WHERE state = 'pending' AND acquired_by IS NOT NULL) AS running,
              COUNT(*) FILTER (WHERE state = 'failed') AS failed
            FROM ${table} WHERE queue_name = ${queue}
          `.pipe(
            Effect.map(([row]) => ({
              waiting: Number(row.waiting),
              delayed: Number(row.delayed),
              running: Number(row.running),
              failed: Number(row.failed)
            })),
            Effect.mapError(fail(queue, "counts"))
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
}

const toRecord = (row: Row): FailedRecord => ({
  id: row.id,
  element: Option.getOrUndefined(parseJson(row.element)),
  attempts: Number(row.attempts),
  reason: row.reason
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
