/**
 * The thread pool on real threads: typed errors and defects across the boundary, crashes, timeouts and
 * cancellations of synchronous loops, shutdown, start-up failures, schemas and transfers, elastic threads.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeThreadPool from "../layers/NodeThreadPool.ts"
import { WorkerPool, WorkerPoolError, WorkerPoolMetrics } from "../src/index.ts"
import * as ThreadPool from "../src/ThreadPool.ts"
import { Increments, JobRejected, Jobs, OtherError, type Task } from "./fixtures/threadJobs.ts"

const entry = new URL("./fixtures/threadJobs.worker.ts", import.meta.url)
const fixture = (file: string) => new URL(`./fixtures/${file}`, import.meta.url)

/** The OS threads of this process: each worker thread is one. */
const osThreads = () => fs.readdirSync("/proc/self/task").length

const make = (options: Partial<NodeThreadPool.Options<JobRejected | OtherError>> = {}) =>
  NodeThreadPool.make(Jobs, { entry, concurrency: 2, name: "threads", shutdownTimeout: "2 seconds", ...options })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<A, E>).cause)
  assert.strictEqual(error._tag, "Some", `expected a typed failure, got ${Cause.pretty((exit as any).cause)}`)
  return (error as { value: E }).value
}

/** Polls `check` every 10 ms until it holds (or fails the test after `within`). */
const eventually = <A>(read: Effect.Effect<A>, check: (a: A) => boolean, within: Duration.Input = "10 seconds") =>
  read.pipe(
    Effect.filterOrFail(check, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutOrElse({
      duration: within,
      orElse: () => Effect.flatMap(read, (a) => Effect.die(new Error(`never held: ${JSON.stringify(a)}`)))
    })
  )

describe("ThreadPool on Node threads", () => {
  it.live("is ready once every thread has reported ready, and runs jobs on distinct threads", () =>
    Effect.gen(function*() {
      const pool = yield* make()
      const threads = yield* pool.threads
      assert.deepStrictEqual(
        { live: threads.live, starting: threads.starting, started: threads.started },
        { live: 2, starting: 0, started: 2 }
      )
      const results = yield* Effect.forEach(
        [1, 2, 3, 4],
        (n) => pool.execute({ op: "sleep", millis: 50 }).pipe(Effect.map((r) => ({ ...r, n }))),
        { concurrency: "unbounded" }
      )
      const ids = new Set(results.map((r) => r.thread))
      assert.strictEqual(ids.size, 2)
      assert.isFalse(ids.has(0), "no job ran on the main thread")
      assert.deepStrictEqual(yield* pool.execute({ op: "square", n: 12 }).pipe(Effect.map((r) => r.value)), 144)
    }))

  it.live("a job's typed error arrives as an instance of the class the handler raised", () =>
    Effect.gen(function*() {
      const pool = yield* make()
      const rejected = yield* Effect.flip(pool.execute({ op: "reject", n: 3 }))
      assert.instanceOf(rejected, JobRejected)
      assert.deepStrictEqual({ input: (rejected as JobRejected).input, reason: (rejected as JobRejected).reason }, {
        input: 3,
        reason: "odd"
      })
      const other = yield* Effect.flip(pool.execute({ op: "other", n: 7 }))
      assert.instanceOf(other, OtherError)
      assert.strictEqual((other as OtherError).code, 7)
      // catchTag sees the handler's own tag
      const handled = yield* pool.execute({ op: "reject", n: 5 }).pipe(
        Effect.catchTag("JobRejected", (e) => Effect.succeed(`rejected ${e.input}`))
      )
      assert.strictEqual(handled, "rejected 5")
    }))

  it.live("a defect in the thread arrives as a defect with the thread's message and stack", () =>
    Effect.gen(function*() {
      const pool = yield* make()
      const exit = yield* Effect.exit(pool.execute({ op: "die", message: "bad pixel row 7" }))
      assert.isTrue(Exit.isFailure(exit))
      const cause = (exit as Exit.Failure<unknown, unknown>).cause
      assert.isTrue(Cause.hasDies(cause), Cause.pretty(cause))
      const defect = Cause.squash(cause) as Error
      assert.instanceOf(defect, Error)
      assert.strictEqual(defect.name, "RangeError")
      assert.strictEqual(defect.message, "bad pixel row 7")
      assert.include(defect.stack ?? "", "threadJobs.ts")
      const stats = yield* pool.stats
      assert.strictEqual(stats.defects, 1)
      assert.strictEqual((yield* pool.threads).crashed, 0, "a defect does not end the thread")
    }))

  it.live("a handler that throws or returns a value that is not an effect: a defect, not a hang", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      const tasks: ReadonlyArray<readonly [Task, RegExp]> = [
        [{ op: "throw", message: "thrown in the handler" }, /thrown in the handler/],
        [{ op: "notAnEffect" }, /42/],
        [{ op: "deepNotAnEffect" }, /42/]
      ]
      for (const [task, message] of tasks) {
        const exit = yield* Effect.exit(pool.execute(task))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), `${task.op}: ${JSON.stringify(exit)}`)
        assert.match((Cause.squash((exit as Exit.Failure<any, any>).cause) as Error).message, message, task.op)
      }
      // as on fibers, a handler that interrupts itself cancels its own job
      const interrupted = yield* Effect.exit(pool.execute({ op: "interruptSelf" }))
      assert.isTrue(Exit.isFailure(interrupted) && Cause.hasInterruptsOnly(interrupted.cause))
      assert.strictEqual((yield* pool.stats).cancelled, 1)
      assert.strictEqual((yield* pool.execute({ op: "square", n: 2 })).value, 4)
      assert.strictEqual((yield* pool.threads).crashed, 0)
    }))

  for (
    const [what, task, check] of [
      [
        "an uncaught exception",
        { op: "throwUncaught", message: "uncaught in a callback" },
        (e: WorkerPoolError.ThreadCrashed) => assert.include(e.reason, "uncaught in a callback")
      ],
      [
        "process.exit",
        { op: "exit", code: 3 },
        (e: WorkerPoolError.ThreadCrashed) => assert.strictEqual(e.exitCode, 3)
      ]
    ] as const
  ) {
    it.live(`a crash by ${what} fails only the job it was running; the thread is replaced`, () =>
      Effect.gen(function*() {
        const pool = yield* make({ concurrency: 2 })
        // a long job on the other thread, running while the crash happens
        const neighbour = yield* pool.submit({ op: "sleep", millis: 300 })
        const crashed = failureOf(yield* Effect.exit(pool.execute(task as Task)))
        assert.instanceOf(crashed, WorkerPoolError.ThreadCrashed)
        const error = crashed as WorkerPoolError.ThreadCrashed
        assert.strictEqual(error.pool, "threads")
        check(error)
        assert.strictEqual((yield* neighbour.await).value, 300, "the job on the other thread succeeds")
        // jobs queued behind the crash run on the replacement
        const after = yield* Effect.forEach([1, 2, 3], (n) => pool.execute({ op: "square", n }), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(after.map((r) => r.value), [1, 4, 9])
        const threads = yield* pool.threads
        assert.deepStrictEqual({ live: threads.live, crashed: threads.crashed, replaced: threads.replaced }, {
          live: 2,
          crashed: 1,
          replaced: 1
        })
        const stats = yield* pool.stats
        assert.deepStrictEqual({ failed: stats.failed, succeeded: stats.succeeded, workers: stats.workers }, {
          failed: 1,
          succeeded: 4,
          workers: 2
        })
      }))
  }

  it.live("a thread that runs out of memory fails only its job", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 2, resourceLimits: { maxOldGenerationSizeMb: 32 } })
      const neighbour = yield* pool.submit({ op: "sleep", millis: 200 })
      const crashed = failureOf(yield* Effect.exit(pool.execute({ op: "oom" })))
      assert.instanceOf(crashed, WorkerPoolError.ThreadCrashed)
      assert.match((crashed as WorkerPoolError.ThreadCrashed).reason, /memory/i)
      assert.strictEqual((yield* neighbour.await).value, 200)
      assert.strictEqual((yield* pool.execute({ op: "square", n: 3 })).value, 9)
    }))

  it.live("a timeout stops a synchronous loop: the thread is terminated and replaced, and the next job runs", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      const before = (yield* pool.execute({ op: "square", n: 2 })).thread
      const started = performance.now()
      const timedOut = failureOf(yield* Effect.exit(pool.execute({ op: "spin", millis: 60_000 }, { timeout: 200 })))
      assert.instanceOf(timedOut, WorkerPoolError.JobTimeout)
      assert.isBelow(performance.now() - started, 10_000, "the job settled long before its loop would have ended")
      const next = yield* pool.execute({ op: "square", n: 5 })
      assert.strictEqual(next.value, 25)
      assert.notStrictEqual(next.thread, before, "the next job ran on a fresh thread")
      const threads = yield* pool.threads
      assert.deepStrictEqual(
        { live: threads.live, terminated: threads.terminated, replaced: threads.replaced, crashed: threads.crashed },
        { live: 1, terminated: 1, replaced: 1, crashed: 0 }
      )
      assert.strictEqual((yield* pool.stats).timedOut, 1)
    }))

  it.live("a timer left by a handler still fires while back-to-back short jobs keep its thread busy", () =>
    Effect.gen(function*() {
      // between jobs a thread waits outside its event loop, but goes back to it at least every 10 ms
      const pool = yield* make({ concurrency: 1 })
      const first = (yield* pool.execute({ op: "ticks" })).value
      let last = first
      for (let jobs = 0; last < first + 3 && jobs < 100_000; jobs++) {
        last = (yield* pool.execute({ op: "ticks" })).value
      }
      assert.isAtLeast(last, first + 3)
    }))

  it.live("while its thread is replaced a slot takes no job: the wait counts as queued, not against a timeout", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1, timeout: "100 millis" })
      const crashed = failureOf(yield* Effect.exit(pool.execute({ op: "exit", code: 4 })))
      assert.instanceOf(crashed, WorkerPoolError.ThreadCrashed)
      const next = yield* pool.submit({ op: "square", n: 3 })
      // the replacement takes longer to start than the timeout; the job waits in the queue meanwhile
      const queued = yield* pool.stats
      assert.deepStrictEqual([queued.queued, queued.running], [1, 0])
      assert.strictEqual((yield* next.await).value, 9)
      const stats = yield* pool.stats
      assert.strictEqual(stats.timedOut, 0)
      assert.isAbove(stats.waitTime.maxMillis, 50, "the job waited for the replacement in the queue")
    }))

  it.live("cancelling a running synchronous loop terminates its thread; the job settles as interrupted", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      yield* pool.execute({ op: "square", n: 1 })
      const handle = yield* pool.submit({ op: "spin", millis: 60_000 })
      yield* eventually(pool.stats, (s) => s.running === 1)
      yield* Effect.sleep("50 millis")
      yield* handle.interrupt
      const exit = yield* Effect.exit(handle.await)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual((yield* pool.execute({ op: "square", n: 6 })).value, 36)
      const threads = yield* pool.threads
      assert.strictEqual(threads.terminated, 1)
      assert.strictEqual((yield* pool.stats).cancelled, 1)
    }))

  it.live("interrupting execute's caller stops the loop on its thread", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      const caller = yield* Effect.forkChild(pool.execute({ op: "spin", millis: 60_000 }))
      yield* eventually(pool.stats, (s) => s.running === 1)
      yield* Fiber.interrupt(caller)
      assert.strictEqual((yield* pool.threads).terminated, 1)
      assert.strictEqual((yield* pool.execute({ op: "square", n: 4 })).value, 16)
    }))

  it.live("closing the scope with busy threads keeps the shutdown deadline and leaves no thread alive", () =>
    Effect.gen(function*() {
      const baseline = osThreads()
      const scope = yield* Scope.make()
      const pool = yield* make({ concurrency: 2, shutdownTimeout: "300 millis" }).pipe(Scope.provide(scope))
      assert.strictEqual(osThreads(), baseline + 2)
      const spinning = yield* Effect.forEach([1, 2], () => pool.submit({ op: "spin", millis: 60_000 }))
      const queued = yield* pool.submit({ op: "square", n: 2 })
      yield* eventually(pool.stats, (s) => s.running === 2)
      const started = performance.now()
      yield* Scope.close(scope, Exit.void)
      const took = performance.now() - started
      assert.isAtLeast(took, 250, "the pool waited for its deadline")
      assert.isBelow(took, 2_500, "and not for the 5 s grace period of the platform")
      for (const handle of [...spinning, queued]) {
        const error = failureOf(yield* Effect.exit(handle.await))
        assert.instanceOf(error, WorkerPoolError.PoolShutdown)
      }
      const threads = yield* pool.threads
      assert.strictEqual(threads.live, 0)
      assert.strictEqual(threads.terminated, 2, "the two running jobs' threads; idle ones are closed, not counted")
      assert.strictEqual(osThreads(), baseline, "no thread outlives the scope")
    }))

  it.live("a drain lets running jobs on threads finish", () =>
    Effect.gen(function*() {
      const baseline = osThreads()
      const scope = yield* Scope.make()
      const pool = yield* make({ concurrency: 2 }).pipe(Scope.provide(scope))
      const handles = yield* Effect.forEach([1, 2, 3], () => pool.submit({ op: "spin", millis: 100 }))
      yield* Scope.close(scope, Exit.void)
      for (const handle of handles) assert.isAbove((yield* handle.await).value, 0)
      assert.strictEqual(osThreads(), baseline)
    }))

  it.live("shutdown interrupts running jobs on threads and returns the unstarted inputs", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      const running = yield* pool.submit({ op: "spin", millis: 60_000 })
      yield* eventually(pool.stats, (s) => s.running === 1)
      yield* pool.submit({ op: "square", n: 9 })
      const left = yield* pool.shutdown
      assert.deepStrictEqual(left, [{ op: "square", n: 9 }])
      assert.instanceOf(failureOf(yield* Effect.exit(running.await)), WorkerPoolError.PoolShutdown)
      assert.strictEqual((yield* pool.threads).terminated, 1)
    }))

  it.live("a pool stopped by shutdown or drain closes its threads at once, before its scope closes", () =>
    Effect.gen(function*() {
      const baseline = osThreads()
      const stopped = yield* make({ concurrency: 2 })
      yield* stopped.execute({ op: "square", n: 1 })
      yield* stopped.shutdown
      yield* eventually(stopped.threads, (t) => t.live === 0)
      const drained = yield* make({ concurrency: 2 })
      yield* drained.execute({ op: "square", n: 1 })
      yield* drained.drain
      yield* eventually(drained.threads, (t) => t.live === 0)
      assert.strictEqual((yield* drained.threads).terminated, 0)
      yield* eventually(Effect.sync(osThreads), (n) => n === baseline)
    }))

  describe("a thread that does not start fails the build with ThreadStartFailed naming the entry file", () => {
    for (
      const [file, reason] of [
        ["missing.worker.ts", /Cannot find module|ERR_MODULE_NOT_FOUND|no such file/i],
        ["throwsAtStart.worker.ts", /cannot load its model/],
        ["exitsAtStart.worker.ts", /exited with code: 0/]
      ] as const
    ) {
      it.live(file, () =>
        Effect.gen(function*() {
          const baseline = osThreads()
          const error = yield* Effect.flip(Effect.scoped(make({ entry: fixture(file) })))
          assert.instanceOf(error, WorkerPoolError.ThreadStartFailed)
          const failed = error as WorkerPoolError.ThreadStartFailed
          assert.isTrue(failed.entry.endsWith(file), failed.entry)
          assert.match(failed.reason, reason)
          assert.include(failed.message, file)
          assert.strictEqual(osThreads(), baseline)
        }))
    }

    it.live("neverReady.worker.ts, after startTimeout", () =>
      Effect.gen(function*() {
        const baseline = osThreads()
        const error = yield* Effect.flip(
          Effect.scoped(make({ entry: fixture("neverReady.worker.ts"), startTimeout: "1 second" }))
        )
        assert.instanceOf(error, WorkerPoolError.ThreadStartFailed)
        assert.match((error as WorkerPoolError.ThreadStartFailed).reason, /did not report ready within 1000 ms/)
        assert.strictEqual(osThreads(), baseline)
      }))
  })

  it.live("a replacement that does not start fails the slot's next job with ThreadStartFailed; the slot recovers", () =>
    Effect.gen(function*() {
      const flag = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "thread-pool-")), "refuse")
      process.env.THREAD_POOL_REFUSE = flag
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(path.dirname(flag), { recursive: true })))
      const pool = yield* make({ concurrency: 1, entry: fixture("refusesWhileFlagged.worker.ts") })
      fs.writeFileSync(flag, "")
      assert.instanceOf(
        failureOf(yield* Effect.exit(pool.execute({ op: "exit", code: 1 }))),
        WorkerPoolError.ThreadCrashed
      )
      const refused = failureOf(yield* Effect.exit(pool.execute({ op: "square", n: 2 })))
      assert.instanceOf(refused, WorkerPoolError.ThreadStartFailed)
      assert.include((refused as WorkerPoolError.ThreadStartFailed).reason, "told not to start")
      fs.rmSync(flag)
      assert.strictEqual((yield* pool.execute({ op: "square", n: 3 })).value, 9)
      assert.strictEqual((yield* pool.threads).live, 1)
    }))

  it.live("bad options are refused with InvalidPoolOptions naming the option", () =>
    Effect.gen(function*() {
      const concurrency = yield* Effect.flip(Effect.scoped(make({ concurrency: 0 })))
      assert.instanceOf(concurrency, WorkerPoolError.InvalidPoolOptions)
      assert.strictEqual((concurrency as WorkerPoolError.InvalidPoolOptions).option, "concurrency")
      const startTimeout = yield* Effect.flip(Effect.scoped(make({ startTimeout: -1 })))
      assert.strictEqual((startTimeout as WorkerPoolError.InvalidPoolOptions).option, "startTimeout")
    }))

  it.live("values that fail their schema fail the job with JobSchemaError saying which side and why", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      const input = failureOf(yield* Effect.exit(pool.execute({ op: "square", n: "7" } as unknown as Task)))
      assert.instanceOf(input, WorkerPoolError.JobSchemaError)
      assert.deepStrictEqual(
        [(input as WorkerPoolError.JobSchemaError).side, (input as WorkerPoolError.JobSchemaError).stage],
        ["input", "encode"]
      )
      const output = failureOf(yield* Effect.exit(pool.execute({ op: "badOutput" })))
      assert.instanceOf(output, WorkerPoolError.JobSchemaError)
      const schema = output as WorkerPoolError.JobSchemaError
      assert.deepStrictEqual([schema.side, schema.stage], ["success", "encode"])
      assert.include(schema.reason, "number")
      const error = failureOf(yield* Effect.exit(pool.execute({ op: "badError" })))
      assert.deepStrictEqual(
        [(error as WorkerPoolError.JobSchemaError).side, (error as WorkerPoolError.JobSchemaError).stage],
        ["error", "encode"]
      )
      // the thread is fine
      assert.strictEqual((yield* pool.execute({ op: "square", n: 3 })).value, 9)
      assert.strictEqual((yield* pool.threads).crashed, 0)
    }))

  it.live("an input that cannot be cloned fails with JobSchemaError, and the thread goes on", () =>
    Effect.gen(function*() {
      const pool = yield* NodeThreadPool.make(Increments, { entry: fixture("increment.worker.ts"), concurrency: 1 })
      const error = failureOf(yield* Effect.exit(pool.execute(() => 1)))
      assert.instanceOf(error, WorkerPoolError.JobSchemaError)
      assert.include((error as WorkerPoolError.JobSchemaError).reason, "could not be sent")
      assert.strictEqual(yield* pool.execute(41), 42)
    }))

  it.live("a Transferable buffer is moved to the thread, not copied", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1 })
      const bytes = new Uint8Array(1024).fill(2)
      const result = yield* pool.execute({ op: "bytes", bytes })
      assert.strictEqual(result.value, 2048)
      assert.strictEqual(bytes.byteLength, 0, "the buffer was transferred: it is detached here")
    }))

  it.live("elastic sizing starts and stops threads with workers", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: { min: 1, max: 3, idleTimeout: "1 second" } })
      assert.strictEqual((yield* pool.threads).live, 1, "the minimum is started at build")
      // three jobs at once: two more workers, each with its own thread; a new slot takes jobs once its thread is
      // ready (meanwhile the first worker may take one of them)
      yield* Effect.forEach([1, 2, 3], () => pool.execute({ op: "sleep", millis: 300 }), { concurrency: "unbounded" })
      const grown = yield* pool.threads
      assert.deepStrictEqual([grown.live, grown.started], [3, 3])
      assert.strictEqual((yield* pool.stats).workers, 3)
      yield* eventually(pool.threads, (t) => t.live === 1)
      assert.strictEqual((yield* pool.stats).workers, 1)
      assert.strictEqual((yield* pool.threads).terminated, 0, "idle threads are closed, not counted as terminated")
      assert.strictEqual((yield* pool.execute({ op: "square", n: 11 })).value, 121)
    }))

  it.live("the job queued behind a crash starts its timeout only once the replacement thread is ready", () =>
    Effect.gen(function*() {
      // one thread, and a timeout shorter than a thread's start (0.3-0.7 s here): were the next job begun while the
      // replacement starts, its timeout would run out before its handler did
      const pool = yield* make({ concurrency: 1, timeout: "100 millis" })
      const crashed = yield* Effect.forkChild(Effect.exit(pool.execute({ op: "exit", code: 3 })))
      const next = yield* Effect.forkChild(Effect.exit(pool.execute({ op: "square", n: 6 })))
      const crash = yield* Fiber.join(crashed)
      assert.isTrue(Exit.isFailure(crash))
      const result = yield* Fiber.join(next)
      assert.deepStrictEqual(Exit.map(result, (r) => r.value), Exit.succeed(36))
      assert.strictEqual((yield* pool.threads).replaced, 1)
    }))

  it.live("a retry policy retries a job after its thread crashed, on the replacement", () =>
    Effect.gen(function*() {
      let attempts = 0
      const pool = yield* make({
        concurrency: 1,
        retry: {
          schedule: Schedule.recurs(1),
          while: (e) => {
            attempts++
            return e._tag === "ThreadCrashed"
          }
        }
      })
      const exit = yield* Effect.exit(pool.execute({ op: "exit", code: 9 }))
      assert.instanceOf(failureOf(exit), WorkerPoolError.ThreadCrashed)
      assert.strictEqual(attempts, 2)
      assert.strictEqual((yield* pool.stats).retried, 1)
      assert.strictEqual((yield* pool.threads).crashed, 2)
    }))

  it.live("as a layer, a thread pool is a service exactly like WorkerPool.layer's", () => {
    class Squares extends Context.Service<
      Squares,
      WorkerPool.WorkerPool<Task, { value: number; thread: number }, JobRejected | OtherError | ThreadPool.ThreadError>
    >()("test/Squares") {}
    const layer = NodeThreadPool.layer(Squares, Jobs, { entry, concurrency: 1 })
    return Effect.gen(function*() {
      const pool = yield* Squares
      assert.strictEqual((yield* pool.execute({ op: "square", n: 9 })).value, 81)
    }).pipe(Effect.provide(layer))
  })

  it.live("threads and their replacements are reported in the pool's metrics, by reason", () =>
    Effect.gen(function*() {
      const pool = yield* make({ concurrency: 1, name: "metered" })
      const live = Metric.value(Metric.withAttributes(WorkerPoolMetrics.threads, { pool: "metered" }))
      const replaced = (reason: WorkerPoolMetrics.ReplacedBecause) =>
        Effect.map(
          Metric.value(Metric.withAttributes(WorkerPoolMetrics.threadsReplaced, { pool: "metered", reason })),
          (state) => state.count
        )
      assert.strictEqual((yield* live).value, 1)
      yield* Effect.exit(pool.execute({ op: "exit", code: 1 }))
      // the spin starts on a ready thread, so that its timeout terminates a running thread
      yield* pool.execute({ op: "square", n: 1 })
      yield* Effect.exit(pool.execute({ op: "spin", millis: 60_000 }, { timeout: 100 }))
      yield* Effect.exit(pool.execute({ op: "exit", code: 2 }))
      assert.strictEqual((yield* pool.execute({ op: "square", n: 1 })).value, 1)
      assert.deepStrictEqual([yield* replaced("crashed"), yield* replaced("terminated")], [2, 1])
      assert.strictEqual((yield* live).value, 1)
      const threads = yield* pool.threads
      assert.deepStrictEqual(
        { started: threads.started, replaced: threads.replaced, crashed: threads.crashed },
        { started: 4, replaced: 3, crashed: 2 }
      )
    }))
})
