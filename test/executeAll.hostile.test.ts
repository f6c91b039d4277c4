/**
 * executeAll, tried by a hostile user: the caller interrupted at many moments, failures of every kind and order,
 * every overflow strategy, a pool shut down, paused or closed under a group, groups side by side, odd iterables,
 * and the executor's groups. After a group ends (whatever way), none of its jobs may still be queued or running,
 * none may start later, and the pool's stats must add up.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork, trackFibers } from "./utils/fibers.ts"
import { Boom } from "./utils/jobs.ts"
import { makeExecutor, makePool } from "./utils/pools.ts"
import { checkAccounts, pick } from "./utils/stats.ts"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

const boom = (input: number, attempt = 1) => new Boom({ input, attempt, retryable: true })

/**
 * Asserts that nothing is left in the pool: no job queued or running, no submitter waiting, and the accounts add
 * up. Only meaningful in tests where the group is the pool's only work.
 */
const assertNothingLeft = (pool: { readonly stats: Effect.Effect<WorkerPool.Stats> }, when: string) =>
  Effect.gen(function*() {
    const stats = yield* pool.stats
    checkAccounts(stats, when)
    assert.deepStrictEqual(
      pick(stats, ["queued", "running", "waiting"]),
      { queued: 0, running: 0, waiting: 0 },
      `nothing of the group is left ${when}: ${
        JSON.stringify(
          pick(stats, ["submitted", "succeeded", "failed", "cancelled", "dropped", "queued", "running", "waiting"])
        )
      }`
    )
  })

/**
 * A handler's log for one group: which inputs started, which are running, and which started or were still running
 * after the group's caller got its result (`end` is called from the caller's `onExit`, after executeAll returned).
 */
