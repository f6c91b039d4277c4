/**
 * The public values as Effect data types: a type id each (and the guards that read it), `pipe`, and a readable
 * inspection; a handle shows nothing of the engine, and once its job settles it holds the outcome alone.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { inspect } from "node:util"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { WorkerPool } from "../src/index.ts"
import { sleeper } from "./utils/jobs.ts"

describe("values", () => {
  it.effect("the guards tell a pool, an executor and a handle apart, and from anything else", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, shutdownTimeout: 0 })
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 1 })
      const handle = yield* pool.submit(10)
      const others = [undefined, null, 1, "pool", {}, { name: "pool" }, Effect.void]
      const guards = [WorkerPool.isWorkerPool, WorkerPool.isExecutor, WorkerPool.isJobHandle]
      assert.deepStrictEqual(guards.map((is) => is(pool)), [true, false, false])
      assert.deepStrictEqual(guards.map((is) => is(executor)), [false, true, false])
      assert.deepStrictEqual(guards.map((is) => is(handle)), [false, false, true])
      for (const other of others) assert.deepStrictEqual(guards.map((is) => is(other)), [false, false, false])
      assert.strictEqual((pool as any)[WorkerPool.TypeId], WorkerPool.TypeId)
      assert.strictEqual((executor as any)[WorkerPool.ExecutorTypeId], WorkerPool.ExecutorTypeId)
      assert.strictEqual((handle as any)[WorkerPool.JobHandleTypeId], WorkerPool.JobHandleTypeId)
    }))

  it.effect("pipe applies functions in turn to the value", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, name: "piped", shutdownTimeout: 0 })
      const handle = yield* pool.submit(10, { id: "j" })
      assert.strictEqual(pool.pipe((p) => p.name, (name) => name.toUpperCase()), "PIPED")
      assert.strictEqual(handle.pipe((h) => h.id), "j")
    }))

  it.effect("a pool reads as its name, state, workers, queued and running jobs, in JSON, toString and inspect", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2, name: "images", shutdownTimeout: 0 })
      yield* Effect.forEach([10, 10, 10], (ms) => pool.submit(ms))
      const expected = { _id: "WorkerPool", name: "images", state: "Open", workers: 2, queued: 1, running: 2 }
      assert.deepStrictEqual(pool.toJSON(), expected)
      assert.deepStrictEqual(JSON.parse(JSON.stringify(pool)), expected)
      assert.include(String(pool), `"name": "images"`)
      assert.include(inspect(pool), "images")
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 1, name: "budget" })
      assert.deepStrictEqual(executor.toJSON(), {
        _id: "Executor",
        name: "budget",
        state: "Open",
        workers: 1,
        queued: 0,
        running: 0
      })
    }))

  it.effect("a handle shows its id, pool, phase and attempt, then only its phase once settled; nothing of the engine", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, name: "p" })
      const running = yield* pool.submit(10, { id: "a" })
      const queued = yield* pool.submit(10)
      assert.deepStrictEqual(running.toJSON(), { _id: "JobHandle", id: "a", pool: "p", phase: "Running", attempt: 1 })
      assert.deepStrictEqual(queued.toJSON(), { _id: "JobHandle", id: "2", pool: "p", phase: "Ready", attempt: 1 })
      assert.include(String(queued), `"phase": "Ready"`)
      assert.include(inspect(running), "Running")
      yield* TestClock.adjust(20)
      yield* Effect.forEach([running, queued], (h) => h.await)
      assert.deepStrictEqual(running.toJSON(), { _id: "JobHandle", id: "a", pool: "p", phase: "Done" })
      for (const handle of [running, queued]) {
        // nothing enumerable, nothing named after the engine's parts
        assert.deepStrictEqual(Object.keys(handle), [])
        assert.deepStrictEqual(Object.getOwnPropertyNames(handle), [])
        for (const name of ["job", "core", "self", "pool", "state", "exit", "input"]) {
          assert.isFalse(name in handle, `a handle has no "${name}"`)
        }
      }
    }))

  it.effect("a settled handle keeps its outcome: await, poll and a second await agree; interrupt does nothing", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, shutdownTimeout: 0 })
      const handle = yield* pool.submit(10)
      assert.isTrue(Option.isNone(yield* handle.poll))
      const waiting = handle.await
      yield* TestClock.adjust(10)
      assert.strictEqual(yield* waiting, 10, "an await taken before the job settled reads its outcome")
      assert.strictEqual(yield* handle.await, 10)
      assert.deepStrictEqual(yield* handle.poll, Option.some(Exit.succeed(10)))
      yield* handle.interrupt
      assert.strictEqual(yield* handle.await, 10)
      assert.strictEqual((yield* pool.stats).cancelled, 0)
    }))

  it.effect("a settled handle gives back exactly what the job returned or failed with, whatever the value", () =>
    Effect.gen(function*() {
      const exitValue = Exit.fail("not a failure: a value")
      const pool = yield* WorkerPool.make({
        handler: (input: "void" | "exit" | "fail" | "die") =>
          input === "void"
            ? Effect.void
            : input === "exit"
            ? Effect.succeed(exitValue)
            : input === "fail"
            ? Effect.fail("failed" as const)
            : Effect.die("died"),
        concurrency: 1
      })
      const handles = yield* Effect.forEach(["void", "exit", "fail", "die"] as const, (input) => pool.submit(input))
      yield* pool.awaitIdle
      const [none, exit, failed, died] = yield* Effect.forEach(handles, (handle) => Effect.exit(handle.await))
      assert.deepStrictEqual(none, Exit.void)
      assert.isTrue(Exit.isSuccess(exit) && (exit.value as unknown) === exitValue, "an Exit a job returns is its value")
      assert.deepStrictEqual(failed, Exit.fail("failed"))
      assert.deepStrictEqual(died, Exit.die("died"))
      assert.deepStrictEqual(
        yield* Effect.forEach(handles, (handle) => handle.poll),
        [none, exit, failed, died].map(Option.some)
      )
    }))

  it.live("a settled handle holds its outcome alone: the job's record and input are not kept", () =>
    Effect.gen(function*() {
      setFlagsFromString("--expose-gc")
      const gc = runInNewContext("gc") as () => void
      const pool = yield* WorkerPool.make({
        handler: (input: { readonly payload: Array<number> }) => Effect.succeed(input.payload.length),
        concurrency: 1
      })
      let input: WeakRef<object> | undefined
      const handle = yield* Effect.suspend(() => {
        const payload = { payload: new Array<number>(10_000).fill(1) }
        input = new WeakRef(payload)
        return pool.submit(payload)
      })
      assert.strictEqual(yield* handle.await, 10_000)
      // a WeakRef's target lives at least until the current turn of the event loop ends
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      gc()
      assert.isUndefined(input!.deref(), "the job's input is still reachable from its settled handle")
      assert.strictEqual(yield* handle.await, 10_000)
    }))
})
