import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError, WorkerPoolMetrics } from "../src/index.ts"
import { concurrencyProbe } from "./utils/jobs.ts"
import { accounted } from "./utils/stats.ts"

/**
 * Code the pool runs on a job's behalf (the handler, a retry predicate, the steps of a retry schedule) decides only
 * its own job's outcome, however it misbehaves; `sliding` keeps its bound with jobs waiting to retry; a stopped pool
 * counts no worker; `JobInfo` is a snapshot (invariants 11-13 of the design).
 *
 * A fault here tends to hang: a job that never settles, a `shutdown` or a scope close that never returns. So every
 * wait is bounded on the TestClock (`within`), and the pools live in scopes of their own, closed by the tests under
 * the same bound: a fault fails its test within seconds instead of holding up the suite.
 */

class Boom extends Schema.TaggedError<Boom>()("Boom", { input: Schema.Number }) {}

/** A backstop per test, in real milliseconds: the bounded waits below fail long before it. */
const timeout = 10_000

/**
 * Runs `self` on a fiber of its own, moves the TestClock on by at most `millis` (in small steps, so that timers fire
 * in order) until `self` has returned, and returns its exit; fails the test when it has not returned by then. The
 * fiber is detached on purpose: under a fault it may be stuck for ever, even once interrupted, and a child fiber would
 * then hold the test's own fiber up as it ends, so the test would hang instead of failing.
 */
const within = <A, E>(what: string, millis: number, self: Effect.Effect<A, E>): Effect.Effect<Exit.Exit<A, E>> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkDetach(self, { startImmediately: true })
    yield* TestClock.adjust(0)
    const step = Math.max(1, Math.ceil(millis / 100))
    for (let elapsed = 0; elapsed < millis && fiber.pollUnsafe() === undefined; elapsed += step) {
      yield* TestClock.adjust(Math.min(step, millis - elapsed))
    }
    const exit = fiber.pollUnsafe()
    if (exit === undefined) return assert.fail(`${what} has not returned after ${millis} ms`)
    return exit
  })

/** `within`, for an effect that must succeed: returns its value. */
const succeeds = <A, E>(what: string, millis: number, self: Effect.Effect<A, E>): Effect.Effect<A> =>
  Effect.map(within(what, millis, self), (exit) => {
    if (Exit.isFailure(exit)) return assert.fail(`${what} failed: ${show(exit)}`)
    return exit.value
  })

/** Closes a pool's scope, which must complete at once. */
const closes = (scope: Scope.Closeable) => succeeds("closing the pool's scope", 0, Scope.close(scope, Exit.void))

const show = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? `success ${JSON.stringify(exit.value)}` : Cause.pretty(exit.cause)

const assertDefect = (exit: Exit.Exit<unknown, unknown>, what: string) =>
  assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), `${what} settles with a defect, not ${show(exit)}`)

const assertFailsWith = (exit: Exit.Exit<unknown, unknown>, tag: string, what: string) =>
  assert.isTrue(
    Exit.isFailure(exit) && Cause.hasFails(exit.cause) && (Cause.squash(exit.cause) as { _tag?: string })._tag === tag,
    `${what} settles with ${tag}, not ${show(exit)}`
  )

const checkAccounts = (stats: WorkerPool.Stats, when: string) =>
  assert.strictEqual(accounted(stats), stats.submitted, `invariant 9 ${when}: ${JSON.stringify(stats)}`)

const pick = <K extends keyof WorkerPool.Stats>(stats: WorkerPool.Stats, keys: ReadonlyArray<K>) =>
  Object.fromEntries(keys.map((k) => [k, stats[k]]))

/** The two ways the tests close a pool's scope: at once, and with the default deadline (30 seconds). */
const closings = [
  { title: "shutdownTimeout: 0", options: { shutdownTimeout: 0 } },
  { title: "the default shutdownTimeout", options: {} }
] as const

// -----------------------------------------------------------------------------
// invariant 11: user code decides only its own job's outcome
// -----------------------------------------------------------------------------

