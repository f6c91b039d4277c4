/**
 * Keys: jobs sharing a key run one at a time, in submission order, without holding back other keys.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { concurrencyProbe, isInterrupted, recorder } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { checkAccounts } from "./utils/stats.ts"

describe("keys", () => {
  it.effect("jobs sharing a key never overlap and run in submission order, whatever their priority", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const active = new Map<string, number>()
      const overlaps: Array<string> = []
      const probe = concurrencyProbe()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          probe.around(Effect.acquireUseRelease(
            Effect.sync(() => {
              const key = job.key!
              active.set(key, (active.get(key) ?? 0) + 1)
              if (active.get(key)! > 1) overlaps.push(`${key} at job ${n}`)
            }),
            () => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10 + (n % 3) * 5))),
            () => Effect.sync(() => active.set(job.key!, active.get(job.key!)! - 1))
          )),
        concurrency: 4,
        capacity: 100
      })
      const priorities = [0, 10, 5, 20, -1, 7]
      const handles: Array<WorkerPool.JobHandle<void, WorkerPoolError.JobError>> = []
      for (let i = 0; i < 6; i++) {
        handles.push(yield* pool.submit(100 + i, { key: "a", priority: priorities[i] }))
        handles.push(yield* pool.submit(200 + i, { key: "b", priority: priorities[5 - i] }))
      }
      yield* TestClock.adjust(1000)
      yield* Effect.forEach(handles, (h) => h.await)
      assert.deepStrictEqual(overlaps, [])
      const inputsOf = (key: string) => rec.starts.filter((s) => s.key === key).map((s) => s.input)
      assert.deepStrictEqual(inputsOf("a"), [100, 101, 102, 103, 104, 105])
      assert.deepStrictEqual(inputsOf("b"), [200, 201, 202, 203, 204, 205])
      assert.strictEqual(probe.max, 2, "the two keys ran side by side")
    }))

  it.effect("a long job and a backlog on one key do not delay other keys or unkeyed jobs", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (ms: number, job: WorkerPool.JobInfo) => rec.record(ms, job).pipe(Effect.andThen(Effect.sleep(ms))),
        concurrency: 2,
        capacity: 100
      })
      const handles = [yield* pool.submit(1000, { key: "a" })]
      for (let i = 0; i < 5; i++) handles.push(yield* pool.submit(10, { key: "a" }))
      for (let i = 0; i < 3; i++) handles.push(yield* pool.submit(10, { key: "b" }))
      for (let i = 0; i < 3; i++) handles.push(yield* pool.submit(10))
      yield* TestClock.adjust(500)
      const early = rec.starts.map((s) => [s.key ?? "-", s.at] as const)
      assert.deepStrictEqual(early, [
        ["a", 0],
        ["b", 0],
        ["b", 10],
        ["b", 20],
        ["-", 30],
        ["-", 40],
        ["-", 50]
      ], "b and unkeyed jobs use the second worker while a1 holds key a")
      const stats = yield* pool.stats
      assert.deepStrictEqual(
        [stats.running, stats.queued, stats.succeeded],
        [1, 5, 6],
        "jobs waiting for their key count as queued"
      )
      checkAccounts(stats, "t=500")
      yield* TestClock.adjust(600)
      const aStarts = rec.starts.filter((s) => s.key === "a").map((s) => s.at)
      assert.deepStrictEqual(aStarts, [0, 1000, 1010, 1020, 1030, 1040])
      yield* Effect.forEach(handles, (h) => h.await)
    }))

  it.effect("a job waiting for its key counts against capacity", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const pool = yield* makePool({
        handler: (_: number) => Deferred.await(gate),
        concurrency: 3,
        capacity: 2,
        overflow: "fail"
      })
      yield* pool.submit(1, { key: "a" })
      yield* pool.submit(2, { key: "a" })
      yield* pool.submit(3, { key: "a" })
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.running, stats.queued], [1, 2])
      assert.strictEqual((yield* Effect.flip(pool.submit(4, { key: "a" })))._tag, "QueueFull")
      yield* Deferred.succeed(gate, void 0)
      yield* pool.awaitIdle
      assert.strictEqual((yield* pool.stats).succeeded, 3)
    }))

  it.effect("cancelling a queued or running job of a key lets the next job of the key run", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(100))),
        concurrency: 2
      })
      const a1 = yield* pool.submit(1, { key: "a" })
      const a2 = yield* pool.submit(2, { key: "a" })
      const a3 = yield* pool.submit(3, { key: "a" })
      yield* TestClock.adjust(10)
      yield* a2.interrupt
      assert.isTrue(isInterrupted(yield* a2.poll))
      assert.deepStrictEqual(rec.inputs(), [1], "a3 still waits for a1")
      yield* TestClock.adjust(10)
      yield* a1.interrupt
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(rec.inputs(), [1, 3], "a3 starts as soon as a1 is cancelled")
      assert.deepStrictEqual(rec.times(), [0, 20])
      yield* TestClock.adjust(100)
      yield* a3.await
      assert.deepStrictEqual(rec.inputs(), [1, 3])
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.cancelled, stats.succeeded], [2, 1])
    }))

  it.effect("a key job that times out frees its key only after its finalizers ran", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const pool = yield* makePool({
        handler: (ms: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => log.push(`start ${ms} at ${t}`))).pipe(
            Effect.andThen(Effect.sleep(ms)),
            Effect.onInterrupt(() =>
              Effect.sleep(30).pipe(
                Effect.andThen(Clock.currentTimeMillis),
                Effect.flatMap((t) => Effect.sync(() => log.push(`cleaned ${ms} at ${t}`)))
              )
            )
          ),
        concurrency: 2
      })
      const slow = yield* pool.submit(500, { key: "a", timeout: 50 })
      const next = yield* pool.submit(10, { key: "a" })
      yield* TestClock.adjust(79)
      assert.deepStrictEqual(log, ["start 500 at 0"])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(log, ["start 500 at 0", "cleaned 500 at 80", "start 10 at 80"])
      assert.instanceOf(yield* Effect.flip(slow.await), WorkerPoolError.JobTimeout)
      yield* TestClock.adjust(10)
      yield* next.await
    }))
})