const groupLog = () => {
  const started: Array<number> = []
  const running = new Set<number>()
  const lateStarts: Array<number> = []
  let ended = false
  let runningAtEnd: Array<number> = []
  return {
    started,
    running,
    lateStarts,
    get runningAtEnd() {
      return runningAtEnd
    },
    /** wraps a handler's effect: records its start and its end (whatever it is) */
    around: <A, E, R>(n: number, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.suspend(() => {
        started.push(n)
        running.add(n)
        if (ended) lateStarts.push(n)
        return Effect.ensuring(self, Effect.sync(() => running.delete(n)))
      }),
    /** to be run by the caller as executeAll has returned */
    end: Effect.sync(() => {
      ended = true
      runningAtEnd = [...running]
    }),
    reset: () => {
      ended = false
      runningAtEnd = []
      lateStarts.length = 0
    }
  }
}

type Log = ReturnType<typeof groupLog>

/** Runs executeAll and marks the group's end in `log` the moment the caller has its outcome. */
const tracked = <A, E>(log: Log, self: Effect.Effect<A, E>) => Effect.onExit(self, () => log.end)

const assertNoLateWork = (log: Log, when: string) => {
  assert.deepStrictEqual(log.runningAtEnd, [], `no job of the group still runs once executeAll returned (${when})`)
  assert.deepStrictEqual(log.lateStarts, [], `no job of the group starts after executeAll returned (${when})`)
}

class Greeting extends Context.Service<Greeting, string>()("test/hostile/Greeting") {}

// -----------------------------------------------------------------------------
// the caller interrupted
// -----------------------------------------------------------------------------

describe("executeAll (hostile): the caller interrupted", () => {
  it.effect("at every virtual millisecond of a group larger than the queue: nothing of the group is left", () =>
    Effect.gen(function*() {
      for (let t = 0; t <= 70; t++) {
        // the interruption comes from the test fiber once every wake-up at t has run, or from a fiber whose sleep
        // ends at t before the jobs' sleeps that end at t (it registered first)
        for (const [early, failFast] of [[false, true], [true, true], [false, false], [true, false]] as const) {
          yield* Effect.scoped(Effect.gen(function*() {
            const log = groupLog()
            const pool = yield* makePool({
              handler: (n: number) => log.around(n, Effect.sleep(5 * (1 + (n % 3))).pipe(Effect.as(n))),
              concurrency: 2,
              capacity: 3
            })
            let group: Fiber.Fiber<Array<number>, unknown> | undefined
            if (early) yield* fork(Effect.sleep(t).pipe(Effect.andThen(Effect.suspend(() => Fiber.interrupt(group!)))))
            group = yield* fork(tracked(log, pool.executeAll(range(20), { failFast })))
            yield* TestClock.adjust(t)
            const exit = yield* Fiber.interrupt(group).pipe(Effect.andThen(Fiber.await(group)))
            assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause), `interrupted at ${t}`)
            assertNoLateWork(log, `interrupted at ${t}`)
            yield* assertNothingLeft(pool, `after an interruption at ${t}`)
            const stats = yield* pool.stats
            assert.strictEqual(stats.succeeded + stats.cancelled, stats.submitted, `at ${t}`)
            const startedBefore = log.started.length
            yield* TestClock.adjust(1000)
            assert.strictEqual(log.started.length, startedBefore, `nothing of the group starts later (at ${t})`)
          }))
        }
      }
    }))

  it.effect("between scheduler turns of a large group (default MaxOpsBeforeYield): nothing of the group is left", () =>
    Effect.gen(function*() {
      // The submitter submits ~680 jobs per scheduler turn (2048 ops), then yields; the caller is interrupted in
      // one of the first turns of the group.
      for (let turns = 0; turns <= 3; turns++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const log = groupLog()
          const pool = yield* makePool({
            handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
            concurrency: 1,
            capacity: 10_000
          })
          const group = yield* fork(tracked(log, pool.executeAll(range(3000))))
          for (let i = 0; i < turns; i++) yield* Effect.yieldNow
          yield* Fiber.interrupt(group)
          const submitted = (yield* pool.stats).submitted
          const startedBefore = [...log.started]
          assertNoLateWork(log, `interrupted after ${turns} turns, ${submitted} submitted`)
          yield* assertNothingLeft(pool, `after an interruption after ${turns} turns (${submitted} submitted)`)
          yield* TestClock.adjust(100_000)
          assert.deepStrictEqual(log.started, startedBefore, `nothing else starts (${turns} turns)`)
        }))
      }
    }))

  it.effect("while the submitter yields, at every alignment of its scheduler budget (MaxOpsBeforeYield 3..30)", () =>
    Effect.gen(function*() {
      const leaks: Array<string> = []
      for (let budget = 3; budget <= 30; budget++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const log = groupLog()
          const pool = yield* makePool({
            handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
            concurrency: 1,
            capacity: 1000
          })
          const group = yield* fork(
            tracked(log, pool.executeAll(range(200))).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, budget))
          )
          yield* Effect.yieldNow
          yield* Fiber.interrupt(group)
          const stats = yield* pool.stats
          if (stats.queued + stats.running > 0 || log.runningAtEnd.length > 0) {
            leaks.push(
              `budget ${budget}: submitted ${stats.submitted}, cancelled ${stats.cancelled}, queued ${stats.queued}, running ${stats.running}`
            )
          }
        }))
      }
      assert.deepStrictEqual(leaks, [], "jobs of an interrupted group left in the pool")
    }))

  it.effect("by a handler that runs inline as its job is submitted: that job is cancelled too", () =>
    Effect.gen(function*() {
      const log = groupLog()
      let caller: Fiber.Fiber<unknown, unknown> | undefined
      const pool = yield* makePool({
        handler: (n: number) =>
          log.around(
            n,
            Effect.sync(() => {
              // the group's own first job interrupts the group's caller (a supervisor would, from elsewhere)
              if (n === 0) caller!.interruptUnsafe()
            }).pipe(Effect.andThen(Effect.sleep(100)), Effect.as(n))
          ),
        concurrency: 1
      })
      const group = yield* fork(tracked(log, pool.executeAll([0, 1, 2])))
      caller = group
      const exit = yield* Fiber.await(group)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assertNoLateWork(log, "interrupted by its first job")
      yield* assertNothingLeft(pool, "after the caller was interrupted by a job's handler")
    }))

  it.effect("with no inputs, before and after it starts: [] or interrupted, and nothing left behind", () =>
    Effect.gen(function*() {
      const { alive, started } = yield* trackFibers(Effect.scoped(Effect.gen(function*() {
        const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n), concurrency: 2 })
        assert.deepStrictEqual(yield* pool.executeAll([]), [])
        const early = yield* Effect.forkChild(pool.executeAll([]))
        yield* Fiber.interrupt(early)
        const late = yield* fork(pool.executeAll([]))
        const exit = yield* Fiber.interrupt(late).pipe(Effect.andThen(Fiber.await(late)))
        assert.isTrue(
          Exit.isSuccess(exit) ? exit.value.length === 0 : Cause.hasInterruptsOnly(exit.cause),
          "an empty group ends with [] or its interruption"
        )
        yield* assertNothingLeft(pool, "after empty groups")
      })))
      assert.isAtLeast(started, 4)
      assert.strictEqual(alive, 0, "no fiber left behind")
    }))

  it.effect("at the instant its last job settles, whichever wakes first: all results, or nothing left running", () =>
    Effect.gen(function*() {
      for (const interrupterFirst of [true, false]) {
        yield* Effect.scoped(Effect.gen(function*() {
          const log = groupLog()
          const pool = yield* makePool({
            handler: (n: number) => log.around(n, Effect.sleep(10 * n).pipe(Effect.as(n))),
            concurrency: 3
          })
          let group: Fiber.Fiber<Array<number>, unknown> | undefined
          // an interrupter that sleeps until the last job's end; registered before or after the jobs' sleeps
          const interrupter = Effect.sleep(30).pipe(Effect.andThen(Effect.suspend(() => Fiber.interrupt(group!))))
          if (interrupterFirst) yield* fork(interrupter)
          group = yield* fork(tracked(log, pool.executeAll([1, 2, 3])))
          if (!interrupterFirst) yield* fork(interrupter)
          yield* TestClock.adjust(30)
          const exit = yield* Fiber.await(group)
          if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, [1, 2, 3])
          else assert.isTrue(Cause.hasInterruptsOnly(exit.cause))
          assertNoLateWork(log, `interrupter first: ${interrupterFirst}`)
          yield* assertNothingLeft(pool, `interrupter first: ${interrupterFirst}`)
        }))
      }
    }))

  it.effect("while it waits for room in a paused pool: every job cancelled, none starts on resume", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.succeed(n)),
        concurrency: 2,
        capacity: 4
      })
      yield* pool.pause
      const group = yield* fork(tracked(log, pool.executeAll(range(10))))
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(pick(yield* pool.stats, ["queued", "waiting", "submitted"]), {
        queued: 4,
        waiting: 1,
        submitted: 4
      })
      yield* Fiber.interrupt(group)
      yield* assertNothingLeft(pool, "after the interruption of a paused group")
      assert.strictEqual((yield* pool.stats).cancelled, 4)
      yield* pool.resume
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(log.started, [], "no job of the group starts on resume")
      assert.deepStrictEqual(yield* pool.executeAll([7, 8]), [7, 8], "the pool still works")
    }))

  it.effect("by a timeout around it (Effect.timeoutOption): nothing of the group is left", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 2
      })
      const group = yield* fork(tracked(log, pool.executeAll(range(20))).pipe(Effect.timeoutOption(25)))
      yield* TestClock.adjust(25)
      assert.isTrue((yield* Fiber.join(group))._tag === "None", "timed out")
      assertNoLateWork(log, "timeoutOption")
      yield* assertNothingLeft(pool, "after a timeout around the group")
    }))

  it.effect("as the loser of a race between two groups on one pool: the loser's jobs are all cancelled", () =>
    Effect.gen(function*() {
      const fast = groupLog()
      const slow = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => (n < 100 ? fast : slow).around(n, Effect.sleep(n < 100 ? 2 : 7).pipe(Effect.as(n))),
        concurrency: 3,
        capacity: 3
      })
      const race = yield* fork(
        Effect.raceFirst(
          tracked(fast, pool.executeAll(range(10))),
          tracked(slow, pool.executeAll(range(10).map((n) => 100 + n)))
        )
      )
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(yield* Fiber.join(race), range(10))
      assertNoLateWork(slow, "the losing group")
      yield* assertNothingLeft(pool, "after a race of groups")
    }))

  it.effect("many groups ended every way leave no fiber behind, and the scope closes at once", () =>
    Effect.gen(function*() {
      const { alive, started } = yield* trackFibers(Effect.scoped(Effect.gen(function*() {
        const pool = yield* makePool({
          handler: (n: number) =>
            Effect.sleep(n).pipe(Effect.andThen(n === 7 ? Effect.fail(boom(n)) : Effect.succeed(n))),
          concurrency: 2,
          capacity: 2
        })
        const ok = yield* fork(pool.executeAll([1, 2, 3, 4, 5]))
        const failing = yield* fork(Effect.flip(pool.executeAll([5, 7, 9, 11, 13])))
        const interrupted = yield* fork(pool.executeAll([20, 20, 20, 20, 20]))
        const empty = yield* fork(pool.executeAll([]))
        yield* TestClock.adjust(3)
        yield* Fiber.interrupt(interrupted)
        yield* TestClock.adjust(100)
        assert.deepStrictEqual(yield* Fiber.join(ok), [1, 2, 3, 4, 5])
        assert.instanceOf(yield* Fiber.join(failing), Boom)
        assert.deepStrictEqual(yield* Fiber.join(empty), [])
        yield* assertNothingLeft(pool, "after groups of every ending")
        // a last group still running when the scope closes
        yield* fork(pool.executeAll([1000, 1000, 1000, 1000, 1000, 1000]))
        yield* TestClock.adjust(1)
      })))
      assert.isAtLeast(started, 6)
      assert.strictEqual(alive, 0, "no fiber left behind")
    }))
})