/** Handlers that break the handler's contract, each passed off as one (`as any`). */
const hostileHandlers: ReadonlyArray<readonly [string, () => unknown]> = [
  ["returns undefined", () => undefined],
  ["returns null", () => null],
  ["returns a plain object", () => ({ value: 1 })],
  ["returns a number", () => 42],
  ["is async (returns a Promise that resolves)", async () => 1],
  ["throws synchronously", () => {
    throw new Error("thrown by the handler")
  }]
]

describe("a handler that breaks its contract", () => {
  for (const [what, hostile] of hostileHandlers) {
    for (const closing of closings) {
      it.effect(
        `a handler that ${what} settles its own job with a defect; the workers survive (${closing.title})`,
        () =>
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            const probe = concurrencyProbe()
            const pool = yield* WorkerPool.make({
              handler: (n: number) => n === 0 ? hostile() as any : probe.around(Effect.sleep(10).pipe(Effect.as(n))),
              concurrency: 2,
              ...closing.options
            }).pipe(Scope.provide(scope))
            // another job runs meanwhile, and is not disturbed
            const bystander = yield* pool.submit(-1)
            assertDefect(yield* within("the job's execute", 0, pool.execute(0)), "the job")
            const after = yield* pool.stats
            assert.deepStrictEqual(pick(after, ["defects", "workers", "running", "queued"]), {
              defects: 1,
              workers: 2,
              running: 1,
              queued: 0
            })
            checkAccounts(after, "after the job")
            assert.strictEqual(yield* succeeds("the job running beside it", 10, bystander.await), -1)
            // both workers still take jobs: two later jobs run side by side
            const results = yield* succeeds(
              "two later jobs",
              10,
              Effect.all([pool.execute(1), pool.execute(2)], { concurrency: "unbounded" })
            )
            assert.deepStrictEqual(results, [1, 2])
            assert.strictEqual(probe.max, 2)
            const stats = yield* pool.stats
            assert.deepStrictEqual(pick(stats, ["succeeded", "defects", "workers"]), {
              succeeded: 3,
              defects: 1,
              workers: 2
            })
            checkAccounts(stats, "at the end")
            yield* closes(scope)
          }),
        timeout
      )
    }
  }

  it.effect(
    "an executor given something that is not an effect settles that job with a defect and keeps working",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const executor = yield* WorkerPool.makeExecutor({ concurrency: 1 }).pipe(Scope.provide(scope))
        const notEffects = [undefined, null, { value: 1 }, 42]
        for (const value of notEffects) {
          const what = `executing ${JSON.stringify(value)}`
          assertDefect(yield* within(what, 0, executor.execute(value as unknown as Effect.Effect<number>)), what)
          assert.strictEqual(yield* succeeds("the next effect", 0, executor.execute(Effect.succeed(7))), 7)
        }
        for (const value of notEffects) {
          const what = `submitting ${JSON.stringify(value)}`
          const submitted = executor.submit(value as unknown as Effect.Effect<number>)
          assertDefect(yield* within(what, 0, Effect.flatMap(submitted, (handle) => handle.await)), what)
          assert.strictEqual(yield* succeeds("the next effect", 0, executor.execute(Effect.succeed(8))), 8)
        }
        const stats = yield* executor.stats
        assert.deepStrictEqual(pick(stats, ["succeeded", "workers", "running", "queued"]), {
          succeeded: 8,
          workers: 1,
          running: 0,
          queued: 0
        })
        checkAccounts(stats, "at the end")
        yield* closes(scope)
      }),
    timeout
  )
})

describe("a retry predicate that throws", () => {
  for (const closing of closings) {
    it.effect(
      `settles its job with a defect, which is not retried; the worker survives (${closing.title})`,
      () =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const attempts: Array<number> = []
          const pool = yield* WorkerPool.make({
            handler: (n: number) =>
              Effect.sync(() => attempts.push(n)).pipe(
                Effect.andThen(n === 0 ? Effect.fail(new Boom({ input: n })) : Effect.succeed(n))
              ),
            concurrency: 1,
            // reads a field the error lacks; `defects: true` must not make the predicate's own defect retry
            retry: {
              schedule: Schedule.recurs(3),
              while: (error) =>
                (error as unknown as { readonly details: { readonly retryable: boolean } }).details.retryable,
              defects: true
            },
            ...closing.options
          }).pipe(Scope.provide(scope))
          assertDefect(yield* within("the job's execute", 0, pool.execute(0)), "the job")
          assert.deepStrictEqual(attempts, [0], "one attempt")
          const after = yield* pool.stats
          assert.deepStrictEqual(pick(after, ["defects", "failed", "workers", "queued", "retrying", "running"]), {
            defects: 1,
            failed: 0,
            workers: 1,
            queued: 0,
            retrying: 0,
            running: 0
          })
          checkAccounts(after, "after the job")
          assert.strictEqual(yield* succeeds("the next job", 0, pool.execute(1)), 1)
          checkAccounts(yield* pool.stats, "at the end")
          yield* closes(scope)
        }),
      timeout
    )
  }
})

