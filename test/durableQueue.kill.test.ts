/**
 * The durable queue across processes: three consumer processes (`test/fixtures/killableConsumer.ts`) share 1,000
 * jobs; one is killed with SIGKILL while it runs jobs. Every job completes, none is lost, and the only jobs that run
 * twice are ones the killed process held, as at-least-once delivery allows. On Redis (both stores) and PostgreSQL,
 * with short locks (1.5 s) so that it runs in seconds; each run uses its own key prefix and schema, deleted at its
 * end.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redis from "effect/persistence/Redis"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as path from "node:path"
import * as PgDurableQueue from "../layers/PgDurableQueue.ts"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import { DurableQueue } from "../src/index.ts"
import { nodeBinary, type Running, spawnIn } from "./utils/process.ts"
import { pgConfig, redisUrl, runId } from "./utils/servers.ts"

const JOBS = 1000
const CONCURRENCY = 8
const redisPrefix = `ewp-test-kill-${runId}-`
const pgSchema = `ewp_test_kill_${runId.replace(/-/g, "_")}`
const redis = NodeRedis.layer({ url: redisUrl })
const timings = { lockExpiration: "1500 millis", lockRefreshInterval: "300 millis" } as const

const stores: Record<"ewp" | "stock" | "postgres", Layer.Layer<DurableQueue.DurableQueueStore, unknown>> = {
  ewp: RedisDurableQueue.layerStore({ ...timings, prefix: redisPrefix }).pipe(Layer.provide(redis)),
  stock: RedisDurableQueue.layerStore({ ...timings, prefix: redisPrefix, store: "stock" }).pipe(Layer.provide(redis)),
  postgres: PgDurableQueue.layerStore(timings).pipe(
    Layer.provide(
      Layer.effectDiscard(SqlClient.SqlClient.use((sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(pgSchema)}`)).pipe(
        Layer.provideMerge(PgClient.layer({ ...pgConfig, startupParameters: { search_path: pgSchema } }))
      )
    )
  )
}

/** Polls `check` every 50 ms until it holds, for at most `seconds`. */
const until = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean, seconds: number) =>
  effect.pipe(
    Effect.filterOrFail(check, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeout(`${seconds} seconds`),
    Effect.orDie
  )

const waitForReady = (running: Running) =>
  until(Effect.sync(() => running.stdout()), (out) => out.includes("ready"), 30)

describe("the durable queue across processes", () => {
  for (const store of ["ewp", "stock", "postgres"] as const) {
    it.live(
      `${store}: three consumers share 1,000 jobs; one killed mid-job loses none, and only its jobs run twice`,
      () =>
        Effect.gen(function*() {
          const client = yield* Redis.Redis
          const name = `kill-${store}`
          const record = `${redisPrefix}record:${store}`
          const queue = DurableQueue.define({
            name,
            input: Schema.Number,
            success: Schema.Number,
            resultTimeToLive: "10 minutes"
          })
          const ids = Array.from({ length: JOBS }, (_, n) => `job-${n}`)
          yield* Effect.forEach(ids, (id, n) => DurableQueue.offer(queue, n, { id }), {
            concurrency: 16,
            discard: true
          })
          // the first consumer's jobs take a second each, the others' 3 ms: once it has started a full set of jobs, it
          // is sure to hold them when it is killed, however busy the machine and however fast the others drain the rest
          const consumers = yield* Effect.forEach([1000, 3, 3], (jobMillis) =>
            spawnIn(nodeBinary, [
              path.join("test", "fixtures", "killableConsumer.ts"),
              store,
              redisPrefix,
              pgSchema,
              name,
              String(CONCURRENCY),
              record,
              String(jobMillis)
            ]))
          yield* Effect.forEach(consumers, waitForReady, { discard: true })
          const victim = consumers[0].child
          yield* until(
            client.send<Array<string>>("LRANGE", `${record}:started`, "0", "-1"),
            (lines) => lines.filter((line) => line.endsWith(`:${victim.pid}`)).length >= CONCURRENCY,
            60
          )
          victim.kill("SIGKILL")
          const killedPid = String(victim.pid)
          yield* consumers[0].ended

          // every job completes: its outcome is there, and the queue holds nothing
          yield* until(
            DurableQueue.counts(queue),
            (c) => c.waiting === 0 && c.delayed === 0 && c.running === 0,
            60
          )
          const outcomes = yield* Effect.forEach(
            ids,
            (id) => DurableQueue.result(queue, id).pipe(Effect.timeout("10 seconds"))
          )
          assert.deepStrictEqual(outcomes, ids.map((_, n) => n), "every job completed with its own result")
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [], "no job failed")

          const runs = (yield* client.send<Array<string>>("LRANGE", record, "0", "-1")).map((line) => {
            const [id, attempt, pid] = line.split(":")
            return { id, attempt: Number(attempt), pid }
          })
          const executions = new Map<string, Array<{ attempt: number; pid: string }>>()
          for (const run of runs) {
            executions.set(run.id, [...(executions.get(run.id) ?? []), run])
          }
          assert.strictEqual(executions.size, JOBS, "every job ran")
          const twice = [...executions.entries()].filter(([, list]) => list.length > 1)
          const again = runs.filter((run) => run.attempt > 1)
          // the killed process held at most CONCURRENCY running jobs and, on the ewp store, one claimed ahead per
          // taker: only those can run again, each as attempt 2 (the kill spent the attempt it was on)
          const bound = store === "ewp" ? 2 * CONCURRENCY : CONCURRENCY
          assert.isAtMost(again.length, bound, `re-delivered jobs: ${again.length}`)
          assert.isTrue(again.every((run) => run.attempt === 2), "a re-delivered job runs as attempt 2")
          for (const [id, list] of twice) {
            assert.strictEqual(list.length, 2, `${id} ran at most twice`)
            assert.isTrue(
              list.some((run) => run.pid === killedPid),
              `${id} ran twice only because its process was killed`
            )
          }
          assert.isAtMost(twice.length, CONCURRENCY, `duplicates: ${twice.length}`)
          // the killed process had jobs running: it was killed mid-job, and every one of them came back
          assert.isAbove(again.length, 0, "the killed process held jobs that ran again")
          const startedByVictim = (yield* client.send<Array<string>>("LRANGE", `${record}:started`, "0", "-1"))
            .filter((line) => line.endsWith(`:${killedPid}`))
            .map((line) => line.split(":")[0])
          const finishedByVictim = new Set(runs.filter((run) => run.pid === killedPid).map((run) => run.id))
          const held = new Set(startedByVictim.filter((id) => !finishedByVictim.has(id)))
          const ranAgain = new Set(again.map((run) => run.id))
          assert.isAbove(held.size, 0, "the killed process was running jobs")
          assert.deepStrictEqual([...held].filter((id) => !ranAgain.has(id)), [], "every job it was running ran again")
          if (store !== "ewp") {
            // no store but ours claims jobs ahead: what ran again is what the killed process was running
            assert.deepStrictEqual([...ranAgain].filter((id) => !held.has(id)), [], "only its jobs ran again")
          }
          yield* Effect.logInfo(
            `${store}: ${JOBS} jobs, ${runs.length} executions, ${twice.length} ran twice, ${again.length} re-delivered`
          )
        }).pipe(Effect.scoped, Effect.provide(Layer.merge(stores[store], redis))),
      120_000
    )
  }

  it.live("the runs leave no key and no schema behind", () =>
    Effect.gen(function*() {
      const client = yield* Redis.Redis
      const keys = yield* client.send<Array<string>>("KEYS", `${redisPrefix}*`)
      if (keys.length > 0) yield* client.send("DEL", ...keys)
      assert.deepStrictEqual(yield* client.send<Array<string>>("KEYS", `${redisPrefix}*`), [])
      const dropped = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP SCHEMA IF EXISTS ${sql(pgSchema)} CASCADE`
        return yield* sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${pgSchema}`
      }).pipe(Effect.provide(PgClient.layer(pgConfig)))
      assert.strictEqual((yield* dropped).length, 0)
    }).pipe(Effect.provide(redis)))
})
