/**
 * Measures how long one CPU-bound job takes, to choose `cpuCalls` in `jobs.ts`: warms the job up on this thread,
 * then times `--jobs` jobs (default 20) of `--calls` calls each (default `cpuCalls`) and prints the median, and the
 * number of calls that would take `--target` ms (default 20).
 *
 *   npx node bench/threads/calibrate.ts --calls=15000
 */
import { numberArg, quantile } from "../harness.ts"
import { cpuCalls, cpuJob } from "./jobs.ts"

const calls = numberArg("calls", cpuCalls)
const jobs = numberArg("jobs", 20)
const target = numberArg("target", 20)
let sink = 0
for (let i = 0; i < 5; i++) sink ^= cpuJob(i, calls)
const times: Array<number> = []
for (let i = 0; i < jobs; i++) {
  const start = performance.now()
  sink ^= cpuJob(i, calls)
  times.push(performance.now() - start)
}
times.sort((a, b) => a - b)
const median = quantile(times, 0.5)
console.log(
  `${calls} calls: median ${median.toFixed(2)} ms, min ${times[0].toFixed(2)}, max ${times.at(-1)!.toFixed(2)} ` +
    `(checksum ${sink >>> 0}); ${target} ms would be about ${Math.round((calls * target) / median)} calls`
)
