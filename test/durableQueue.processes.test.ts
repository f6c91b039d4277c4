/**
 * The durable queue across processes: three consumer processes (`test/fixtures/durableConsumer.ts`) share 1,000
 * jobs, and one is killed with SIGKILL while it is in the middle of `CONCURRENCY` jobs. Every job completes with its
 * own result and none is lost; the only jobs that run twice are the ones the killed process was running, each again
 * as attempt 2 (the kill spent the attempt it was on, and no other); the store's queue ends empty with no failed
 * job. On Redis (this library's store and `PersistedQueue`'s) and on PostgreSQL, with short locks so that a run
 * takes seconds. Each run has its own Redis key prefix or PostgreSQL schema, deleted at its end, and checked gone.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redis from "effect/persistence/Redis"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import { spawn } from "node:child_process"
import * as Os from "node:os"
import * as path from "node:path"
import { DurableQueue } from "../src/index.ts"
import { jobQueue, layer, prepare, type Run, Runs, type StoreKind } from "./fixtures/durableConsumer.ts"
import { type Ended, nodeBinary, type Running, waitForOutput } from "./utils/process.ts"
import { pgConfig, redisUrl, runId } from "./utils/servers.ts"

const JOBS = 1000
const CONCURRENCY = 8
/** The jobs the doomed consumer completes before it stops mid-job. */
const HOLD_AFTER = 40
/** The jobs the two others complete before the kill. */
const COMPLETED_BEFORE_KILL = 200

const root = path.resolve(import.meta.dirname, "..")
const fixture = path.join("test", "fixtures", "durableConsumer.ts")

/** Starts a consumer process; closing the scope kills it, if it still runs, and waits until it has exited. */
const startConsumer = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const child = spawn(nodeBinary, [fixture, ...args], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" }
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const closed = Deferred.makeUnsafe<Ended>()
      child.on("error", (error) => Deferred.doneUnsafe(closed, Exit.die(error)))
      child.on("close", (code, signal) => Deferred.doneUnsafe(closed, Exit.succeed({ code, signal, stdout, stderr })))
      return { child, stdout: () => stdout, stderr: () => stderr, ended: Deferred.await(closed) }
    }),
    (running) =>
      Effect.suspend(() => {
        if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
        return Effect.timeout(running.ended, "10 seconds")
      }).pipe(Effect.orDie)
  )

/** Polls `effect` every 50 ms until `check` holds, for at most `seconds`; dies with `describe` of the last value. */
const until = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  check: (a: A) => boolean,
  seconds: number,
  describe: (a: A | undefined) => string
) => {
  let last: A | undefined
  return effect.pipe(
    Effect.tap((a) => Effect.sync(() => (last = a))),
    Effect.filterOrFail(check, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutOrElse({
      duration: `${seconds} seconds`,
      orElse: () => Effect.die(new Error(`not within ${seconds} seconds: ${describe(last)}`))
    }),
    Effect.orDie
  )
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The jobs a process started and never ended. */
const unfinished = (runs: ReadonlyArray<Run>, pid: number) => {
  const open = new Set<string>()
  for (const run of runs) {
    if (run.pid !== pid) continue
    if (run.phase === "start") open.add(run.id)
    else open.delete(run.id)
  }
  return open
}

/** Deletes everything the run left (Redis keys carrying its tag, or its schema) and returns what is still there. */
const cleanup = (kind: StoreKind, namespace: string): Effect.Effect<number> =>
  kind === "postgres"
    ? Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP SCHEMA IF EXISTS ${sql(namespace)} CASCADE`
      const left = yield* sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${namespace}`
      return left.length
    }).pipe(Effect.provide(PgClient.layer(pgConfig)), Effect.orDie)
    : Effect.gen(function*() {
      const redis = yield* Redis.Redis
      // every key of the run starts with its prefix; the tag is matched anywhere in case a key escapes it
      const pattern = `*${namespace}*`
      const keys = yield* redis.send<Array<string>>("KEYS", pattern)
      if (keys.length > 0) yield* redis.send("DEL", ...keys)
      return (yield* redis.send<Array<string>>("KEYS", pattern)).length
    }).pipe(Effect.provide(NodeRedis.layer({ url: redisUrl })), Effect.orDie)

