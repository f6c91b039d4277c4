/**
 * The core invariants (the concurrency bound, key exclusion, stats that add up, no fiber left) with
 * priorities, keys, retries, a rate limit, groups and streams all on at once.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { trackFibers } from "./utils/fibers.ts"
import { assertWindows, Boom, concurrencyProbe, recorder } from "./utils/jobs.ts"
import { makePool } from "./utils/pools.ts"
import { checkAccounts, pick } from "./utils/stats.ts"

describe("invariants with flow control on", () => {
  it.effect("a mixed workload: never more than concurrency handlers, keys never overlap, stats add up, all settle", () =>
    Effect.gen(function*() {
      const probe = concurrencyProbe()
      const rec = recorder()
      const active = new Map<string, number>()
      const overlaps: Array<number> = []
      const concurrency = 3
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) => {
          const work = Effect.gen(function*() {
            yield* rec.record(n, job)
            yield* Effect.sleep(1 + (n * 11) % 40)
            if (n % 5 === 0 && job.attempt === 1) {
              return yield* Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true }))
            }
            if (n % 7 === 0) return yield* Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: false }))
            if (n % 13 === 0) return yield* Effect.die(new Error(`die ${n}`))
            return n
          })
          const key = job.key
          return probe.around(
            key === undefined ? work : Effect.acquireUseRelease(
              Effect.sync(() => {
                active.set(key, (active.get(key) ?? 0) + 1)
                if (active.get(key)! > 1) overlaps.push(n)
              }),
              () => work,
              () => Effect.sync(() => active.set(key, active.get(key)! - 1))
            )
          )
        },
        concurrency,
        capacity: 100,
        timeout: 30,
        retry: { schedule: Schedule.spaced(5).pipe(Schedule.upTo({ times: 2 })), while: (e) => e.retryable },
        rateLimit: { limit: 8, interval: 20 }
      })
      const handles: Array<WorkerPool.JobHandle<number, Boom | WorkerPoolError.JobError>> = []
      let n = 0
      for (let t = 0; t < 3000; t++) {
        if (t < 40) {
          for (let i = 0; i < 2; i++, n++) {
            const key = n % 4 === 0 ? "a" : n % 4 === 1 ? "b" : undefined
            handles.push(yield* pool.submit(n, { priority: (n * 5) % 3, ...(key === undefined ? {} : { key }) }))
          }
        }
        if (t === 15) yield* handles[17].interrupt
        if (t === 25) yield* handles[34].interrupt
        const stats = yield* pool.stats
        checkAccounts(stats, `t=${t}`)
        assert.isAtMost(probe.current, concurrency, `t=${t}`)
        assert.isAtMost(stats.retrying, stats.queued, `t=${t}`)
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual(overlaps, [], "jobs of one key overlapped")
      assert.strictEqual(probe.max, concurrency)
      assertWindows(rec.times(), 8, 20)
      const exits = yield* Effect.forEach(handles, (h) => h.poll)
      assert.isTrue(exits.every(Option.isSome), "every handle settled")
      const again = yield* Effect.forEach(handles, (h) => h.poll)
      assert.deepStrictEqual(again, exits, "a settled handle never changes")
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["submitted", "queued", "running", "retrying"]), {
        submitted: 80,
        queued: 0,
        running: 0,
        retrying: 0
      })
      checkAccounts(stats, "the end")
      assert.isAbove(stats.retried, 0)
      assert.isAbove(stats.failed, 0)
      assert.isAbove(stats.timedOut, 0)
      assert.isAbove(stats.defects, 0)
      assert.strictEqual(stats.cancelled, 2)
      assert.strictEqual(
        exits.filter((e) => Option.isSome(e) && Exit.isSuccess(e.value)).length,
        stats.succeeded
      )
    }))

  it.effect("no fiber outlives the scope with retries, keys, a rate limit, a group and a stream in flight", () =>
    Effect.gen(function*() {
      const { alive, started } = yield* trackFibers(Effect.scoped(Effect.gen(function*() {
        const pool = yield* makePool({
          handler: (n: number, job: WorkerPool.JobInfo) =>
            n % 2 === 0
              ? Effect.fail(new Boom({ input: n, attempt: job.attempt, retryable: true }))
              : Effect.sleep(n).pipe(Effect.as(n)),
          concurrency: { min: 1, max: 4, idleTimeout: 50 },
          capacity: 100,
          retry: Schedule.spaced(1000),
          rateLimit: { limit: 5, interval: 100 }
        })
        for (let i = 0; i < 12; i++) yield* pool.submit(i * 10 + (i % 2), { key: `k${i % 3}`, priority: i % 2 })
        yield* Effect.forkScoped(pool.executeAll([101, 203, 305]))
        yield* Effect.forkScoped(Stream.runDrain(pool.executeStream(Stream.fromIterable([11, 21, 31, 41]))))
        yield* TestClock.adjust(150)
        const stats = yield* pool.stats
        assert.isAbove(stats.retrying, 0)
        assert.isAbove(stats.queued, stats.retrying)
      })))
      assert.isAbove(started, 4)
      assert.strictEqual(alive, 0)
    }))
})