// -----------------------------------------------------------------------------
// failures
// -----------------------------------------------------------------------------

describe("executeAll (hostile): failures", () => {
  it.effect("failFast: the error is the first failure in time, not in input order, and keeps its class", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) =>
          log.around(
            n,
            Effect.sleep(n === 3 ? 5 : n === 1 ? 20 : 50).pipe(
              Effect.andThen(n === 1 || n === 3 ? Effect.fail(boom(n)) : Effect.succeed(n))
            )
          ),
        concurrency: 4,
        capacity: 10
      })
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(8)))))
      yield* TestClock.adjust(5)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, Boom)
      assert.strictEqual((error as Boom).input, 3)
      assertNoLateWork(log, "failFast")
      yield* assertNothingLeft(pool, "after a failFast failure")
      assert.deepStrictEqual(pick(yield* pool.stats, ["failed", "cancelled", "succeeded"]), {
        failed: 1,
        cancelled: 7,
        succeeded: 0
      })
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(log.started, [0, 1, 2, 3], "nothing else starts")
    }))

  it.effect("failFast: false: every job runs to its end, and the error is the first in input order of any kind", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) =>
          Effect.sleep([10, 30, 5, 100, 1][n]).pipe(
            Effect.andThen(
              n === 1
                ? Effect.die(new Error("defect of 1"))
                : n === 2
                ? Effect.fail(boom(n))
                : Effect.succeed(n)
            )
          ),
        concurrency: 5
      })
      const group = yield* fork(pool.executeAll(range(5), { failFast: false, timeout: 50 }))
      yield* TestClock.adjust(49)
      assert.isUndefined(group.pollUnsafe(), "waits for every job, the one that times out included")
      yield* TestClock.adjust(1)
      const exit = yield* Fiber.await(group)
      assert.isTrue(Exit.isFailure(exit))
      const cause = (exit as Exit.Failure<unknown, unknown>).cause
      assert.isTrue(Cause.hasDies(cause), `the defect of input 1 is the error: ${Cause.pretty(cause)}`)
      assert.isFalse(Cause.hasFails(cause), "and only it")
      assert.deepStrictEqual(pick(yield* pool.stats, ["succeeded", "failed", "defects", "timedOut", "cancelled"]), {
        succeeded: 2,
        failed: 1,
        defects: 1,
        timedOut: 1,
        cancelled: 0
      })
    }))

  it.effect("failFast: false: a timeout first in input order is the error, with its job's id", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) =>
          Effect.sleep(n === 0 ? 100 : 1).pipe(Effect.andThen(n === 2 ? Effect.fail(boom(n)) : Effect.succeed(n))),
        concurrency: 3
      })
      const before = (yield* pool.stats).submitted
      const group = yield* fork(Effect.flip(pool.executeAll([0, 1, 2], { failFast: false, timeout: 20 })))
      yield* TestClock.adjust(20)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.JobTimeout)
      assert.strictEqual((error as WorkerPoolError.JobTimeout).jobId, String(before + 1))
      assert.strictEqual((error as WorkerPoolError.JobTimeout).timeoutMillis, 20)
    }))

  it.effect("failFast: jobs that fail synchronously, inline as they are submitted, stop the group at once", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, n === 2 ? Effect.fail(boom(n)) : Effect.succeed(n)),
        concurrency: 1,
        capacity: 1000
      })
      const error = yield* tracked(log, Effect.flip(pool.executeAll(range(100))))
      assert.instanceOf(error, Boom)
      assert.strictEqual((error as Boom).input, 2)
      assertNoLateWork(log, "an inline failure")
      yield* assertNothingLeft(pool, "after an inline failure")
      const stats = yield* pool.stats
      assert.deepStrictEqual(pick(stats, ["succeeded", "failed"]), { succeeded: 2, failed: 1 })
      assert.strictEqual(stats.submitted, 3, "the inputs after the failure are never submitted")
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(log.started, [0, 1, 2])
    }))

  it.effect("failFast: defects (Effect.die, a throwing handler, a handler that returns no effect) end the group", () =>
    Effect.gen(function*() {
      const kinds = ["die", "throw", "not an effect"] as const
      for (const kind of kinds) {
        yield* Effect.scoped(Effect.gen(function*() {
          const log = groupLog()
          const pool = yield* makePool({
            handler: (n: number): Effect.Effect<number> => {
              if (n === 1 && kind === "throw") throw new Error("thrown")
              if (n === 1 && kind === "not an effect") return 42 as unknown as Effect.Effect<number>
              return log.around(
                n,
                Effect.sleep(n === 1 ? 5 : 100).pipe(
                  Effect.andThen(n === 1 ? Effect.die(new Error("died")) : Effect.succeed(n))
                )
              )
            },
            concurrency: 2,
            capacity: 2
          })
          const group = yield* fork(tracked(log, pool.executeAll(range(10))))
          yield* TestClock.adjust(5)
          const exit = yield* Fiber.await(group)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), `${kind}: a defect`)
          assertNoLateWork(log, kind)
          yield* assertNothingLeft(pool, `after a defect (${kind})`)
          assert.strictEqual((yield* pool.stats).defects, 1, kind)
        }))
      }
    }))

  it.effect("a handler that interrupts itself fails the group as execute fails, and failFast cancels the rest", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) =>
          log.around(
            n,
            Effect.sleep(n === 1 ? 5 : 50).pipe(Effect.andThen(n === 1 ? Effect.interrupt : Effect.succeed(n)))
          ),
        concurrency: 3
      })
      const alone = yield* fork(pool.execute(1))
      yield* TestClock.adjust(5)
      const viaExecute = yield* Fiber.await(alone)
      log.reset()
      const group = yield* fork(tracked(log, pool.executeAll([0, 1, 2])))
      yield* TestClock.adjust(5)
      const viaGroup = yield* Fiber.await(group)
      assert.isTrue(Exit.isFailure(viaExecute) && Cause.hasInterruptsOnly(viaExecute.cause), "execute: interrupted")
      assert.isTrue(Exit.isFailure(viaGroup) && Cause.hasInterruptsOnly(viaGroup.cause), "executeAll: the same")
      assertNoLateWork(log, "a job that interrupted itself")
      yield* assertNothingLeft(pool, "after a job interrupted itself")
      assert.strictEqual((yield* pool.stats).cancelled, 4, "the two jobs that interrupted themselves and two more")
    }))

  it.effect("failFast: a timeout is the group's error, with the id of the job that timed out", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(n === 4 ? 100 : 5).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 2
      })
      const before = (yield* pool.stats).submitted
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(10), { timeout: 30 }))))
      yield* TestClock.adjust(100)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.JobTimeout)
      assert.strictEqual((error as WorkerPoolError.JobTimeout).jobId, String(before + 5))
      assertNoLateWork(log, "a timeout")
      yield* assertNothingLeft(pool, "after a timeout")
    }))

  it.effect("retry: a failed attempt that is retried does not end the group; one that waits to retry is cancelled", () =>
    Effect.gen(function*() {
      const attempts = new Map<number, number>()
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          log.around(
            n,
            Effect.sync(() => attempts.set(n, job.attempt)).pipe(
              Effect.andThen(Effect.sleep(1)),
              // 0 succeeds on its third attempt, 1 never succeeds, 2 always succeeds
              Effect.andThen(
                (n === 0 && job.attempt < 3) || n === 1 ? Effect.fail(boom(n, job.attempt)) : Effect.succeed(n)
              )
            )
          ),
        concurrency: 3
      })
      const ok = yield* fork(pool.executeAll([0, 2, 0], { retry: Schedule.recurs(2) }))
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(yield* Fiber.join(ok), [0, 2, 0])
      assert.strictEqual((yield* pool.stats).retried, 4)
      // 1 fails three times, 10 ms apart, and ends the group; 0 waits 1000 ms to retry when it does
      const failing = yield* fork(tracked(
        log,
        Effect.flip(pool.executeAll([0, 1], {
          retry: Schedule.max([Schedule.recurs(2), Schedule.spaced(10)])
        }))
      ))
      yield* TestClock.adjust(50)
      const error = yield* Fiber.join(failing)
      assert.instanceOf(error, Boom)
      assert.deepStrictEqual([(error as Boom).input, (error as Boom).attempt], [1, 3], "the last attempt's error")
      assertNoLateWork(log, "retries")
      yield* assertNothingLeft(pool, "after a group with retries")
      assert.strictEqual((yield* pool.stats).retrying, 0)
    }))

  it.effect("overflow \"fail\", failFast: false: the first failure in input order wins over a later turned-away input", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) => n === 0 ? Effect.fail(boom(n)) : Effect.sleep(10).pipe(Effect.as(n)),
        concurrency: 1,
        capacity: 2,
        overflow: "fail"
      })
      // 0 fails at once (inline), 1 runs, 2 and 3 wait, 4 is turned away with QueueFull; the jobs accepted run to
      // their end, then the group fails with the first failure in input order
      const group = yield* fork(Effect.flip(pool.executeAll(range(5), { failFast: false })))
      yield* TestClock.adjust(5)
      assert.isUndefined(group.pollUnsafe(), "the accepted jobs run to their end first")
      yield* TestClock.adjust(30)
      const error = yield* Fiber.join(group)
      assert.instanceOf(
        error,
        Boom,
        `README: "the group then fails with the first failure in input order"; got ${error}`
      )
      assert.deepStrictEqual(pick(yield* pool.stats, ["succeeded", "failed", "rejected", "cancelled"]), {
        succeeded: 3,
        failed: 1,
        rejected: 1,
        cancelled: 0
      })
    }))

  it.effect("typed errors keep their class, and the error is the job's error itself (not wrapped)", () =>
    Effect.gen(function*() {
      class Custom extends Error {
        readonly input: number
        constructor(input: number) {
          super(`custom ${input}`)
          this.input = input
        }
      }
      const pool = yield* makePool({
        handler: (n: number) => n === 3 ? Effect.fail(new Custom(n)) : Effect.succeed(n),
        concurrency: 2
      })
      const e1 = yield* Effect.flip(pool.executeAll(range(5)))
      const e2 = yield* Effect.flip(pool.executeAll(range(5), { failFast: false }))
      const e3 = yield* Effect.flip(pool.execute(3))
      for (const e of [e1, e2, e3]) {
        assert.instanceOf(e, Custom)
        assert.strictEqual((e as Custom).input, 3)
      }
    }))
})