const killTest = (kind: StoreKind) =>
  Effect.gen(function*() {
    const namespace = kind === "postgres"
      ? `ewp_test_procs_${runId.replace(/-/g, "_")}`
      : `ewp-test-procs-${runId}-${kind === "redis" ? "ewp" : "stock"}-`
    const name = `procs-${kind}`
    const queue = jobQueue(name)
    const pids: Array<number> = []

    const body = Effect.gen(function*() {
      const ids = Array.from({ length: JOBS }, (_, n) => `job-${n}`)
      yield* Effect.forEach(ids, (id, n) => DurableQueue.offer(queue, n, { id }), { concurrency: 16, discard: true })
      const runs = yield* Runs

      // the consumers start one at a time: each creates its tables (IF NOT EXISTS) when it starts consuming, and on
      // PostgreSQL two such statements racing on a fresh schema can fail one of them (a unique violation)
      const consumers: Array<Running> = []
      for (const hold of [HOLD_AFTER, 0, 0]) {
        const consumer = yield* startConsumer([kind, namespace, name, String(CONCURRENCY), String(hold)])
        pids.push(consumer.child.pid!)
        yield* waitForOutput(consumer, (out) => out.includes("ready"))
        consumers.push(consumer)
      }
      const [doomed] = consumers
      const doomedPid = doomed.child.pid!

      // each process's consumer is listed by the store, with its host and process
      const listed = yield* until(
        DurableQueue.consumers(queue),
        (listed) => listed.length === pids.length,
        10,
        (listed) => `consumers listed: ${JSON.stringify(listed)}`
      )
      assert.deepStrictEqual(listed.map((consumer) => consumer.pid).sort(), [...pids].sort())
      for (const consumer of listed) {
        assert.strictEqual(consumer.host, Os.hostname())
        assert.strictEqual(consumer.concurrency, CONCURRENCY)
      }

      // kill the first once it is mid-way through CONCURRENCY jobs and the others have completed some hundreds
      const others = (all: ReadonlyArray<Run>) =>
        all.filter((run) => run.phase === "end" && run.pid !== doomedPid).length
      yield* until(
        runs.read,
        (all) => unfinished(all, doomedPid).size === CONCURRENCY && others(all) >= COMPLETED_BEFORE_KILL,
        60,
        (all) =>
          `the doomed consumer holds ${all && unfinished(all, doomedPid).size} jobs, the others completed ${
            all && others(all)
          }`
      )
      doomed.child.kill("SIGKILL")
      const ended = yield* doomed.ended
      assert.strictEqual(ended.signal, "SIGKILL", `the doomed consumer was killed\n${ended.stderr}`)
      const held = unfinished(yield* runs.read, doomedPid)

      // every job completes with its own result, and the queue ends empty, with no failed job
      const results = yield* Effect.forEach(
        ids,
        (id) => DurableQueue.result(queue, id, { pollInterval: "20 millis" }),
        { concurrency: 50 }
      ).pipe(Effect.timeout("60 seconds"))
      assert.deepStrictEqual(results, ids.map((_, n) => 2 * n), "every job completed with its own result")
      yield* until(
        DurableQueue.counts(queue),
        (c) => c.waiting === 0 && c.delayed === 0 && c.running === 0,
        30,
        (c) => JSON.stringify(c)
      )
      assert.deepStrictEqual(yield* DurableQueue.failed(queue), [], "no job failed")

      const all = yield* runs.read
      const starts = all.filter((run) => run.phase === "start")
      const startsOf = new Map<string, Array<Run>>()
      for (const run of starts) startsOf.set(run.id, [...(startsOf.get(run.id) ?? []), run])
      const endedIds = new Set(all.filter((run) => run.phase === "end").map((run) => run.id))
      assert.deepStrictEqual([...startsOf.keys()].sort(), [...ids].sort(), "every job ran, and no other")
      assert.strictEqual(endedIds.size, JOBS, "every job's work was done")

      // the killed process held CONCURRENCY jobs: those, and only those, ran twice, the second time elsewhere
      assert.strictEqual(held.size, CONCURRENCY, "the killed process was mid-way through its jobs")
      const duplicates = [...startsOf.entries()].filter(([, list]) => list.length > 1)
      assert.deepStrictEqual(
        duplicates.map(([id]) => id).sort(),
        [...held].sort(),
        "the jobs that ran twice are the ones the killed process was running"
      )
      for (const [id, list] of duplicates) {
        assert.deepStrictEqual(
          list.map((run) => [run.pid === doomedPid, run.attempt]),
          [[true, 1], [false, 2]],
          `${id}: attempt 1 in the killed process, then attempt 2 in another`
        )
      }
      // jobs delivered again: the held ones, and on the ewp store any it had claimed ahead of a taker; each as
      // attempt 2, never more (the kill spent one attempt; a release at close spends none)
      const redelivered = starts.filter((run) => run.attempt > 1)
      const claimedBound = kind === "redis" ? 2 * CONCURRENCY : CONCURRENCY
      assert.isTrue(redelivered.every((run) => run.attempt === 2), "a job delivered again runs as attempt 2")
      assert.isTrue(redelivered.every((run) => run.pid !== doomedPid), "only the other consumers ran them")
      assert.isAtLeast(redelivered.length, CONCURRENCY)
      assert.isAtMost(redelivered.length, claimedBound, `at most what the killed process had claimed`)

      yield* Console.log(
        `${kind}: ${JOBS} jobs, ${starts.length} executions, ${duplicates.length} duplicates (at most ${CONCURRENCY}` +
          ` allowed), ${held.size} running in the killed process, ${redelivered.length} delivered again as attempt 2`
      )
    }).pipe(Effect.scoped, Effect.provide(layer(kind, namespace)))

    const outcome = yield* Effect.exit(Effect.andThen(prepare(kind, namespace), body))
    // the processes were killed and reaped when the scope closed; then nothing of the run is left on the server
    const alive = pids.filter(isAlive)
    const left = yield* cleanup(kind, namespace)
    yield* outcome
    assert.deepStrictEqual(alive, [], "no consumer process outlives the test")
    assert.strictEqual(left, 0, "the run leaves nothing behind")
  })

describe("the durable queue across processes", () => {
  for (const kind of ["redis", "redis-stock", "postgres"] as const) {
    it.live(
      `${kind}: 3 processes share ${JOBS} jobs; one SIGKILLed mid-job loses none, and only its jobs run twice, as attempt 2`,
      () => killTest(kind),
      120_000
    )
  }
})
