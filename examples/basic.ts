/**
 * The basic worker pool: 3 workers, 10 jobs that square numbers, results collected as they arrive.
 *
 * This is the first program of the Go tutorial ("Basic Worker Pool Implementation"): a job queue, a fixed set of
 * workers, a result per job. Here the pool is the queue and the workers; each `execute` is one job and its
 * result (or typed error) comes back to the caller that submitted it, so no result channel is needed. Closing
 * the scope (the `defer pool.Stop()` of the Go version) drains the pool and stops the workers.
 *
 * Run: npm run example -- basic
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Effect, Random } from "effect"
import { WorkerPool } from "../src/index.ts"

/** A job: an id and some data (the Go version's `Data interface{}`). */
interface Job {
  readonly id: number
  readonly data: unknown
}

/** The handler's own typed error, the Go version's `fmt.Errorf("invalid job data")`. */
class InvalidJobData extends Data.TaggedError("InvalidJobData")<{ readonly jobId: number }> {}

/** Simulates work (0 to 99 ms), then squares the number. */
const processJob = (job: Job, info: WorkerPool.JobInfo): Effect.Effect<number, InvalidJobData> =>
  Effect.gen(function*() {
    yield* Console.log(`Worker ${info.worker} processing job ${job.id}`)
    yield* Effect.sleep(yield* Random.nextIntBetween(0, 99))
    if (typeof job.data !== "number") return yield* new InvalidJobData({ jobId: job.id })
    return job.data * job.data
  })

const program = Effect.gen(function*() {
  // 3 workers, room for 10 queued jobs. The workers are running when `make` returns.
  const pool = yield* WorkerPool.make({ handler: processJob, concurrency: 3, capacity: 10, name: "squares" })

  const jobs: ReadonlyArray<Job> = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, data: (i + 1) * 10 }))

  // Submit every job at once and print each result as soon as it arrives (completion order).
  yield* Effect.forEach(
    jobs,
    (job) =>
      pool.execute(job).pipe(
        Effect.matchEffect({
          onSuccess: (output) => Console.log(`Job ${job.id} result: ${output}`),
          onFailure: (error) => Console.log(`Job ${job.id} failed: ${error._tag}`)
        })
      ),
    { concurrency: "unbounded", discard: true }
  )

  const stats = yield* pool.stats
  yield* Console.log(`Done: ${stats.succeeded} succeeded, ${stats.failed} failed on ${stats.concurrency} workers`)
}).pipe(Effect.scoped) // closing the scope stops the workers

NodeRuntime.runMain(program)