/** Retry schedules whose step fails the way user code can, each after a first attempt that fails. */
const dyingSteps: ReadonlyArray<readonly [string, () => Schedule.Schedule<unknown, unknown>]> = [
  ["dies", () => Schedule.spaced("10 millis").pipe(Schedule.tap(() => Effect.die("boom")))],
  ["throws inside Effect.sync", () =>
    Schedule.spaced("10 millis").pipe(Schedule.tap(() =>
      Effect.sync(() => {
        throw new Error("thrown by the step")
      })
    ))],
  [
    "throws instead of returning an effect",
    () =>
      Schedule.spaced("10 millis").pipe(Schedule.tap((): Effect.Effect<void> => {
        throw new Error("thrown by the step")
      }))
  ],
  [
    "returns something that is not an effect",
    () => Schedule.spaced("10 millis").pipe(Schedule.tap(() => undefined as unknown as Effect.Effect<void>))
  ]
]

describe("a retry schedule whose step fails", () => {
  for (const [what, schedule] of dyingSteps) {
    for (const closing of closings) {
      it.effect(
        `a step that ${what} settles its job with a defect; the worker survives (${closing.title})`,
        () =>
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            const attempts: Array<number> = []
            const pool = yield* WorkerPool.make({
              handler: (n: number) =>
                Effect.sync(() => attempts.push(n)).pipe(
                  Effect.andThen(n === 0 ? Effect.fail(new Boom({ input: n })) : Effect.succeed(n))
                ),
              concurrency: 1,
              retry: schedule(),
              ...closing.options
            }).pipe(Scope.provide(scope))
            assertDefect(yield* within("the job's execute", 100, pool.execute(0)), "the job")
            yield* TestClock.adjust(100)
            assert.deepStrictEqual(attempts, [0], "not retried further")
            const after = yield* pool.stats
            assert.deepStrictEqual(pick(after, ["defects", "failed", "workers", "queued", "retrying", "running"]), {
              defects: 1,
              failed: 0,
              workers: 1,
              queued: 0,
              retrying: 0,
              running: 0
            })
            checkAccounts(after, "after the job")
            assert.strictEqual(yield* succeeds("the next job", 0, pool.execute(1)), 1)
            checkAccounts(yield* pool.stats, "at the end")
            yield* closes(scope)
          }),
        timeout
      )
    }
  }
})

// -----------------------------------------------------------------------------
// invariant 11: a job whose retry schedule is stepping is an accepted job
// -----------------------------------------------------------------------------

/** A service the retry schedule reads at each step (a gate it waits on), as a schedule backed by a limiter would. */
const RetryGate = Context.Reference<Latch.Latch | undefined>("test/RetryGate", { defaultValue: () => undefined })

/** Retry schedules whose step takes time, or never ends. */
const effectfulSteps: ReadonlyArray<readonly [string, () => Schedule.Schedule<unknown, unknown>]> = [
  ["sleeps", () => Schedule.spaced("10 millis").pipe(Schedule.tap(() => Effect.sleep("1 second")))],
  ["waits on a service", () =>
    Schedule.spaced("10 millis").pipe(
      Schedule.tap(() => Effect.flatMap(RetryGate, (gate) => gate === undefined ? Effect.void : gate.await))
    )],
  ["never ends", () => Schedule.spaced("10 millis").pipe(Schedule.tap(() => Effect.never))]
]

/** Input 1 fails its first attempt; every other job takes 100 ms. */
const flakyHandler = (n: number, job: WorkerPool.JobInfo) =>
  n === 1 && job.attempt === 1 ? Effect.fail(new Boom({ input: n })) : Effect.sleep(100).pipe(Effect.as(n))

