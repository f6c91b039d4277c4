/**
 * Runs a fixed number of jobs through one implementation at one concurrency: the throughput, timers, scale and
 * cost-of-options cases.
 *
 * Arguments: `--impl`, `--jobs`, `--concurrency`, `--sleep` (milliseconds each job sleeps; 0 or absent for the
 * async no-op), `--instance` and `--warmup`, and the pool's options of the cost-of-options case (the other
 * implementations ignore them):
 *
 * - `--instance=fresh` (the default): a first, unmeasured pass of `--warmup` jobs (default `min(jobs, 20000)`) runs
 *   on an instance (pool, queue, limiter) of its own; the measured pass runs on a new one;
 * - `--instance=warm`: both passes run on one instance, the first of `--warmup` jobs (default `jobs`), as a service
 *   keeps one pool for its lifetime;
 *
 * - `--timeout`: the pool's default job timeout, e.g. `1 minute`;
 * - `--retry=N`: the pool's `retry` is `Schedule.recurs(N)`;
 * - `--priorities=N`: every job has a `priority`, cycling through 1 to N;
 * - `--keys=N`: every job has a `key`, cycling through N distinct keys;
 * - `--rateLimit=N --rateInterval=D`: the pool's `rateLimit` is `{ limit: N, interval: D }`, e.g. `1 millis`;
 * - `--metrics=false`: the pool registers no metrics;
 * - `--traced=true`: the submitters run inside a span, so every job runs in a span of its own.
 */
import { args, collectGarbage, gcWatch, main, numberArg, stringArg } from "../harness.ts"
import { type JobKind, load } from "../impls/contract.ts"

main(async () => {
  const implementation = await load(stringArg("impl"))
  if (implementation.batch === undefined) throw new Error("this implementation has no batch mode")
  const jobs = numberArg("jobs")
  const concurrency = numberArg("concurrency")
  const sleep = numberArg("sleep", 0)
  const job: JobKind = sleep > 0 ? { kind: "sleep", millis: sleep } : { kind: "noop" }
  const optionalNumber = (name: string): number | undefined => args[name] === undefined ? undefined : numberArg(name)
  const rateLimit = optionalNumber("rateLimit")
  const options = {
    concurrency,
    job,
    timeout: args.timeout,
    retry: optionalNumber("retry"),
    priorities: optionalNumber("priorities"),
    keys: optionalNumber("keys"),
    rateLimit: rateLimit === undefined ? undefined : { limit: rateLimit, interval: stringArg("rateInterval") },
    metrics: args.metrics === undefined ? undefined : args.metrics !== "false",
    traced: args.traced === "true"
  }
  const instance = args.instance ?? "fresh"
  const gc = gcWatch()
  const beforeMeasuring = () => {
    collectGarbage()
    gc.start()
  }
  let millis: number
  if (instance === "fresh") {
    const warmup = numberArg("warmup", Math.min(jobs, 20_000))
    if (warmup > 0) await implementation.batch({ ...options, jobs: warmup }, 0, () => {})
    millis = await implementation.batch({ ...options, jobs }, 0, beforeMeasuring)
  } else if (instance === "warm") {
    millis = await implementation.batch({ ...options, jobs }, numberArg("warmup", jobs), beforeMeasuring)
  } else {
    throw new Error(`--instance must be fresh or warm, not ${JSON.stringify(instance)}`)
  }
  return { millis, kjobsPerSecond: jobs / millis, ...(await gc.stop()) }
})