// -----------------------------------------------------------------------------
// overflow strategies
// -----------------------------------------------------------------------------

describe("executeAll (hostile): overflow", () => {
  it.effect("\"sliding\", failFast: a job of the group dropped to make room ends it, and none of its jobs runs on", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 1,
        capacity: 2,
        overflow: "sliding"
      })
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(6)))))
      yield* TestClock.adjust(0)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.JobDropped)
      assertNoLateWork(log, "sliding")
      yield* assertNothingLeft(pool, "after a group's job was slid out")
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(log.started, [0], "only the job that started before the drop ever ran")
      assert.strictEqual((yield* pool.stats).succeeded, 0, "no job of the failed group succeeded later")
    }))

  it.effect("\"sliding\", failFast: false: every job settles, the error is the first dropped input", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) => Effect.sleep(10).pipe(Effect.as(n)),
        concurrency: 1,
        capacity: 2,
        overflow: "sliding"
      })
      const before = (yield* pool.stats).submitted
      const group = yield* fork(Effect.flip(pool.executeAll(range(6), { failFast: false })))
      yield* TestClock.adjust(100)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.JobDropped)
      // 0 runs; 1 and 2 queue; 3 slides 1 out, 4 slides 2 out, 5 slides 3 out: 0, 4, 5 succeed
      assert.strictEqual((error as WorkerPoolError.JobDropped).jobId, String(before + 2))
      yield* assertNothingLeft(pool, "after a sliding group without failFast")
      assert.deepStrictEqual(pick(yield* pool.stats, ["succeeded", "dropped"]), { succeeded: 3, dropped: 3 })
    }))

  it.effect("\"dropping\", failFast: the first dropped input ends the group; nothing after it is submitted", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 1,
        capacity: 2,
        overflow: "dropping"
      })
      const error = yield* tracked(log, Effect.flip(pool.executeAll(range(10))))
      assert.instanceOf(error, WorkerPoolError.JobDropped)
      assertNoLateWork(log, "dropping")
      yield* assertNothingLeft(pool, "after a dropped job")
      assert.deepStrictEqual(pick(yield* pool.stats, ["submitted", "dropped", "cancelled"]), {
        submitted: 4,
        dropped: 1,
        cancelled: 3
      })
    }))

  it.effect("\"fail\", failFast: a group larger than the queue fails with QueueFull and submits nothing after", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 2,
        overflow: "fail"
      })
      const error = yield* tracked(log, Effect.flip(pool.executeAll(range(10))))
      assert.instanceOf(error, WorkerPoolError.QueueFull)
      assertNoLateWork(log, "QueueFull")
      yield* assertNothingLeft(pool, "after QueueFull")
      assert.deepStrictEqual(pick(yield* pool.stats, ["submitted", "rejected", "cancelled"]), {
        submitted: 4,
        rejected: 1,
        cancelled: 4
      })
    }))
})