describe("a retry schedule whose step takes time", () => {
  for (const [what, schedule] of effectfulSteps) {
    it.effect(
      `while a step ${what}, the job counts as queued and retrying, and shutdown returns its input at once, in submission order`,
      () =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const gate = yield* Latch.make(false)
          const pool = yield* WorkerPool.make({
            handler: flakyHandler,
            concurrency: 1,
            capacity: 10,
            retry: schedule()
          }).pipe(Effect.provideService(RetryGate, gate), Scope.provide(scope))
          // job 1 fails at once and its step begins; job 2 runs; jobs 3 and 4 wait
          const handles = yield* Effect.forEach([1, 2, 3, 4], (n) => pool.submit(n))
          for (let t = 0; t < 10; t++) {
            yield* TestClock.adjust(1)
            const stats = yield* pool.stats
            assert.deepStrictEqual(pick(stats, ["running", "queued", "retrying"]), {
              running: 1,
              queued: 3,
              retrying: 1
            })
            checkAccounts(stats, `while the step runs (t=${t + 1})`)
          }
          const left = yield* succeeds("shutdown", 0, pool.shutdown)
          assert.deepStrictEqual(left, [1, 3, 4])
          for (const handle of handles) {
            assertFailsWith(yield* within(`job ${handle.id}`, 0, handle.await), "PoolShutdown", `job ${handle.id}`)
          }
          const stats = yield* pool.stats
          assert.deepStrictEqual(pick(stats, ["shutdown", "queued", "retrying", "running", "workers", "state"]), {
            shutdown: 4,
            queued: 0,
            retrying: 0,
            running: 0,
            workers: 0,
            state: "closed"
          })
          checkAccounts(stats, "after shutdown")
          yield* closes(scope)
        }),
      timeout
    )

    for (const shutdownTimeout of [0, 500]) {
      it.effect(
        `closing the scope while a step ${what} completes at the deadline (${shutdownTimeout} ms); the job settles with PoolShutdown`,
        () =>
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            const gate = yield* Latch.make(false)
            const pool = yield* WorkerPool.make({
              handler: flakyHandler,
              concurrency: 1,
              retry: schedule(),
              shutdownTimeout
            }).pipe(Effect.provideService(RetryGate, gate), Scope.provide(scope))
            const stepping = yield* pool.submit(1)
            yield* TestClock.adjust(10)
            assert.strictEqual((yield* pool.stats).retrying, 1)
            const close = yield* Effect.forkDetach(Scope.close(scope, Exit.void), { startImmediately: true })
            if (shutdownTimeout > 0) {
              yield* TestClock.adjust(shutdownTimeout - 1)
              assert.isUndefined(close.pollUnsafe(), "the close waits for the deadline")
              assert.strictEqual((yield* pool.stats).queued, 1)
            }
            yield* within("the close", shutdownTimeout > 0 ? 1 : 0, Fiber.join(close))
            assertFailsWith(yield* within("the job", 0, stepping.await), "PoolShutdown", "the job")
            const stats = yield* pool.stats
            assert.deepStrictEqual(pick(stats, ["shutdown", "queued", "retrying", "state"]), {
              shutdown: 1,
              queued: 0,
              retrying: 0,
              state: "closed"
            })
            checkAccounts(stats, "after the close")
          }),
        timeout
      )
    }
  }

  it.effect(
    "drain waits for a job whose step is running; the job then runs again, and stats add up meanwhile",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: flakyHandler,
          concurrency: 1,
          retry: Schedule.spaced("10 millis").pipe(Schedule.tap(() => Effect.sleep("1 second")))
        }).pipe(Scope.provide(scope))
        const handle = yield* pool.submit(1)
        const drain = yield* Effect.forkDetach(pool.drain, { startImmediately: true })
        // the step ends at 1000, the retry starts at 1010 and takes 100 ms
        for (let t = 7; t < 1110; t += 7) {
          yield* TestClock.adjust(7)
          const stats = yield* pool.stats
          checkAccounts(stats, `at t=${t}`)
          if (t < 1000) {
            assert.deepStrictEqual(pick(stats, ["queued", "retrying", "running"]), {
              queued: 1,
              retrying: 1,
              running: 0
            })
          }
          assert.isUndefined(drain.pollUnsafe(), `the drain waits (t=${t})`)
        }
        yield* within("the drain", 10, Fiber.join(drain))
        assert.strictEqual(yield* succeeds("the job", 0, handle.await), 1)
        assert.strictEqual((yield* pool.stats).state, "closed")
        yield* closes(scope)
      }),
    timeout
  )

  it.effect(
    "a job whose step never ends does not hold up the pool's other jobs or a later shutdown",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: flakyHandler,
          concurrency: 1,
          retry: Schedule.spaced("10 millis").pipe(Schedule.tap(() => Effect.never))
        }).pipe(Scope.provide(scope))
        const stuck = yield* pool.submit(1)
        assert.deepStrictEqual(
          yield* succeeds(
            "later jobs",
            200,
            Effect.all([pool.execute(2), pool.execute(3)], { concurrency: "unbounded" })
          ),
          [2, 3]
        )
        const stats = yield* pool.stats
        assert.deepStrictEqual(pick(stats, ["succeeded", "queued", "retrying", "running", "workers"]), {
          succeeded: 2,
          queued: 1,
          retrying: 1,
          running: 0,
          workers: 1
        })
        checkAccounts(stats, "with the step still running")
        assert.deepStrictEqual(yield* succeeds("shutdown", 0, pool.shutdown), [1])
        assertFailsWith(yield* within("the stuck job", 0, stuck.await), "PoolShutdown", "the stuck job")
        yield* closes(scope)
      }),
    timeout
  )
})

