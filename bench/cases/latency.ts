/**
 * Feeds one implementation no-op jobs at a steady rate and records, for every job, the time from its submission
 * to its result reaching the caller (`performance.now`, in this process).
 *
 * A 1 ms timer is the source: each tick submits every job that is due by then (`rate x elapsed`), so the
 * average rate holds whatever the timer's jitter. With `--stall`, one tick a third of the way through blocks the
 * event loop for that many milliseconds, as a long synchronous task would; the jobs that fell due meanwhile are
 * then submitted at once. The implementation has caught up once a tick finds nothing outstanding; the case
 * reports how long after the stall that took, and the latency of the jobs submitted from the stall on.
 *
 * Arguments: `--impl`, `--rate` (jobs per second), `--seconds` (measured), `--warmup` (seconds at the same rate
 * before measuring), `--stall` (milliseconds, optional), `--concurrency` (default 8).
 */
import { PerformanceObserver } from "node:perf_hooks"
import { collectGarbage, main, type Measurement, numberArg, quantile, stallEventLoop, stringArg } from "../harness.ts"
import { load, type Stream } from "../impls/contract.ts"

/** How long to wait, after the last submission, for outstanding jobs before calling them lost. */
const settleMillis = 10_000

interface Drive {
  readonly rate: number
  readonly millis: number
  readonly stall: number
}

interface Samples {
  /** microseconds from submission to result, per job in submission order */
  readonly latency: Float64Array
  /** milliseconds from the start of the run to each job's submission */
  readonly submittedAt: Float64Array
  readonly count: number
  readonly completed: number
  readonly failed: number
  readonly stallEnd: number
  readonly caughtUpAt: number
}

const drive = (stream: Stream, { millis, rate, stall }: Drive): Promise<Samples> =>
  new Promise((resolve) => {
    const total = Math.ceil((rate * millis) / 1000)
    const latency = new Float64Array(total).fill(NaN)
    const submittedAt = new Float64Array(total)
    const stallAt = millis / 3
    let submitted = 0
    let completed = 0
    let failed = 0
    let stallEnd = -1
    let caughtUpAt = -1
    const start = performance.now()

    const submit = (index: number): void => {
      const t0 = performance.now()
      submittedAt[index] = t0 - start
      stream.submit((isFailure) => {
        latency[index] = (performance.now() - t0) * 1000
        completed++
        if (isFailure) failed++
      })
    }

    const finish = (): void => {
      const deadline = performance.now() + settleMillis
      const wait = (): void => {
        if (stallEnd >= 0 && caughtUpAt < 0 && completed === submitted) caughtUpAt = performance.now() - start
        if (completed < submitted && performance.now() < deadline) {
          setTimeout(wait, 1)
          return
        }
        resolve({ latency, submittedAt, count: submitted, completed, failed, stallEnd, caughtUpAt })
      }
      wait()
    }

    const tick = (): void => {
      let now = performance.now() - start
      if (stallEnd >= 0 && caughtUpAt < 0 && completed === submitted) caughtUpAt = now
      if (stall > 0 && stallEnd < 0 && now >= stallAt) {
        stallEventLoop(stall)
        now = performance.now() - start
        stallEnd = now
      }
      const due = Math.min(total, Math.floor((rate * now) / 1000))
      while (submitted < due) submit(submitted++)
      if (submitted < total) setImmediate(tick)
      else finish()
    }
    setImmediate(tick)
  })

/** Records garbage-collection pauses, the usual cause of a latency tail, so that the report can show them. */
const watchGarbageCollection = () => {
  const pauses: Array<{ readonly start: number; readonly duration: number }> = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push({ start: entry.startTime, duration: entry.duration })
  })
  observer.observe({ entryTypes: ["gc"] })
  /** The longest and the total pause between `from` and `to` (`performance.now()` times). */
  const between = async (from: number, to: number): Promise<{ max: number; total: number }> => {
    // entries are delivered asynchronously: give the last ones a moment to arrive
    await new Promise((resolve) => setTimeout(resolve, 20))
    observer.disconnect()
    const inside = pauses.filter((p) => p.start >= from && p.start <= to)
    return {
      max: inside.reduce((max, p) => Math.max(max, p.duration), 0),
      total: inside.reduce((total, p) => total + p.duration, 0)
    }
  }
  return { between }
}

const summarize = (samples: Samples, from: number): { p50: number; p99: number; max: number } => {
  const picked: Array<number> = []
  for (let i = 0; i < samples.count; i++) {
    if (samples.submittedAt[i] >= from) picked.push(Number.isNaN(samples.latency[i]) ? Infinity : samples.latency[i])
  }
  const sorted = Float64Array.from(picked).sort()
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: quantile(sorted, 1) }
}

main(async () => {
  const implementation = await load(stringArg("impl"))
  if (implementation.stream === undefined) throw new Error("this implementation has no stream mode")
  const rate = numberArg("rate")
  const millis = numberArg("seconds") * 1000
  const stall = numberArg("stall", 0)
  const concurrency = numberArg("concurrency", 8)
  const stream = await implementation.stream(concurrency)

  await drive(stream, { rate, millis: numberArg("warmup", 0.5) * 1000, stall: 0 })
  collectGarbage()
  const gc = watchGarbageCollection()
  const measureStart = performance.now()
  const samples = await drive(stream, { rate, millis, stall })
  const pauses = await gc.between(measureStart, performance.now())
  await stream.close()

  if (samples.failed > 0) throw new Error(`${samples.failed} jobs failed`)
  const all = summarize(samples, 0)
  const measurement: Record<string, number | boolean> = {
    p50Micros: all.p50,
    p99Micros: all.p99,
    maxMicros: all.max,
    lost: samples.count - samples.completed,
    gcMaxPauseMillis: pauses.max,
    gcTotalPauseMillis: pauses.total
  }
  if (stall > 0) {
    const afterStall = summarize(samples, samples.stallEnd)
    const catchUpMillis = samples.caughtUpAt < 0 ? Infinity : samples.caughtUpAt - samples.stallEnd
    measurement.p99AfterStallMicros = afterStall.p99
    measurement.catchUpMillis = catchUpMillis
    measurement.caughtUp = catchUpMillis <= 1000
  }
  return measurement satisfies Measurement
})