// -----------------------------------------------------------------------------
// the pool's lifecycle under a group
// -----------------------------------------------------------------------------

describe("executeAll (hostile): the pool stops under a group", () => {
  it.effect("shutdown while the group waits for room: PoolShutdown, every job settled, at once", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 2
      })
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(10)))))
      yield* TestClock.adjust(5)
      assert.strictEqual((yield* pool.stats).waiting, 1)
      const unstarted = yield* pool.shutdown
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.PoolShutdown)
      assertNoLateWork(log, "shutdown")
      const stats = yield* pool.stats
      checkAccounts(stats, "after shutdown")
      assert.deepStrictEqual(
        { unstarted, ...pick(stats, ["state", "submitted", "shutdown", "cancelled", "queued", "running", "waiting"]) },
        {
          unstarted: [2, 3],
          state: "closed",
          submitted: 4,
          shutdown: 4,
          cancelled: 0,
          queued: 0,
          running: 0,
          waiting: 0
        },
        "shutdown returns the group's inputs that never started, and settles its unfinished jobs with PoolShutdown"
      )
    }))

  it.effect("shutdown while the group runs (all submitted): its unfinished jobs settle with PoolShutdown", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 10
      })
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(4)))))
      yield* TestClock.adjust(5)
      const unstarted = yield* pool.shutdown
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.PoolShutdown)
      assertNoLateWork(log, "shutdown")
      const stats = yield* pool.stats
      checkAccounts(stats, "after shutdown")
      assert.deepStrictEqual(
        { unstarted, ...pick(stats, ["shutdown", "cancelled"]) },
        { unstarted: [2, 3], shutdown: 4, cancelled: 0 },
        "every unfinished job of the group settles with PoolShutdown, as a plain job's would"
      )
    }))

  it.effect("(control) shutdown with plain submitted jobs and a waiting submitter: every job settles with PoolShutdown", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) => Effect.sleep(10).pipe(Effect.as(n)),
        concurrency: 2,
        capacity: 2
      })
      yield* Effect.forEach(range(4), (n) => pool.submit(n))
      const waiting = yield* fork(pool.submit(4))
      yield* TestClock.adjust(5)
      const unstarted = yield* pool.shutdown
      assert.instanceOf(yield* Effect.flip(Fiber.join(waiting)), WorkerPoolError.PoolShutdown)
      const stats = yield* pool.stats
      assert.deepStrictEqual(
        { unstarted, ...pick(stats, ["shutdown", "cancelled"]) },
        { unstarted: [2, 3], shutdown: 4, cancelled: 0 }
      )
    }))

  it.effect("the pool's scope closed while the group runs and waits: PoolShutdown, and the close returns at once", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const scope = yield* Scope.make()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 2
      }).pipe(Scope.provide(scope))
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(10)))))
      yield* TestClock.adjust(5)
      const closing = yield* fork(Scope.close(scope, Exit.void))
      assert.isDefined(closing.pollUnsafe(), "the close did not wait (shutdownTimeout 0)")
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.PoolShutdown)
      assertNoLateWork(log, "scope closed")
      const stats = yield* pool.stats
      checkAccounts(stats, "after the scope closed")
      assert.strictEqual(stats.state, "closed")
    }))

  it.effect("drain while the group waits for room: the group ends with PoolShutdown and cancels what it submitted", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) => log.around(n, Effect.sleep(10).pipe(Effect.as(n))),
        concurrency: 2,
        capacity: 2
      })
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(10)))))
      yield* TestClock.adjust(5)
      const draining = yield* fork(pool.drain)
      const error = yield* Fiber.join(group)
      assert.instanceOf(error, WorkerPoolError.PoolShutdown)
      assertNoLateWork(log, "drain")
      yield* TestClock.adjust(100)
      yield* Fiber.join(draining)
      const stats = yield* pool.stats
      checkAccounts(stats, "after drain")
      assert.deepStrictEqual(pick(stats, ["cancelled", "rejected", "succeeded"]), {
        cancelled: 4,
        rejected: 1,
        succeeded: 0
      })
    }))

  it.effect("a paused pool holds the group; resume lets it finish with every result in place", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) => Effect.sleep(1).pipe(Effect.as(n * 10)),
        concurrency: 3,
        capacity: 2
      })
      yield* pool.pause
      const group = yield* fork(pool.executeAll(range(25)))
      yield* TestClock.adjust(100)
      assert.isUndefined(group.pollUnsafe())
      yield* pool.resume
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(yield* Fiber.join(group), range(25).map((n) => n * 10))
      yield* assertNothingLeft(pool, "after a paused group finished")
    }))

  it.effect("a group started on a pool already shut down fails with PoolShutdown and submits nothing", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n), concurrency: 1 })
      yield* pool.shutdown
      const error = yield* Effect.flip(pool.executeAll([1, 2, 3]))
      assert.instanceOf(error, WorkerPoolError.PoolShutdown)
      assert.deepStrictEqual(yield* pool.executeAll([]), [], "an empty group has nothing to submit")
      assert.strictEqual((yield* pool.stats).submitted, 0)
    }))
})