// -----------------------------------------------------------------------------
// invariant 12: the capacity bound holds with jobs waiting to retry
// -----------------------------------------------------------------------------

describe("sliding with jobs waiting to retry", () => {
  it.effect(
    "every new job drops the oldest queued job, a retrying one included: the queue never exceeds capacity",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.fail(new Boom({ input: n })),
          concurrency: 1,
          capacity: 2,
          overflow: "sliding",
          retry: Schedule.spaced("10 seconds"),
          shutdownTimeout: 0
        }).pipe(Scope.provide(scope))
        const handles: Array<WorkerPool.JobHandle<never, Boom | WorkerPoolError.JobError>> = []
        for (let n = 1; n <= 6; n++) {
          handles.push(yield* pool.submit(n))
          const admitted = yield* pool.stats
          assert.isAtMost(admitted.queued, 2, `after admitting job ${n}: ${JSON.stringify(admitted)}`)
          checkAccounts(admitted, `after admitting job ${n}`)
          // the job runs, fails and waits for its retry
          yield* TestClock.adjust(1)
          const after = yield* pool.stats
          assert.deepStrictEqual(pick(after, ["queued", "retrying", "running"]), {
            queued: Math.min(n, 2),
            retrying: Math.min(n, 2),
            running: 0
          }, `job ${n} waits to retry`)
          if (n >= 3) {
            const victim = yield* within(`job ${n - 2}`, 0, handles[n - 3].await)
            assertFailsWith(victim, "JobDropped", `job ${n - 2}, the oldest queued when job ${n} came`)
            if (Exit.isFailure(victim)) {
              const error = Cause.squash(victim.cause) as WorkerPoolError.JobDropped
              assert.strictEqual(error.overflow, "sliding")
            }
          }
        }
        assert.strictEqual((yield* pool.stats).dropped, 4)
        yield* closes(scope)
      }),
    timeout
  )

  it.effect(
    "the victim is the oldest job of the lowest priority, whether it waits to retry or to start",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const hold = yield* Deferred.make<void>()
        // "fail" jobs fail (and wait long for their retry); "hold" occupies the worker; others succeed
        const pool = yield* WorkerPool.make({
          handler: (input: { readonly name: string; readonly kind: "fail" | "hold" | "ok" }) =>
            input.kind === "fail"
              ? Effect.fail(new Boom({ input: 0 }))
              : input.kind === "hold"
              ? Deferred.await(hold).pipe(Effect.as(input.name))
              : Effect.succeed(input.name),
          concurrency: 1,
          capacity: 3,
          overflow: "sliding",
          retry: Schedule.spaced("10 seconds"),
          shutdownTimeout: 0
        }).pipe(Scope.provide(scope))
        const handles = new Map<string, WorkerPool.JobHandle<string, Boom | WorkerPoolError.JobError>>()
        const dropped = () =>
          Effect.gen(function*() {
            const names: Array<string> = []
            for (const [name, handle] of handles) {
              const exit = yield* handle.poll
              if (Option.isSome(exit) && Exit.isFailure(exit.value) && Cause.hasFails(exit.value.cause)) {
                if ((Cause.squash(exit.value.cause) as { _tag?: string })._tag === "JobDropped") names.push(name)
              }
            }
            // in the order the jobs were submitted, whatever the order they were dropped in
            return names
          })
        const submit = (name: string, kind: "fail" | "hold" | "ok", priority: number) =>
          Effect.gen(function*() {
            handles.set(name, yield* pool.submit({ name, kind }, { priority }))
            yield* TestClock.adjust(1)
            const stats = yield* pool.stats
            assert.isAtMost(stats.queued, 3, `after ${name}: ${JSON.stringify(stats)}`)
            checkAccounts(stats, `after ${name}`)
          })
        // three jobs fail and wait to retry, with priorities 1, -1, 0: the queue is full
        yield* submit("a1", "fail", 1)
        yield* submit("a2", "fail", -1)
        yield* submit("a3", "fail", 0)
        assert.strictEqual((yield* pool.stats).retrying, 3)
        yield* submit("h", "hold", 0)
        assert.deepStrictEqual(yield* dropped(), ["a2"], "the lowest priority goes first, though it waits to retry")
        yield* submit("b", "ok", 0) // there is room again
        yield* submit("c", "ok", 5)
        assert.deepStrictEqual(yield* dropped(), ["a2", "a3"], "of two jobs of priority 0, the older one")
        yield* submit("d", "ok", 5)
        assert.deepStrictEqual(yield* dropped(), ["a2", "a3", "b"])
        yield* submit("e", "ok", 5)
        assert.deepStrictEqual(yield* dropped(), ["a1", "a2", "a3", "b"], "then the oldest of the lowest priority left")
        yield* submit("f", "ok", 5)
        assert.deepStrictEqual(yield* dropped(), ["a1", "a2", "a3", "b", "c"])
        yield* Deferred.succeed(hold, void 0)
        yield* TestClock.adjust(1)
        for (const name of ["h", "d", "e", "f"]) {
          assert.strictEqual(yield* succeeds(`job ${name}`, 0, handles.get(name)!.await), name)
        }
        yield* closes(scope)
      }),
    timeout
  )

  for (const overflow of ["suspend", "fail", "dropping", "sliding"] as const) {
    it.effect(
      `a retry re-entering the queue exceeds capacity by at most the number of workers (overflow: ${overflow})`,
      () =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const concurrency = 3
          const capacity = 4
          const pool = yield* WorkerPool.make({
            // most jobs fail once or twice before they succeed
            handler: (n: number, job: WorkerPool.JobInfo) =>
              Effect.sleep(1 + n % 5).pipe(
                Effect.andThen(job.attempt <= n % 3 ? Effect.fail(new Boom({ input: n })) : Effect.succeed(n))
              ),
            concurrency,
            capacity,
            overflow,
            retry: Schedule.spaced("30 millis").pipe(Schedule.upTo({ times: 2 })),
            shutdownTimeout: 0
          }).pipe(Scope.provide(scope))
          const check = (when: string) =>
            Effect.gen(function*() {
              const stats = yield* pool.stats
              assert.isAtMost(stats.queued, capacity + concurrency, `${when}: ${JSON.stringify(stats)}`)
              checkAccounts(stats, when)
            })
          let n = 0
          for (let t = 0; t < 200; t++) {
            for (let i = 0; i < 2; i++) {
              const input = n++
              if (overflow === "suspend") {
                yield* Effect.forkChild(Effect.exit(pool.submit(input)), { startImmediately: true })
              } else {
                yield* Effect.exit(pool.submit(input))
                if (overflow === "sliding") {
                  const stats = yield* pool.stats
                  assert.isAtMost(stats.queued, capacity, `after admitting job ${input}: ${JSON.stringify(stats)}`)
                }
              }
              yield* check(`after submitting job ${input}`)
            }
            yield* TestClock.adjust(1)
            yield* check(`at t=${t + 1}`)
          }
          yield* succeeds("the drain", 10_000, pool.drain)
          const stats = yield* pool.stats
          assert.strictEqual(stats.queued + stats.running, 0)
          checkAccounts(stats, "at the end")
          yield* closes(scope)
        }),
      timeout
    )
  }
})

