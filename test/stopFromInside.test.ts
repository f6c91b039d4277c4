/**
 * Stops from inside a pool against stops from outside: a close or a shutdown from outside still drains, whatever
 * scope or layer holds the pool, and a fiber that merely descends from a pool's fiber (or runs with a context taken
 * from one) is outside it. Every wait is bounded.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { DurableQueue, WorkerPool } from "../src/index.ts"
import { trackFibers } from "./utils/fibers.ts"
import { sleeper } from "./utils/jobs.ts"
import { outcome, within } from "./utils/outcomes.ts"
import { checkAccounts } from "./utils/stats.ts"

class PoolA extends Context.Service<PoolA, WorkerPool.WorkerPool<number, number>>()("test/stopFromInside/PoolA") {}
class PoolB extends Context.Service<PoolB, WorkerPool.WorkerPool<number, number>>()("test/stopFromInside/PoolB") {}

describe("a close from outside still drains within shutdownTimeout", () => {
  for (const strategy of ["sequential", "parallel"] as const) {
    it.live(`a ${strategy} scope: every job's result, stats add up, no fiber left`, () =>
      Effect.gen(function*() {
        const { alive, result, started } = yield* trackFibers(Effect.gen(function*() {
          const scope = yield* Scope.make(strategy)
          const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2, shutdownTimeout: "2 seconds" })
            .pipe(Scope.provide(scope))
          const handles = yield* Effect.forEach([30, 40, 50, 60, 70], (ms) => pool.submit(ms))
          yield* within(Scope.close(scope, Exit.void), "the close")
          const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
          return { exits, stats: yield* pool.stats }
        }))
        assert.deepStrictEqual(result.exits.map(outcome), ["ok:30", "ok:40", "ok:50", "ok:60", "ok:70"])
        checkAccounts(result.stats, "after the close")
        assert.deepStrictEqual([result.stats.state, result.stats.succeeded], ["closed", 5])
        assert.isAtLeast(started, 2)
        assert.strictEqual(alive, 0)
      }))
  }

  it.live("pools from WorkerPool.layer in Layer.mergeAll drain as the layer's scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Layer.mergeAll(
          WorkerPool.layer(PoolA, { handler: sleeper, concurrency: 1, shutdownTimeout: "2 seconds" }),
          WorkerPool.layer(PoolB, { handler: sleeper, concurrency: 1, shutdownTimeout: "2 seconds" })
        ),
        scope
      )
      const a = Context.get(context, PoolA)
      const b = Context.get(context, PoolB)
      const handles = [
        ...yield* Effect.forEach([30, 40], (ms) => a.submit(ms)),
        ...yield* Effect.forEach([50, 60], (ms) => b.submit(ms))
      ]
      yield* within(Scope.close(scope, Exit.void), "the close")
      const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
      assert.deepStrictEqual(exits.map(outcome), ["ok:30", "ok:40", "ok:50", "ok:60"])
      for (const pool of [a, b]) {
        const stats = yield* pool.stats
        checkAccounts(stats, "after the close")
        assert.strictEqual(stats.state, "closed")
      }
    }))

  it.live("a program given its pool by Effect.provide(layer) drains it as the program ends", () =>
    Effect.gen(function*() {
      const handles = yield* within(
        Effect.gen(function*() {
          const pool = yield* PoolA
          return yield* Effect.forEach([30, 40, 50], (ms) => pool.submit(ms))
        }).pipe(Effect.provide(WorkerPool.layer(PoolA, { handler: sleeper, concurrency: 1 }))),
        "the program"
      )
      const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
      assert.deepStrictEqual(exits.map(outcome), ["ok:30", "ok:40", "ok:50"])
    }))
})

describe("a pool made inside another pool's handler", () => {
  it.live("the inner pool drains as the outer handler's scope closes (the outer worker is outside the inner pool)", () =>
    Effect.gen(function*() {
      const outer = yield* WorkerPool.make({
        handler: (n: number) =>
          Effect.scoped(Effect.gen(function*() {
            const inner = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
            const handles = yield* Effect.forEach([10 * n, 10 * n + 5], (ms) => inner.submit(ms))
            return handles
          })).pipe(
            Effect.flatMap((handles) => Effect.forEach(handles, (h) => h.await)),
            Effect.map((results) => results.reduce((x, y) => x + y, 0))
          ),
        concurrency: 2
      })
      const results = yield* within(Effect.forEach([1, 2, 3], (n) => outer.execute(n), { concurrency: 3 }), "outer")
      assert.deepStrictEqual(results, [25, 45, 65])
    }))

  // A pool built on another pool's worker: a close from inside the inner pool is the inner pool's, not the outer's
  // (`Effect.addFinalizer` runs the close with the context of the fiber that built the pool).
  it.live("an inner handler that closes the inner scope stops the inner pool at once, the outer job goes on", () =>
    Effect.gen(function*() {
      const outer = yield* WorkerPool.make({
        handler: (_: number) =>
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            const inner: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
              handler: (ms: number) =>
                ms === 0
                  ? Effect.sleep(10).pipe(
                    Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))),
                    Effect.as(0)
                  )
                  : sleeper(ms),
              concurrency: 2,
              shutdownTimeout: "Infinity"
            }).pipe(Scope.provide(scope))
            const handles = yield* Effect.forEach([5_000, 0, 5_000], (ms) => inner.submit(ms))
            const exits = yield* Effect.forEach(handles, (h) => Effect.exit(h.await))
            return exits.map(outcome).join(",")
          }),
        concurrency: 1
      })
      const result = yield* within(outer.execute(1), "outer job")
      assert.strictEqual(result, "PoolShutdown,PoolShutdown,PoolShutdown")
      assert.strictEqual((yield* outer.stats).state, "open")
    }))
})

describe("fibers that inherited a pool fiber's context but are not inside the pool", () => {
  // A handler starts a background fiber (a lazily started service, a watchdog, an admin listener) with
  // forkDetach: it outlives its job and is not part of any job. When it later closes the pool's scope, the close
  // comes from outside: the pool drains, it does not shut down at once, and it does not skip the job that happens to
  // run on the slot of the worker that once forked it.
  it.live("a detached fiber forked by an earlier job closes the scope later: the pool drains", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const go = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const log: Array<string> = []
      const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
        handler: (ms: number) =>
          ms === 0
            ? Effect.forkDetach(
              Deferred.await(go).pipe(
                Effect.andThen(Scope.close(scope, Exit.void)),
                Effect.andThen(Effect.sync(() => log.push("close returned"))),
                Effect.andThen(Deferred.succeed(closed, void 0))
              )
            ).pipe(Effect.as(0))
            : Effect.sleep(ms).pipe(
              Effect.onExit(() => Effect.sync(() => log.push(`job ${ms} ended`))),
              Effect.as(ms)
            ),
        concurrency: 1,
        shutdownTimeout: "2 seconds"
      }).pipe(Scope.provide(scope))
      const starter = yield* pool.submit(0)
      assert.strictEqual(yield* within(starter.await, "the starter"), 0)
      // the same (only) worker now runs job 100, and 200 waits in the queue
      const handles = yield* Effect.forEach([100, 200], (ms) => pool.submit(ms))
      yield* Effect.sleep(10)
      yield* Deferred.succeed(go, void 0)
      yield* within(Deferred.await(closed), "the close")
      const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
      // a close from outside drains within shutdownTimeout (2 s): both jobs succeed, and the close returns after
      assert.deepStrictEqual(exits.map(outcome), ["ok:100", "ok:200"])
      assert.deepStrictEqual(log, ["job 100 ended", "job 200 ended", "close returned"])
    }))

  it.live("a detached fiber forked by an earlier job runs shutdown: it waits for the running job", () =>
    Effect.gen(function*() {
      const go = yield* Deferred.make<void>()
      const done = yield* Deferred.make<ReadonlyArray<number>>()
      const log: Array<string> = []
      const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
        handler: (ms: number) =>
          ms === 0
            ? Effect.forkDetach(
              Deferred.await(go).pipe(
                Effect.andThen(Effect.suspend(() => pool.shutdown)),
                Effect.tap(() => Effect.sync(() => log.push("shutdown returned"))),
                Effect.flatMap((unstarted) => Deferred.succeed(done, unstarted))
              )
            ).pipe(Effect.as(0))
            : Effect.sleep(ms).pipe(
              // a finalizer that takes a while: shutdown must wait for it ("settles every unfinished job")
              Effect.onInterrupt(() =>
                Effect.sleep(50).pipe(Effect.andThen(Effect.sync(() => log.push(`job ${ms} finalized`))))
              ),
              Effect.as(ms)
            ),
        concurrency: 1
      })
      assert.strictEqual(yield* within((yield* pool.submit(0)).await, "the starter"), 0)
      const running = yield* pool.submit(5_000)
      const queued = yield* pool.submit(6_000)
      yield* Effect.sleep(10)
      yield* Deferred.succeed(go, void 0)
      const unstarted = yield* within(Deferred.await(done), "the shutdown")
      assert.deepStrictEqual(unstarted, [6_000])
      // shutdown returns once every job has settled: the running job's finalizer first
      assert.deepStrictEqual(log, ["job 5000 finalized", "shutdown returned"])
      assert.strictEqual(outcome(yield* within(Effect.exit(running.await), "running")), "PoolShutdown")
      assert.strictEqual(outcome(yield* within(Effect.exit(queued.await), "queued")), "PoolShutdown")
    }))

  // The caller's context, services captured in a handler with `Effect.context` and used later by plain code, carries
  // the pool's token and the worker's slot with it.
  it.live("a context captured in a handler and used later to close the scope: the pool drains", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      let captured: Context.Context<never> | undefined
      const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
        handler: (ms: number) =>
          ms === 0
            ? Effect.map(Effect.context<never>(), (context) => {
              captured = context
              return 0
            })
            : sleeper(ms),
        concurrency: 1,
        shutdownTimeout: "2 seconds"
      }).pipe(Scope.provide(scope))
      yield* within((yield* pool.submit(0)).await, "the capture")
      const handles = yield* Effect.forEach([100, 200], (ms) => pool.submit(ms))
      yield* Effect.sleep(10)
      const closer = Effect.runForkWith(captured!)(Scope.close(scope, Exit.void))
      yield* within(Fiber.join(closer), "the close")
      const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
      assert.deepStrictEqual(exits.map(outcome), ["ok:100", "ok:200"])
    }))
})

describe("an Executor job closes the executor's scope", () => {
  it.live("submitted from plain code: the executor stops at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 2, shutdownTimeout: "Infinity" }).pipe(
        Scope.provide(scope)
      )
      const slow = yield* executor.submit(Effect.as(Effect.sleep(5_000), 1))
      const closing = yield* executor.submit(
        Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
      )
      const exits = yield* within(Effect.all([Effect.exit(slow.await), Effect.exit(closing.await)]), "the handles")
      assert.deepStrictEqual(exits.map(outcome), ["PoolShutdown", "PoolShutdown"])
    }))

  // The executor runs a job with its caller's context merged over the worker's: a caller that is another pool's job
  // brings that pool's InsidePool and CurrentSlot, which hide the executor's own.
  it.live("submitted from inside another pool's job: the executor stops at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 2, shutdownTimeout: "Infinity" }).pipe(
        Scope.provide(scope)
      )
      const slow = yield* executor.submit(Effect.as(Effect.sleep(5_000), 1))
      const other = yield* WorkerPool.make({
        handler: (_: number) =>
          executor.submit(
            Effect.sleep(10).pipe(Effect.andThen(Effect.suspend(() => Scope.close(scope, Exit.void))), Effect.as(0))
          ),
        concurrency: 1
      })
      const closing = yield* within(other.execute(1), "the submission")
      const exits = yield* within(
        Effect.all([Effect.exit(slow.await), Effect.exit(closing.await)]),
        "the executor's close"
      )
      assert.deepStrictEqual(exits.map(outcome), ["PoolShutdown", "PoolShutdown"])
    }))

  // A job of pool P submits (without waiting) an executor job that closes P's scope later: by then P's job has ended,
  // and the slot it carries runs another job. The close is from outside P.
  it.live("a fire-and-forget executor job submitted by a pool's job closes that pool's scope: the pool drains", () =>
    Effect.gen(function*() {
      const executor = yield* WorkerPool.makeExecutor({ concurrency: 1 })
      const scope = yield* Scope.make()
      const go = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
        handler: (ms: number) =>
          ms === 0
            ? executor.submit(
              Deferred.await(go).pipe(
                Effect.andThen(Scope.close(scope, Exit.void)),
                Effect.andThen(Deferred.succeed(closed, void 0))
              )
            ).pipe(Effect.orDie, Effect.as(0))
            : sleeper(ms),
        concurrency: 1,
        shutdownTimeout: "2 seconds"
      }).pipe(Scope.provide(scope))
      assert.strictEqual(yield* within((yield* pool.submit(0)).await, "the starter"), 0)
      const handles = yield* Effect.forEach([100, 200], (ms) => pool.submit(ms))
      yield* Effect.sleep(10)
      yield* Deferred.succeed(go, void 0)
      yield* within(Deferred.await(closed), "the close")
      const exits = yield* within(Effect.forEach(handles, (h) => Effect.exit(h.await)), "the handles")
      assert.deepStrictEqual(exits.map(outcome), ["ok:100", "ok:200"])
    }))
})

let counter = 0
const numbers = (label: string) =>
  DurableQueue.define({
    name: `inside-${label}-${++counter}-${Math.random().toString(36).slice(2, 8)}`,
    input: Schema.Number,
    success: Schema.Number,
    maxAttempts: 1
  })

describe("a durable consumer closed by a fiber a handler detached earlier", () => {
  it.live("the close drains the job then running on that handler's taker", () =>
    Effect.gen(function*() {
      const queue = numbers("detached")
      const scope = yield* Scope.make()
      const go = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const log: Array<string> = []
      yield* DurableQueue.consume(queue, {
        concurrency: 1,
        shutdownTimeout: "2 seconds",
        handler: (n) =>
          n === 0
            ? Effect.forkDetach(
              Deferred.await(go).pipe(
                Effect.andThen(Scope.close(scope, Exit.void)),
                Effect.andThen(Effect.sync(() => log.push("close returned"))),
                Effect.andThen(Deferred.succeed(closed, void 0))
              )
            ).pipe(Effect.as(0))
            : Deferred.succeed(started, void 0).pipe(
              Effect.andThen(Effect.sleep(n)),
              Effect.onExit((exit) =>
                Effect.sync(() => log.push(`job ${n} ${Exit.isSuccess(exit) ? "done" : "stopped"}`))
              ),
              Effect.as(n)
            )
      }).pipe(Scope.provide(scope))
      yield* DurableQueue.offer(queue, 0)
      yield* DurableQueue.offer(queue, 200)
      yield* within(Deferred.await(started), "job 200 starts")
      yield* Deferred.succeed(go, void 0)
      yield* within(Deferred.await(closed), "the close")
      // a close from outside waits (within shutdownTimeout) for the job in flight
      assert.deepStrictEqual(log, ["job 200 done", "close returned"])
    }).pipe(Effect.provide(DurableQueue.layerMemory)))
})