/**
 * The seeds of a randomized case: 1 to `count` in CI; `POOL_SEED=a,b` replays those, `POOL_RUNS=n` adds n random ones
 * (every failure names its seed).
 */
const groupSeeds = (count: number): ReadonlyArray<number> =>
  process.env.POOL_SEED !== undefined
    ? process.env.POOL_SEED.split(",").map((seed) => Number(seed.trim()))
    : [
      ...Array.from({ length: count }, (_, i) => i + 1),
      ...Array.from({ length: Number(process.env.POOL_RUNS ?? 0) }, () => Math.floor(Math.random() * 2 ** 31))
    ]

/**
 * Six groups of random sizes, durations, failures and failFast on a small pool, some of them interrupted: each
 * group that succeeds has exactly its results, no group leaves work behind, and the pool ends empty.
 */
const randomGroups = (overflows: ReadonlyArray<WorkerPool.OverflowStrategy>, seeds: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    for (const seed of seeds) {
      let state = seed * 7919
      const random = () => {
        state = (state * 1103515245 + 12345) % 2147483648
        return state / 2147483648
      }
      yield* Effect.scoped(Effect.gen(function*() {
        const overflow = overflows[seed % overflows.length]
        const logs = new Map<number, Log>()
        const pool = yield* makePool({
          handler: (x: { readonly ms: number; readonly fail: boolean; readonly g: number }) =>
            logs.get(x.g)!.around(
              x.ms,
              Effect.sleep(x.ms).pipe(Effect.andThen(x.fail ? Effect.fail(boom(x.g)) : Effect.succeed(x.ms)))
            ),
          concurrency: 1 + Math.floor(random() * 3),
          capacity: 1 + Math.floor(random() * 4),
          overflow
        })
        const groups: Array<{
          fiber: Fiber.Fiber<unknown, unknown>
          inputs: Array<{ ms: number; fail: boolean; g: number }>
          log: Log
        }> = []
        for (let g = 0; g < 6; g++) {
          const inputs = range(1 + Math.floor(random() * 12)).map(() => ({
            ms: Math.floor(random() * 20),
            fail: random() < 0.08,
            g
          }))
          const log = groupLog()
          logs.set(g, log)
          const fiber = yield* fork(tracked(log, pool.executeAll(inputs, { failFast: random() < 0.6 })))
          groups.push({ fiber, inputs, log })
          yield* TestClock.adjust(Math.floor(random() * 5))
        }
        for (const group of groups) if (random() < 0.3) yield* Fiber.interrupt(group.fiber)
        yield* TestClock.adjust(1000)
        for (const group of groups) {
          const exit = yield* Fiber.await(group.fiber)
          if (Exit.isSuccess(exit)) {
            assert.deepStrictEqual(exit.value, group.inputs.map((x) => x.ms), `seed ${seed}`)
          }
          assertNoLateWork(group.log, `seed ${seed} (${overflow}), group ${groups.indexOf(group)}`)
        }
        yield* assertNothingLeft(pool, `seed ${seed} (${overflow})`)
      }))
    }
  })

// -----------------------------------------------------------------------------
// groups side by side
// -----------------------------------------------------------------------------