// -----------------------------------------------------------------------------
// invariant 13: a stopped pool counts no worker
// -----------------------------------------------------------------------------

/** Reads `stats.workers`, `idleWorkers`, `state` and the `worker_pool_workers` gauge of a pool named `name`. */
const workersOf = (pool: WorkerPool.WorkerPool<number, void>, name: string) =>
  Effect.gen(function*() {
    const stats = yield* pool.stats
    const gauge = yield* Metric.value(Metric.withAttributes(WorkerPoolMetrics.workers, { pool: name }))
    return { workers: stats.workers, idleWorkers: stats.idleWorkers, state: stats.state, gauge: gauge.value }
  })

const stopped = { workers: 0, idleWorkers: 0, state: "closed", gauge: 0 }

const endings = ["its timeout", "handle.interrupt", "interrupting its caller"] as const

/**
 * A pool of two workers running one job of 10 s that ends by `ending`: a timeout at 100 ms, or a cancellation at
 * 10 ms (`end`). Once interrupted, the job's finalizer waits for `release`: a slow finalizer, modelled on a Deferred
 * since a virtual sleep in a finalizer never ends.
 */
const slowToStop = (name: string, ending: typeof endings[number]) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const release = yield* Deferred.make<void>()
    const pool = yield* WorkerPool.make({
      handler: (ms: number) => Effect.sleep(ms).pipe(Effect.onInterrupt(() => Deferred.await(release))),
      concurrency: 2,
      name
    }).pipe(Scope.provide(scope))
    let end: Effect.Effect<void> = Effect.void
    if (ending === "interrupting its caller") {
      const caller = yield* Effect.forkChild(pool.execute(10_000), { startImmediately: true })
      end = Fiber.interrupt(caller)
    } else {
      const handle = yield* pool.submit(10_000, ending === "its timeout" ? { timeout: 100 } : undefined)
      if (ending === "handle.interrupt") end = handle.interrupt
    }
    return { scope, release, pool, end }
  })

