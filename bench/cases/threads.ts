/**
 * Pools of threads: CPU-bound jobs, tiny jobs (the cost of dispatch) and start-up.
 *
 * Arguments: `--impl` (`thread-pool`, `piscina`, `tinypool`, `main-thread`), `--threads`, `--case`, and:
 *
 * - `--case=cpu --jobs=N [--warmup=W]`: starts a pool of CPU-bound jobs, runs `W` jobs (default 4 per thread) to
 *   warm every thread up, then measures `N` jobs submitted at once, until the last result. Reports the elapsed
 *   milliseconds, the milliseconds per job (the elapsed time divided by the jobs each thread ran on average), and
 *   the CPU time the process spent meanwhile, every thread included: about the jobs' own time when all goes well,
 *   well below the elapsed time times the threads when other processes took the CPU.
 * - `--case=tiny --jobs=N [--passes=P] [--warmup=W]`: bursts of `N` tiny jobs (`n + 1`), each burst submitted at
 *   once and awaited in full before the next; `W` bursts (default `P`) warm the pool up, then `P` bursts (default 10)
 *   are timed together. Reports jobs per second, and the process's CPU time per job (every thread included).
 * - `--case=startup`: the milliseconds from the start of the pool's construction to ready (by each implementation's
 *   own signal, see `impls/threads.ts`; the modules this thread needs are imported before), and to the result of
 *   one tiny job per thread, all submitted at once when the pool is ready. Each process measures its first pool:
 *   the threads' modules are loaded from scratch.
 *
 * The results are checked (the CPU-bound case's first, middle and last ones, against the job run on this thread,
 * after the measurement): a pool that returns a wrong value fails the run.
 */
import { collectGarbage, main, numberArg, stringArg } from "../harness.ts"
import { load } from "../impls/contract.ts"
import { cpuJob } from "../threads/jobs.ts"

main(async () => {
  const implementation = await load(stringArg("impl"))
  if (implementation.threads === undefined) throw new Error("this implementation runs no threads")
  const start = await implementation.threads()
  const threads = numberArg("threads")
  const kind = stringArg("case")
  const inputs = (count: number, from = 0) => Array.from({ length: count }, (_, i) => from + i)

  if (kind === "startup") {
    const started = performance.now()
    const pool = await start("tiny", threads)
    const readyMillis = performance.now() - started
    const results = await pool.runAll(inputs(threads))
    const firstJobsMillis = performance.now() - started
    check(results, inputs(threads).map((n) => n + 1))
    await pool.close()
    return { readyMillis, firstJobsMillis }
  }

  if (kind === "cpu") {
    const jobs = numberArg("jobs")
    const warmup = numberArg("warmup", 4 * threads)
    const pool = await start("cpu", threads)
    const seeds = inputs(jobs, 1000)
    if (warmup > 0) await pool.runAll(inputs(warmup))
    collectGarbage()
    const cpuBefore = process.cpuUsage()
    const before = performance.now()
    const results = await pool.runAll(seeds)
    const millis = performance.now() - before
    const cpuMillis = cpuMillisSince(cpuBefore)
    await pool.close()
    // A sample of the results, against the job run here: each job of the sample ran in full, on its own input.
    if (results.length !== jobs) throw new Error(`${results.length} results for ${jobs} jobs`)
    for (const i of new Set([0, jobs >> 1, jobs - 1])) check([results[i]], [cpuJob(seeds[i])])
    return { millis, jobMillis: millis / (jobs / threads), cpuMillis }
  }

  if (kind === "tiny") {
    const jobs = numberArg("jobs")
    const passes = numberArg("passes", 10)
    const warmup = numberArg("warmup", passes)
    const pool = await start("tiny", threads)
    const batch = inputs(jobs)
    const expected = batch.map((n) => n + 1)
    for (let pass = 0; pass < warmup; pass++) check(await pool.runAll(batch), expected)
    collectGarbage()
    const cpuBefore = process.cpuUsage()
    const before = performance.now()
    for (let pass = 0; pass < passes; pass++) check(await pool.runAll(batch), expected)
    const millis = performance.now() - before
    const cpuMillis = cpuMillisSince(cpuBefore)
    await pool.close()
    return { millis, kjobsPerSecond: (jobs * passes) / millis, cpuMicrosPerJob: (cpuMillis * 1000) / (jobs * passes) }
  }

  throw new Error(`--case must be cpu, tiny or startup, not ${JSON.stringify(kind)}`)
})

/** CPU time of the whole process (every thread, user and system) since `before`, in milliseconds. */
const cpuMillisSince = (before: NodeJS.CpuUsage): number => {
  const { system, user } = process.cpuUsage(before)
  return (user + system) / 1000
}

const check = (results: ReadonlyArray<number>, expected: ReadonlyArray<number>): void => {
  if (results.length !== expected.length) throw new Error(`${results.length} results for ${expected.length} jobs`)
  for (let i = 0; i < expected.length; i++) {
    if (results[i] !== expected[i]) throw new Error(`job ${i}: expected ${expected[i]}, got ${results[i]}`)
  }
}
