/**
 * The thread pool under a hostile mix: crashes, timeouts, cancellations and successes at once; a build interrupted
 * midway; resizing while jobs run. Every handle settles, the stats add up, and no thread outlives the pool.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as NodeThreadPool from "../layers/NodeThreadPool.ts"
import type { WorkerPool } from "../src/index.ts"
import { Jobs, type Task } from "./fixtures/threadJobs.ts"

const entry = new URL("./fixtures/threadJobs.worker.ts", import.meta.url)
const osThreads = () => fs.readdirSync("/proc/self/task").length

const addsUp = (s: WorkerPool.Stats) =>
  assert.strictEqual(
    s.submitted,
    s.succeeded + s.failed + s.defects + s.timedOut + s.cancelled + s.dropped + s.shutdown + s.queued + s.running,
    JSON.stringify(s)
  )

/** A fixed mix: mostly quick jobs, some crashes, some loops that time out, some typed failures and defects. */
const taskOf = (i: number): Task => {
  switch (i % 10) {
    case 3:
      return { op: "exit", code: 7 }
    case 5:
      return { op: "spin", millis: 60_000 }
    case 7:
      return { op: "reject", n: i }
    case 8:
      return { op: "die", message: `defect ${i}` }
    default:
      return { op: "square", n: i }
  }
}

describe("ThreadPool under a hostile mix", () => {
  it.live(
    "60 jobs with crashes, timeouts, failures and defects: each settles as its own, the rest succeed",
    () =>
      Effect.gen(function*() {
        const baseline = osThreads()
        const scope = yield* Scope.make()
        const pool = yield* NodeThreadPool.make(Jobs, { entry, concurrency: 3, timeout: "1 second" }).pipe(
          Scope.provide(scope)
        )
        const handles = yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) => pool.submit(taskOf(i)))
        const exits = yield* Effect.forEach(handles, (h) => Effect.exit(h.await))
        const tags = exits.map((exit, i) => {
          if (Exit.isSuccess(exit)) return `ok:${exit.value.value === i * i}`
          const failure = exit.cause.reasons[0]
          return failure._tag === "Fail" ? (failure.error as { _tag: string })._tag : failure._tag
        })
        const expected = Array.from({ length: 60 }, (_, i) =>
          ({ 3: "ThreadCrashed", 5: "JobTimeout", 7: "JobRejected", 8: "Die" } as Record<number, string>)[i % 10] ??
            "ok:true")
        const wrong = tags.flatMap((tag, i) =>
          tag === expected[i] ? [] : [`${i}: ${tag} (expected ${expected[i]})`]
        )
        assert.deepStrictEqual(wrong, [])
        const stats = yield* pool.stats
        addsUp(stats)
        assert.deepStrictEqual(
          [stats.succeeded, stats.failed, stats.timedOut, stats.defects, stats.running, stats.queued],
          [36, 12, 6, 6, 0, 0]
        )
        const threads = yield* pool.threads
        assert.deepStrictEqual([threads.crashed, threads.terminated], [6, 6])
        // the slots' replacements may still be starting; each ends ready
        yield* pool.threads.pipe(
          Effect.filterOrFail((t) => t.live === 3 && t.starting === 0, () => "starting"),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout("20 seconds")
        )
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(osThreads(), baseline)
      }),
    60_000
  )

  it.live("a build interrupted while its threads start leaves no thread behind", () =>
    Effect.gen(function*() {
      const baseline = osThreads()
      const exit = yield* Effect.exit(
        Effect.scoped(NodeThreadPool.make(Jobs, { entry, concurrency: 2 }).pipe(Effect.timeout("30 millis")))
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(osThreads(), baseline)
    }))

  it.live("resizing while jobs run: threads follow the workers, and every job settles", () =>
    Effect.gen(function*() {
      const pool = yield* NodeThreadPool.make(Jobs, { entry, concurrency: 1 })
      const handles = yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => pool.submit({ op: "sleep", millis: 150 }))
      yield* pool.resize(3)
      const grown = yield* Effect.forEach(handles, (h) => h.await)
      assert.strictEqual(grown.length, 6)
      assert.isAtMost(new Set(grown.map((r) => r.thread)).size, 3)
      assert.strictEqual((yield* pool.threads).live, 3)
      yield* pool.resize(1)
      yield* pool.threads.pipe(
        Effect.filterOrFail((t) => t.live === 1, () => "shrinking"),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("10 seconds")
      )
      assert.strictEqual((yield* pool.execute({ op: "square", n: 5 })).value, 25)
      const caller = yield* Effect.forkChild(pool.executeAll([{ op: "square", n: 2 }, { op: "square", n: 3 }]))
      assert.deepStrictEqual((yield* Fiber.join(caller)).map((r) => r.value), [4, 9])
      addsUp(yield* pool.stats)
    }))
})
