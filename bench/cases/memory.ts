/**
 * Queues jobs behind a blocked worker and measures the heap they retain: `heapUsed` after a full collection,
 * before and after queueing, divided by the number of jobs. A first, smaller backlog warms up the code paths (and
 * any lazily built module state) so that they are not counted.
 *
 * Arguments: `--impl`, `--jobs`, `--warmup` (jobs of the unmeasured first backlog; default 10000). Needs
 * `node --expose-gc`.
 */
import { collectGarbage, main, numberArg, stringArg } from "../harness.ts"
import { load } from "../impls/contract.ts"

main(async () => {
  const implementation = await load(stringArg("impl"))
  if (implementation.backlog === undefined) throw new Error("this implementation has no backlog mode")
  const jobs = numberArg("jobs")
  const warmup = numberArg("warmup", 10_000)

  const rehearsal = await implementation.backlog(warmup)
  await rehearsal.fill(warmup)

  const backlog = await implementation.backlog(jobs)
  collectGarbage()
  const before = process.memoryUsage().heapUsed
  await backlog.fill(jobs)
  collectGarbage()
  const after = process.memoryUsage().heapUsed
  return { bytesPerJob: (after - before) / jobs, retainedMB: (after - before) / 2 ** 20 }
})