describe("a stopped pool counts no worker", () => {
  for (const ending of endings) {
    it.effect(
      `after a drain whose last job ended by ${ending} during the drain, workers and the gauge read 0`,
      () =>
        Effect.gen(function*() {
          const { end, pool, release, scope } = yield* slowToStop("drained", ending)
          yield* TestClock.adjust(10)
          const drain = yield* Effect.forkDetach(pool.drain, { startImmediately: true })
          yield* Effect.forkChild(end, { startImmediately: true })
          yield* TestClock.adjust(100)
          assert.isUndefined(drain.pollUnsafe(), "the drain waits for the job's finalizer")
          assert.strictEqual((yield* pool.stats).workers, 2)
          yield* Deferred.succeed(release, void 0)
          yield* within("the drain", 10, Fiber.join(drain))
          assert.deepStrictEqual(yield* workersOf(pool, "drained"), stopped)
          yield* TestClock.adjust(1000)
          assert.deepStrictEqual(yield* workersOf(pool, "drained"), stopped, "and still later")
          yield* closes(scope)
        }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
      timeout
    )

    it.effect(
      `after a shutdown while a job ends by ${ending}, workers and the gauge read 0`,
      () =>
        Effect.gen(function*() {
          const { end, pool, release, scope } = yield* slowToStop("stopped", ending)
          yield* TestClock.adjust(10)
          yield* Effect.forkChild(end, { startImmediately: true })
          yield* TestClock.adjust(90)
          // the job's finalizer is running when shutdown comes
          const shutdown = yield* Effect.forkDetach(pool.shutdown, { startImmediately: true })
          yield* TestClock.adjust(1)
          yield* Deferred.succeed(release, void 0)
          assert.deepStrictEqual(yield* succeeds("shutdown", 10, Fiber.join(shutdown)), [])
          assert.deepStrictEqual(yield* workersOf(pool, "stopped"), stopped)
          yield* TestClock.adjust(1000)
          assert.deepStrictEqual(yield* workersOf(pool, "stopped"), stopped, "and still later")
          yield* closes(scope)
        }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
      timeout
    )
  }
})

// -----------------------------------------------------------------------------
// invariant 13: JobInfo is a snapshot of its own attempt
// -----------------------------------------------------------------------------

const jobInfoKeys = ["attempt", "id", "key", "pool", "priority", "startedAt", "worker"]

describe("JobInfo", () => {
  it.effect("a JobInfo kept from the first attempt still reads attempt 1 after a retry", () =>
    Effect.gen(function*() {
      const infos: Array<WorkerPool.JobInfo> = []
      const pool = yield* WorkerPool.make({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          Effect.sync(() => infos.push(job)).pipe(
            Effect.andThen(job.attempt < 3 ? Effect.fail(new Boom({ input: n })) : Effect.succeed(n))
          ),
        concurrency: 1,
        retry: Schedule.spaced("10 millis"),
        shutdownTimeout: 0
      })
      assert.strictEqual(yield* succeeds("the job", 100, pool.execute(1)), 1)
      assert.deepStrictEqual(infos.map((info) => info.attempt), [1, 2, 3])
      assert.deepStrictEqual(infos.map((info) => info.startedAt), [0, 10, 20])
    }), timeout)

  it.effect(
    "a JobInfo is frozen and holds exactly id, attempt, priority, key, startedAt, worker and pool",
    () =>
      Effect.gen(function*() {
        const infos = new Map<number, WorkerPool.JobInfo>()
        const pool = yield* WorkerPool.make({
          handler: (n: number, job: WorkerPool.JobInfo) =>
            Effect.sync(() => infos.set(n, job)).pipe(Effect.andThen(Effect.sleep(10))),
          concurrency: 2,
          name: "info",
          shutdownTimeout: 0
        })
        yield* TestClock.adjust(5)
        yield* pool.submit(1, { id: "custom", priority: 3, key: "k" })
        yield* pool.submit(2)
        yield* TestClock.adjust(10)
        const custom = infos.get(1)!
        const plain = infos.get(2)!
        for (const info of [custom, plain]) {
          assert.isTrue(Object.isFrozen(info), "frozen")
          assert.deepStrictEqual(Object.keys({ ...info }).sort(), jobInfoKeys)
        }
        assert.deepStrictEqual({ ...custom }, {
          id: "custom",
          attempt: 1,
          priority: 3,
          key: "k",
          startedAt: 5,
          worker: 1,
          pool: "info"
        })
        assert.deepStrictEqual({ ...plain }, {
          id: "2",
          attempt: 1,
          priority: 0,
          key: undefined,
          startedAt: 5,
          worker: 2,
          pool: "info"
        })
      }),
    timeout
  )

  it.effect("a JobInfo exposes nothing of the pool's internals", () =>
    Effect.gen(function*() {
      let info: WorkerPool.JobInfo | undefined
      const pool = yield* WorkerPool.make({
        handler: (_: { readonly secret: string }, job: WorkerPool.JobInfo) => Effect.sync(() => void (info = job)),
        shutdownTimeout: 0
      })
      yield* succeeds("the job", 0, pool.execute({ secret: "input" }, { timeout: "1 second", key: "k" }))
      const internals = [
        "input",
        "exit",
        "resume",
        "deferred",
        "state",
        "slot",
        "seq",
        "rank",
        "extra",
        "deadline",
        "heapIndex",
        "heapSeq",
        "endReason",
        "endedBy",
        "queuedAt",
        "timeoutMillis",
        "customId"
      ]
      for (const name of internals) assert.isFalse(name in info!, `JobInfo has no ${name}`)
      assert.isFalse(Object.values(info!).some((value) => typeof value === "object"), "the input is out of reach")
      // writing to it changes nothing for the pool (and fails, as it is frozen)
      assert.throws(() => {
        ;(info as { attempt: number }).attempt = 99
      })
      assert.strictEqual(info!.attempt, 1)
      const stats = yield* pool.stats
      assert.strictEqual(stats.succeeded, 1)
      checkAccounts(stats, "at the end")
    }), timeout)
})