describe("executeAll (hostile): groups side by side", () => {
  it.effect("two groups and plain callers on one small pool: each gets exactly its own results, in order", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (s: string) => Effect.sleep(s.length).pipe(Effect.as(s.toUpperCase())),
        concurrency: 2,
        capacity: 3
      })
      const a = range(30).map((i) => `a${"x".repeat(i % 4)}${i}`)
      const b = range(30).map((i) => `b${"y".repeat(i % 5)}${i}`)
      const ga = yield* fork(pool.executeAll(a))
      const plain = yield* fork(Effect.forEach(range(5), (i) => pool.execute(`p${i}`), { concurrency: "unbounded" }))
      const gb = yield* fork(pool.executeAll(new Set(b)))
      const handle = yield* fork(pool.submit("solo"))
      yield* TestClock.adjust(10_000)
      assert.deepStrictEqual(yield* Fiber.join(ga), a.map((s) => s.toUpperCase()))
      assert.deepStrictEqual(yield* Fiber.join(gb), b.map((s) => s.toUpperCase()))
      assert.deepStrictEqual(yield* Fiber.join(plain), range(5).map((i) => `P${i}`))
      assert.strictEqual(yield* (yield* Fiber.join(handle)).await, "SOLO")
      yield* assertNothingLeft(pool, "after groups side by side")
    }))

  it.effect("one group failing fast leaves another group and plain jobs alone", () =>
    Effect.gen(function*() {
      const logA = groupLog()
      const pool = yield* makePool({
        handler: (n: number) =>
          Effect.sleep(5).pipe(Effect.andThen(n === -3 ? Effect.fail(boom(n)) : Effect.succeed(n))),
        concurrency: 2,
        capacity: 2
      })
      const failing = yield* fork(tracked(logA, Effect.flip(pool.executeAll(range(10).map((n) => -n)))))
      const ok = yield* fork(pool.executeAll(range(10)))
      const plain = yield* fork(pool.execute(42))
      yield* TestClock.adjust(1000)
      assert.instanceOf(yield* Fiber.join(failing), Boom)
      assert.deepStrictEqual(yield* Fiber.join(ok), range(10))
      assert.strictEqual(yield* Fiber.join(plain), 42)
      yield* assertNothingLeft(pool, "after a failing group beside others")
    }))

  it.effect("randomized (suspend, dropping, fail): groups failing, interrupted and succeeding leave nothing", () =>
    randomGroups(["suspend", "dropping", "fail"], groupSeeds(60)))

  it.effect("randomized (sliding): groups failing, interrupted and succeeding at random leave nothing behind", () =>
    randomGroups(["sliding"], groupSeeds(20)))
})

// -----------------------------------------------------------------------------
// inputs
// -----------------------------------------------------------------------------

describe("executeAll (hostile): inputs", () => {
  it.effect("any iterable: a generator, a Set, a Map's keys, a string, a typed array; results in input order", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (x: unknown) => Effect.sleep(typeof x === "number" ? (x * 7) % 11 : 1).pipe(Effect.as(x)),
        concurrency: 3,
        capacity: 2
      })
      const run = (inputs: Iterable<unknown>) =>
        Effect.gen(function*() {
          const fiber = yield* fork(pool.executeAll(inputs))
          yield* TestClock.adjust(1000)
          return yield* Fiber.join(fiber)
        })
      function* gen() {
        for (let i = 0; i < 20; i++) yield i
      }
      assert.deepStrictEqual(yield* run(gen()), range(20))
      assert.deepStrictEqual(yield* run(new Set([5, 3, 5, 1])), [5, 3, 1])
      assert.deepStrictEqual(yield* run(new Map([[9, "a"], [2, "b"]]).keys()), [9, 2])
      assert.deepStrictEqual(yield* run("héllo"), ["h", "é", "l", "l", "o"])
      assert.deepStrictEqual(yield* run(new Uint8Array([3, 1, 2])), [3, 1, 2])
      assert.deepStrictEqual(yield* run([undefined, null, 0]), [undefined, null, 0], "falsy results stay in place")
    }))

  it.effect("an iterable that throws midway fails the group with a defect and leaves no job behind", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n), concurrency: 1 })
      function* bad() {
        yield 1
        yield 2
        throw new Error("iterator broke")
      }
      const exit = yield* Effect.exit(pool.executeAll(bad()))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "a defect")
      yield* assertNothingLeft(pool, "after a broken iterable")
    }))

  it.effect("100,000 inputs: exactly the handler's outputs, in input order", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) => n % 1000 === 0 ? Effect.yieldNow.pipe(Effect.as(n * 3)) : Effect.succeed(n * 3),
        concurrency: 8,
        capacity: 1000
      })
      const inputs = range(100_000)
      const results = yield* pool.executeAll(inputs)
      assert.strictEqual(results.length, 100_000)
      for (let i = 0; i < results.length; i++) {
        if (results[i] !== i * 3) assert.fail(`result ${i} is ${results[i]}`)
      }
      yield* assertNothingLeft(pool, "after 100,000 inputs")
      assert.strictEqual((yield* pool.stats).succeeded, 100_000)
    }))

  it.effect("a failure in a large group (default scheduler budget) leaves no job of it in the pool", () =>
    Effect.gen(function*() {
      const log = groupLog()
      const pool = yield* makePool({
        handler: (n: number) =>
          log.around(n, Effect.yieldNow.pipe(Effect.andThen(n === 0 ? Effect.fail(boom(n)) : Effect.sleep(10)))),
        concurrency: 1,
        capacity: 100_000
      })
      const error = yield* tracked(log, Effect.flip(pool.executeAll(range(20_000))))
      assert.instanceOf(error, Boom)
      const stats = yield* pool.stats
      assertNoLateWork(log, `a failure in a large group (${stats.submitted} submitted)`)
      yield* assertNothingLeft(pool, `after a failure in a large group (${stats.submitted} submitted)`)
    }))

  it.effect("a failure while the submitter yields, at every alignment of its budget (MaxOpsBeforeYield 3..30)", () =>
    Effect.gen(function*() {
      const leaks: Array<string> = []
      for (let budget = 3; budget <= 30; budget++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const log = groupLog()
          const pool = yield* makePool({
            handler: (n: number) =>
              log.around(n, Effect.yieldNow.pipe(Effect.andThen(n === 0 ? Effect.fail(boom(n)) : Effect.sleep(10)))),
            concurrency: 1,
            capacity: 1000
          })
          yield* tracked(
            log,
            Effect.flip(pool.executeAll(range(200))).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, budget))
          )
          const stats = yield* pool.stats
          if (stats.queued + stats.running > 0 || log.runningAtEnd.length > 0) {
            leaks.push(
              `budget ${budget}: submitted ${stats.submitted}, cancelled ${stats.cancelled}, queued ${stats.queued}, running ${stats.running}`
            )
          }
        }))
      }
      assert.deepStrictEqual(leaks, [], "jobs of a failed group left in the pool")
    }))
})

