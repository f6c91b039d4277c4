/**
 * Runs a fixed number of jobs through one implementation at one concurrency: the throughput, timers, scale and
 * cost-of-options cases.
 *
 * Arguments: `--impl`, `--jobs`, `--concurrency`, `--sleep` (milliseconds each job sleeps; 0 or absent for the
 * async no-op), `--timeout` (the pool's default job timeout, e.g. `1 minute`), `--warmup` (jobs of a first,
 * unmeasured pass; default `min(jobs, 20000)`).
 */
import { args, collectGarbage, main, numberArg, stringArg } from "../harness.ts"
import { type JobKind, load } from "../impls/contract.ts"

main(async () => {
  const implementation = await load(stringArg("impl"))
  if (implementation.batch === undefined) throw new Error("this implementation has no batch mode")
  const jobs = numberArg("jobs")
  const concurrency = numberArg("concurrency")
  const sleep = numberArg("sleep", 0)
  const job: JobKind = sleep > 0 ? { kind: "sleep", millis: sleep } : { kind: "noop" }
  const options = { concurrency, job, timeout: args.timeout }
  const warmup = numberArg("warmup", Math.min(jobs, 20_000))
  if (warmup > 0) await implementation.batch({ ...options, jobs: warmup })
  collectGarbage()
  const millis = await implementation.batch({ ...options, jobs })
  return { millis, kjobsPerSecond: jobs / millis }
})
