/**
 * Priority: which queued job starts first, how a priority meets the queue's capacity and overflow, and
 * the validation of the per-job priority and key.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import { recorder, sleeper } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"

describe("priority", () => {
  it.effect("a higher priority starts first; equal priorities (default 0) start in submission order", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10))),
        concurrency: 1,
        capacity: 100
      })
      yield* pool.submit(0)
      assert.strictEqual((yield* pool.stats).running, 1, "the first job runs at once")
      const jobs: ReadonlyArray<readonly [number, number | undefined]> = [
        [1, undefined],
        [2, 5],
        [3, 0],
        [4, 5],
        [5, -1],
        [6, 10],
        [7, undefined],
        [8, 0.5]
      ]
      for (const [n, priority] of jobs) yield* pool.submit(n, priority === undefined ? {} : { priority })
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(rec.inputs(), [0, 6, 2, 4, 8, 1, 3, 7, 5])
      assert.deepStrictEqual(
        rec.starts.map((s) => s.priority),
        [0, 10, 5, 5, 0.5, 0, 0, 0, -1],
        "the handler sees each job's priority, 0 by default"
      )
    }))

  it.effect("execute and trySubmit take a priority too", () =>
    Effect.gen(function*() {
      const rec = recorder()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          rec.record(n, job).pipe(Effect.andThen(Effect.sleep(10)), Effect.as(n)),
        concurrency: 1
      })
      yield* pool.submit(0)
      const low = yield* fork(pool.execute(1))
      const high = yield* fork(pool.execute(2, { priority: 2 }))
      const mid = yield* pool.trySubmit(3, { priority: 1 })
      yield* TestClock.adjust(40)
      assert.deepStrictEqual([yield* Fiber.join(low), yield* Fiber.join(high), yield* mid.await], [1, 2, 3])
      assert.deepStrictEqual(rec.inputs(), [0, 2, 3, 1])
    }))

  it.effect("a high priority never lets the queue exceed its capacity", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const failing = yield* makePool({
        handler: (_: number) => Deferred.await(gate),
        concurrency: 1,
        capacity: 2,
        overflow: "fail"
      })
      yield* failing.submit(0)
      yield* failing.submit(1)
      yield* failing.submit(2)
      const error = yield* Effect.flip(failing.submit(3, { priority: 100 }))
      assert.strictEqual(error._tag, "QueueFull")
      assert.strictEqual((yield* Effect.flip(failing.trySubmit(4, { priority: 100 })))._tag, "QueueFull")
      assert.strictEqual((yield* failing.stats).queued, 2)

      const suspending = yield* makePool({
        handler: (_: number) => Deferred.await(gate),
        concurrency: 1,
        capacity: 2
      })
      yield* suspending.submit(0)
      yield* suspending.submit(1)
      yield* suspending.submit(2)
      const waiter = yield* fork(suspending.submit(3, { priority: 100 }))
      assert.isUndefined(waiter.pollUnsafe(), "a high-priority submitter waits for room like any other")
      const stats = yield* suspending.stats
      assert.deepStrictEqual([stats.queued, stats.waiting], [2, 1])
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(waiter)
    }))

  it.effect("sliding drops the oldest queued job of the lowest priority", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started: Array<number> = []
      const pool = yield* makePool({
        handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Deferred.await(gate))),
        concurrency: 1,
        capacity: 3,
        overflow: "sliding"
      })
      yield* pool.submit(0)
      const a = yield* pool.submit(1, { priority: 1 })
      const b = yield* pool.submit(2, { priority: 0 })
      const c = yield* pool.submit(3, { priority: 0 })
      const d = yield* pool.submit(4, { priority: 2 })
      assert.isTrue(Option.isSome(yield* b.poll), "b: the oldest of the lowest priority (0) is dropped")
      assert.isTrue(Option.isNone(yield* a.poll))
      assert.isTrue(Option.isNone(yield* c.poll))
      const e = yield* pool.submit(5, { priority: 0 })
      assert.isTrue(Option.isSome(yield* c.poll), "c: older than e among priority 0")
      assert.isTrue(Option.isNone(yield* e.poll))
      const f = yield* pool.submit(6, { priority: 3 })
      assert.isTrue(Option.isSome(yield* e.poll), "e: now the only job of the lowest priority")
      for (const dropped of [b, c, e]) {
        const error = yield* Effect.flip(dropped.await)
        assert.instanceOf(error, WorkerPoolError.JobDropped)
        assert.strictEqual((error as WorkerPoolError.JobDropped).overflow, "sliding")
      }
      yield* Deferred.succeed(gate, void 0)
      yield* Effect.forEach([a, d, f], (h) => h.await)
      assert.deepStrictEqual(started, [0, 6, 4, 1])
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.dropped, stats.succeeded, stats.submitted], [3, 4, 7])
    }))

  it.effect("an invalid priority or key fails the submission with InvalidJobOptions naming the option", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: sleeper, concurrency: 1 })
      const cases: ReadonlyArray<readonly [WorkerPool.JobOptions<never>, string]> = [
        [{ priority: NaN }, "priority"],
        [{ priority: Infinity }, "priority"],
        [{ priority: -Infinity }, "priority"],
        [{ priority: "high" as unknown as number }, "priority"],
        [{ key: "" }, "key"]
      ]
      for (const [options, option] of cases) {
        for (
          const error of [
            yield* Effect.flip(pool.submit(1, options)),
            yield* Effect.flip(pool.trySubmit(1, options)),
            yield* Effect.flip(pool.execute(1, options))
          ]
        ) {
          assert.instanceOf(error, WorkerPoolError.InvalidJobOptions)
          assert.strictEqual((error as WorkerPoolError.InvalidJobOptions).option, option)
        }
      }
      const stats = yield* pool.stats
      assert.deepStrictEqual([stats.submitted, stats.queued, stats.running], [0, 0, 0], "no job was accepted")
    }))
})
