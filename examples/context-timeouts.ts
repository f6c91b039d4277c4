/**
 * Per-job timeouts, early cancellation and a periodic stats report.
 *
 * This is the "Advanced Worker Pool with Context" program of the Go tutorial: 4 workers, 15 jobs, each with a
 * 200 ms deadline; every fifth job is cancelled 50 ms after it was submitted; each result is reported with the
 * worker that ran it and how long it took; and a reporter prints the pool's stats every 100 ms while it runs.
 *
 * Where Go needs a `context.Context` per job and a `select` in every worker, here a job's `timeout` option and its
 * handle do the work: a job that runs past its timeout is interrupted (its finalizers run) and settles with
 * `JobTimeout`; `handle.interrupt` cancels a job (a queued job never starts, a running one is interrupted). Unlike
 * Go's `context.WithTimeout`, the timeout counts run time only, not time spent in the queue.
 *
 * The work is simulated with fixed durations of 50 to 150 ms, except jobs 4 and 12, which stall (350 ms) and so
 * time out, so that the output is the same on every run.
 *
 * Run: npm run example -- context-timeouts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Clock, Console, Effect, Exit, Fiber, Schedule } from "effect"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import * as Dashboard from "./dashboard.ts"

const WORKERS = 4
const JOBS = 15
const JOB_TIMEOUT = "200 millis"
const CANCEL_AFTER = "50 millis"
const STATS_EVERY = "100 millis"

/** How long job `n` works: 50 to 150 ms, except two jobs that stall past the timeout. */
const workMillis = (n: number): number => (n === 4 || n === 12 ? 350 : 50 + ((n * 37) % 100))

const program = Effect.gen(function*() {
  // When each job started, and on which worker (the handler's `JobInfo` says).
  const started = new Map<string, { readonly worker: number; readonly at: number }>()

  const pool = yield* WorkerPool.make({
    name: "advanced",
    concurrency: WORKERS,
    capacity: 20,
    handler: (data: number, job: WorkerPool.JobInfo) =>
      Effect.gen(function*() {
        started.set(job.id, { worker: job.worker, at: yield* Clock.currentTimeMillis })
        yield* Effect.sleep(workMillis(Number(job.id.slice(4))))
        return data * data
      })
  })

  // The report reads the pool's metrics, as the live view of `flagship.ts` does (see `dashboard.ts`).
  const reportStats = (label: string) =>
    Effect.flatMap(Dashboard.read(pool.name), (r) =>
      Console.log(
        `${label} - Processed: ${r.outcomes.succeeded}, ` +
          `Failed: ${r.outcomes.failed + r.outcomes.defect + r.outcomes.timed_out} ` +
          `(timed out: ${r.outcomes.timed_out}), Cancelled: ${r.outcomes.cancelled}, ` +
          `Avg Duration: ${r.runs === 0 ? 0 : Math.round((r.runSeconds * 1000) / r.runs)}ms, ` +
          `Active Workers: ${r.busy}/${r.workers}, Queued: ${r.queued}`
      ))

  // The metrics reporter: every 100 ms while the jobs run.
  const reporter = yield* Effect.forkChild(
    Effect.repeat(Effect.delay(reportStats("Pool Stats"), STATS_EVERY), Schedule.forever)
  )

  /** Waits for a job's outcome and reports it with its worker and duration. */
  const observe = (handle: WorkerPool.JobHandle<number, WorkerPoolError.JobError>, submittedAt: number) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(handle.await)
      const now = yield* Clock.currentTimeMillis
      const start = started.get(handle.id)
      const took = `took ${now - (start?.at ?? submittedAt)}ms`
      if (Exit.isSuccess(exit)) {
        return yield* Console.log(`Job ${handle.id} completed (worker ${start?.worker}): ${exit.value} (${took})`)
      }
      if (Cause.hasInterruptsOnly(exit.cause)) {
        return yield* Console.log(
          start === undefined
            ? `Job ${handle.id} cancelled before it started (was queued ${now - submittedAt}ms)`
            : `Job ${handle.id} cancelled while running (worker ${start.worker}, ${took})`
        )
      }
      const error = Cause.squash(exit.cause)
      const reason = error instanceof WorkerPoolError.JobTimeout ? `JobTimeout: ${error.message}` : String(error)
      return yield* Console.log(`Job ${handle.id} failed (worker ${start?.worker}): ${reason} (${took})`)
    })

  const observers: Array<Fiber.Fiber<void>> = []
  for (let n = 1; n <= JOBS; n++) {
    const handle = yield* pool.submit(n * 5, { id: `job-${n}`, timeout: JOB_TIMEOUT })
    const submittedAt = yield* Clock.currentTimeMillis
    observers.push(yield* Effect.forkChild(observe(handle, submittedAt), { startImmediately: true }))
    // Cancel every fifth job early, as the Go version does with its job's `cancel()`.
    if (n % 5 === 0) yield* Effect.forkChild(Effect.delay(handle.interrupt, CANCEL_AFTER))
  }

  yield* Fiber.joinAll(observers)
  yield* Fiber.interrupt(reporter)
  yield* reportStats("Final Stats")
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