// -----------------------------------------------------------------------------
// group options
// -----------------------------------------------------------------------------

describe("executeAll (hostile): options of the whole group", () => {
  it.effect("priority applies to every job: the group overtakes queued lower-priority jobs, in input order", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      const pool = yield* makePool({
        handler: (s: string) => Effect.sync(() => order.push(s)).pipe(Effect.andThen(Effect.sleep(1)), Effect.as(s)),
        concurrency: 1,
        capacity: 100
      })
      const low = yield* Effect.forEach(["l1", "l2", "l3"], (s) => pool.submit(s))
      const group = yield* fork(pool.executeAll(["g1", "g2", "g3"], { priority: 5 }))
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(yield* Fiber.join(group), ["g1", "g2", "g3"])
      yield* Effect.forEach(low, (h) => h.await)
      assert.deepStrictEqual(order, ["l1", "g1", "g2", "g3", "l2", "l3"])
    }))

  it.effect("key applies to every job: the group runs one at a time, in input order; failFast frees the key", () =>
    Effect.gen(function*() {
      const log = groupLog()
      let current = 0
      let max = 0
      const pool = yield* makePool({
        handler: (n: number) =>
          log.around(
            n,
            Effect.acquireUseRelease(
              Effect.sync(() => {
                current++
                max = Math.max(max, current)
              }),
              () => Effect.sleep(3).pipe(Effect.andThen(n === 4 ? Effect.fail(boom(n)) : Effect.succeed(n))),
              () => Effect.sync(() => current--)
            )
          ),
        concurrency: 4,
        capacity: 20
      })
      const group = yield* fork(tracked(log, Effect.flip(pool.executeAll(range(8), { key: "k" }))))
      yield* TestClock.adjust(100)
      assert.instanceOf(yield* Fiber.join(group), Boom)
      assert.strictEqual(max, 1, "one at a time")
      assert.deepStrictEqual(log.started, [0, 1, 2, 3, 4])
      assertNoLateWork(log, "key")
      yield* assertNothingLeft(pool, "after a keyed group")
      const again = yield* fork(pool.executeAll([10, 11], { key: "k" }))
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(yield* Fiber.join(again), [10, 11], "the key was freed")
    }))

  it.effect("bad group options fail with InvalidJobOptions before any job is submitted", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n), concurrency: 1 })
      const bad: Array<unknown> = [
        { failFast: "yes" },
        { priority: Number.NaN },
        { timeout: -1 },
        { key: 5 },
        "fast",
        null
      ]
      for (const options of bad) {
        const error = yield* Effect.flip(pool.executeAll([1, 2], options as WorkerPool.GroupOptions))
        assert.instanceOf(error, WorkerPoolError.InvalidJobOptions, JSON.stringify(options))
      }
      assert.strictEqual((yield* pool.stats).submitted, 0)
    }))
})

// -----------------------------------------------------------------------------
// the executor's groups
// -----------------------------------------------------------------------------

describe("executeAll (hostile): executor", () => {
  it.effect("effects that need a service get it from the caller's context, each group its own", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 2, capacity: 1 })
      const greet = (i: number) => Effect.map(Greeting, (g) => `${g} ${i}`).pipe(Effect.delay(i % 3))
      const en = yield* fork(executor.executeAll(range(6).map(greet)).pipe(Effect.provideService(Greeting, "hello")))
      const fr = yield* fork(executor.executeAll(range(6).map(greet)).pipe(Effect.provideService(Greeting, "salut")))
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(yield* Fiber.join(en), range(6).map((i) => `hello ${i}`))
      assert.deepStrictEqual(yield* Fiber.join(fr), range(6).map((i) => `salut ${i}`))
    }))

  it.effect("failFast, typed errors, defects and interruption over effects, with nothing left behind", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 2, capacity: 2 })
      const ran: Array<number> = []
      const job = (i: number, end: Effect.Effect<number, Boom>) =>
        Effect.sync(() => ran.push(i)).pipe(Effect.andThen(Effect.sleep(5)), Effect.andThen(end))
      const typed = yield* fork(Effect.flip(executor.executeAll([
        job(0, Effect.succeed(0)),
        job(1, Effect.fail(boom(1))),
        job(2, Effect.succeed(2)),
        job(3, Effect.succeed(3))
      ])))
      yield* TestClock.adjust(5)
      const error = yield* Fiber.join(typed)
      assert.instanceOf(error, Boom)
      yield* assertNothingLeft(executor, "after a typed failure")
      const thrown = yield* Effect.exit(executor.executeAll([
        Effect.sync(() => {
          throw new Error("thrown in sync")
        }),
        Effect.succeed(1)
      ]))
      assert.isTrue(Exit.isFailure(thrown) && Cause.hasDies(thrown.cause))
      const notEffect = yield* Effect.exit(executor.executeAll([42 as unknown as Effect.Effect<number>]))
      assert.isTrue(Exit.isFailure(notEffect) && Cause.hasDies(notEffect.cause), "what is not an effect dies")
      const interrupted = yield* fork(executor.executeAll(range(10).map((i) => job(i, Effect.succeed(i)))))
      yield* TestClock.adjust(2)
      yield* Fiber.interrupt(interrupted)
      yield* assertNothingLeft(executor, "after an interrupted executor group")
      const count = ran.length
      yield* TestClock.adjust(100)
      assert.strictEqual(ran.length, count, "nothing of the interrupted group starts later")
    }))
})
