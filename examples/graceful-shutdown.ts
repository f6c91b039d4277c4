/**
 * Graceful shutdown of a long-running service on SIGINT / SIGTERM, and a stop at once on a second signal.
 *
 * This is the "Writing a Worker Pool for Production" program of the Go tutorial: jobs with an id and a payload,
 * workers started before any traffic, and a graceful shutdown: stop accepting jobs, let the workers finish what
 * they are doing, with a deadline (the tutorial's "pro tip": never let a hung worker hang the shutdown).
 *
 * Here the pool lives in the program's scope. `NodeRuntime.runMain` interrupts the main fiber on SIGINT or SIGTERM,
 * which closes the scope, and closing the pool's scope is the graceful shutdown: intake stops at once (a producer
 * waiting for room gets `PoolShutdown`), running and queued jobs go on for up to `shutdownTimeout` (2 seconds
 * here), then whatever is left is interrupted and settles with `PoolShutdown`. Nothing is lost silently: every
 * accepted job is reported either as finished or as not finished.
 *
 * A second SIGINT or SIGTERM during the drain stops at once, as servers do: `pool.shutdown` interrupts the running
 * jobs and settles the queued ones with `PoolShutdown`, the report says which jobs did not finish, and the process
 * exits. A signal within 500 ms of the first counts as a copy of it, not as a second one: under `npm run` with bash
 * as the script shell (macOS, for one), one Ctrl-C reaches the program twice, once from the terminal and once
 * forwarded by npm. The program prints when a second signal will stop it.
 *
 * The exit code is 128 + the number of the signal that ended the run, as a shell reports for a process that a
 * signal killed: 130 for SIGINT, 143 for SIGTERM, for the graceful path (the first signal) and for the stop at once
 * (the second). `runMain` alone would report 130 for both signals; the program gives it a teardown that does this.
 *
 * Finalizers run in the reverse order of registration, which places the steps of the shutdown:
 *
 * 1. the "signal received" notice (registered after the pool): runs first, while the pool still works;
 * 2. the pool's own finalizer: stop intake, drain with the deadline, stop the workers;
 * 3. the `FiberSet` of the fiber that waits for a second signal (made before the pool): closes once the pool has;
 * 4. the report (registered before that): runs when every job has settled;
 * 5. the observers' `FiberSet`, then the signal listeners (made first): close last.
 *
 * Run: npm run example -- graceful-shutdown   (then press Ctrl-C, or `kill -TERM <pid>`; again to stop at once)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Clock, Console, Effect, Exit, FiberSet, Queue, Runtime } from "effect"
import * as os from "node:os"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"

const WORKERS = 3
const CAPACITY = 24
const SHUTDOWN_TIMEOUT = "2 seconds"
/** A new job arrives every 25 ms: faster than 3 workers can serve them, so the queue fills and pushes back. */
const ARRIVAL_EVERY = "25 millis"
/** A signal this soon after the first is a copy of it (see the header), not a second one. */
const REPEAT_WINDOW = "500 millis"

/** The signals that stop the service. */
type StopSignal = "SIGINT" | "SIGTERM"

/** The signal that ended the run: the first one, or the second if it stopped the drain. Read by `teardown`. */
let endedBy: StopSignal | undefined

/**
 * The SIGINT and SIGTERM signals the process receives while the scope is open, in order of arrival. These
 * listeners only record them: `runMain`'s own interrupt the program on the first.
 */
const stopSignals = Effect.gen(function*() {
  const signals = yield* Queue.unbounded<StopSignal>()
  const onSignal = (signal: StopSignal) => {
    endedBy ??= signal
    Queue.offerUnsafe(signals, signal)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => process.on("SIGINT", onSignal).on("SIGTERM", onSignal)),
    () => Effect.sync(() => process.off("SIGINT", onSignal).off("SIGTERM", onSignal))
  )
  return signals
})

const list = (ids: ReadonlyArray<string>) => ids.length === 0 ? "none" : ids.join(", ")

/** A job: an id and the bytes to process. */
interface Job {
  readonly id: string
  readonly payload: Uint8Array
}

interface Output {
  readonly checksum: number
  readonly worker: number
  readonly millis: number
}

/** How long job `n` takes: 300 to 500 ms. */
const workMillis = (n: number): number => 300 + ((n * 73) % 201)

