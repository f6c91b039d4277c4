/**
 * Registers a pool's metric series. Each series reads the pool's own state when the registry is read, so that
 * reporting metrics adds nothing to the per-job path.
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import * as WorkerPoolMetrics from "../WorkerPoolMetrics.ts"
import { boundariesMillis, type Durations } from "./histogram.ts"

/** What the series read. @internal */
export interface Readings {
  readonly submitted: () => number
  readonly started: () => number
  readonly completed: (outcome: WorkerPoolMetrics.Outcome) => number
  readonly rejected: () => number
  readonly retried: () => number
  readonly queued: () => number
  readonly waiting: () => number
  readonly running: () => number
  readonly workers: () => number
  readonly waitTimes: Durations
  readonly runTimes: Durations
}

/** Registers the series of pool `pool` in the registry of `context`; returns what removes them. @internal */
export const register = (context: Context.Context<never>, pool: string, readings: Readings): () => void => {
  const registrations: Array<Metric.Registration> = []
  const add = <State>(metric: Metric.Metric<any, State>, attributes: Metric.Metric.Attributes, get: () => State) => {
    registrations.push(
      Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, {
        get,
        update: noop,
        modify: noop
      })
    )
  }
  const attributes = { pool }
  const counter = (read: () => number) => () => ({ count: read(), incremental: true })
  const gauge = (read: () => number) => () => ({ value: read() })
  add(WorkerPoolMetrics.jobsSubmitted, attributes, counter(readings.submitted))
  add(WorkerPoolMetrics.jobsStarted, attributes, counter(readings.started))
  for (const outcome of WorkerPoolMetrics.outcomes) {
    add(WorkerPoolMetrics.jobsCompleted, { pool, outcome }, counter(() => readings.completed(outcome)))
  }
  add(WorkerPoolMetrics.jobsRejected, attributes, counter(readings.rejected))
  add(WorkerPoolMetrics.jobsRetried, attributes, counter(readings.retried))
  add(WorkerPoolMetrics.queueDepth, attributes, gauge(readings.queued))
  add(WorkerPoolMetrics.submittersWaiting, attributes, gauge(readings.waiting))
  add(WorkerPoolMetrics.workersBusy, attributes, gauge(readings.running))
  add(WorkerPoolMetrics.workers, attributes, gauge(readings.workers))
  add(WorkerPoolMetrics.jobWaitTime, attributes, () => histogramState(readings.waitTimes))
  add(WorkerPoolMetrics.jobRunTime, attributes, () => histogramState(readings.runTimes))
  return () => {
    for (const registration of registrations) registration.remove()
  }
}

const noop = (): void => {}

/** A histogram in milliseconds as the state of a `Metric.histogram` in seconds. */
const histogramState = (durations: Durations): Metric.HistogramState => {
  const buckets: Array<[number, number]> = []
  let cumulated = 0
  for (let i = 0; i < boundariesMillis.length; i++) {
    cumulated += durations.counts[i]
    buckets.push([boundariesMillis[i] / 1000, cumulated])
  }
  return {
    buckets,
    count: durations.count,
    sum: durations.sum / 1000,
    min: durations.count === 0 ? Number.MAX_VALUE : durations.min / 1000,
    max: durations.count === 0 ? -Number.MAX_VALUE : durations.max / 1000
  }
}