const program = Effect.gen(function*() {
  const t0 = yield* Clock.currentTimeMillis
  const log = (message: string) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => Console.log(`[${((now - t0) / 1000).toFixed(3).padStart(7)}s] ${message}`)
    )

  // What the program knows about its jobs, for the report.
  const accepted: Array<string> = []
  const running = new Map<string, number>() // job id -> worker
  const finishedBeforeSignal: Array<string> = []
  const finishedDuringShutdown: Array<string> = []
  const notFinished: Array<string> = []
  const interrupted: Array<string> = [] // running when the drain's deadline or a second signal came
  let signalAt: number | undefined
  let stoppedAtOnceBy: StopSignal | undefined

  // 5. The signals, then one observer fiber per accepted job: it reports the job's outcome from its handle, the
  // source of truth.
  const signals = yield* stopSignals
  const observers = yield* FiberSet.make<void>()

  // 4. The report. Registered before the pool, so it runs after the pool's drain.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* FiberSet.awaitEmpty(observers) // every job has settled; wait until each outcome is recorded
      const now = yield* Clock.currentTimeMillis
      const neverStarted = notFinished.filter((id) => !interrupted.includes(id))
      yield* Console.log(`finished during shutdown (${finishedDuringShutdown.length}): ${list(finishedDuringShutdown)}`)
      yield* Console.log(`not finished, PoolShutdown (${notFinished.length}): ${list(notFinished)}`)
      yield* Console.log(`  interrupted while running (${interrupted.length}): ${list(interrupted)}`)
      yield* Console.log(`  never started (${neverStarted.length}): ${list(neverStarted)}`)
      yield* Console.log(
        `${stoppedAtOnceBy === undefined ? "Shutdown complete" : `Stopped at once by a second ${stoppedAtOnceBy}`}: ` +
          `${accepted.length} jobs accepted, ${finishedBeforeSignal.length} finished before the signal, ` +
          `${finishedDuringShutdown.length} during shutdown, ${notFinished.length} not finished; ` +
          `shutdown took ${((now - (signalAt ?? now)) / 1000).toFixed(3)}s`
      )
    })
  )

  // 3. The fiber that waits for a second signal. Its set is made before the pool, so it lives through the drain.
  const stopAtOnce = yield* FiberSet.make<void>()

  // 2. The pool. Its workers are running when `make` returns, before any traffic.
  const pool = yield* WorkerPool.make({
    name: "jobs",
    concurrency: WORKERS,
    capacity: CAPACITY,
    shutdownTimeout: SHUTDOWN_TIMEOUT,
    handler: (job: Job, info: WorkerPool.JobInfo) =>
      Effect.gen(function*() {
        running.set(job.id, info.worker)
        yield* log(`${job.id} started on worker ${info.worker}`)
        const millis = workMillis(Number(job.id.slice(4)))
        yield* Effect.sleep(millis)
        const checksum = job.payload.reduce((sum, byte) => (sum + byte) % 65_521, 0)
        return { checksum, worker: info.worker, millis } satisfies Output
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.andThen(
            Effect.sync(() => interrupted.push(job.id)),
            log(
              `${job.id} interrupted on worker ${info.worker} ` +
                (stoppedAtOnceBy === undefined ? "at the shutdown deadline" : "(stopped at once)")
            )
          )
        ),
        Effect.ensuring(Effect.sync(() => running.delete(job.id)))
      )
  })
  const ready = yield* pool.stats
  yield* log(`pool ready: ${ready.workers} workers started, queue capacity ${ready.capacity}`)

  // The first signal starts the graceful shutdown (runMain interrupts the program); a second one, past the copies
  // of the first, stops at once: the running jobs are interrupted, the queued ones settle with PoolShutdown.
  yield* FiberSet.run(
    stopAtOnce,
    Effect.gen(function*() {
      yield* Queue.take(signals)
      yield* Effect.sleep(REPEAT_WINDOW)
      yield* Queue.clear(signals)
      yield* log("draining; a second SIGINT or SIGTERM stops at once")
      const second = yield* Queue.take(signals)
      stoppedAtOnceBy = second
      endedBy = second
      const stats = yield* pool.stats
      yield* log(
        `${second} again: stopping at once; interrupting ${list([...running.keys()])}; ` +
          `${stats.queued} queued jobs will not start`
      )
      yield* pool.shutdown
    })
  )

  // 1. The notice. Registered after the pool, so it runs first, while nothing has stopped yet.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      signalAt = yield* Clock.currentTimeMillis
      const stats = yield* pool.stats
      const inFlight = [...running.keys()]
      yield* log(
        `signal received: stopping intake; in flight: ${list(inFlight)}; queued: ${stats.queued}; ` +
          `draining for up to ${SHUTDOWN_TIMEOUT}`
      )
    })
  )

  const observe = (handle: WorkerPool.JobHandle<Output, WorkerPoolError.JobError>) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(handle.await)
      if (Exit.isSuccess(exit)) {
        const { checksum, millis, worker } = exit.value
        ;(signalAt === undefined ? finishedBeforeSignal : finishedDuringShutdown).push(handle.id)
        return yield* log(`${handle.id} finished on worker ${worker} (${millis}ms, checksum ${checksum})`)
      }
      const error = Cause.squash(exit.cause)
      if (error instanceof WorkerPoolError.PoolShutdown) {
        notFinished.push(handle.id)
        return yield* log(`${handle.id} not finished: PoolShutdown`)
      }
      return yield* log(`${handle.id} failed: ${Cause.pretty(exit.cause)}`)
    })

  // The traffic: a producer that keeps submitting jobs until the pool stops taking them.
  const producer = Effect.gen(function*() {
    let full = false
    for (let n = 1;; n++) {
      const stats = yield* pool.stats
      if (stats.queued >= stats.capacity && !full) {
        yield* log(`queue full (${stats.queued} queued): the producer waits for room`)
      }
      full = stats.queued >= stats.capacity
      const job: Job = { id: `job-${n}`, payload: new TextEncoder().encode(`payload of job ${n}`) }
      const handle = yield* pool.submit(job, { id: job.id })
      accepted.push(handle.id)
      yield* FiberSet.run(observers, observe(handle))
      yield* Effect.sleep(ARRIVAL_EVERY)
    }
  }).pipe(
    Effect.catchTag("PoolShutdown", (error) => log(`producer stopped: the pool takes no more jobs (${error._tag})`))
  )

  yield* Effect.forkChild(producer)
  yield* log(`accepting traffic (pid ${process.pid}): press Ctrl-C (SIGINT) or send SIGTERM to shut down`)
  return yield* Effect.never
}).pipe(Effect.scoped)

/**
 * runMain's default teardown reports 130 for any interruption; a run that a signal ended reports 128 + the
 * signal's number instead (130 for SIGINT, 143 for SIGTERM).
 */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Runtime.defaultTeardown(exit, (code) =>
    onExit(
      endedBy !== undefined && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
        ? 128 + os.constants.signals[endedBy]
        : code
    ))

NodeRuntime.runMain(program, { teardown })
