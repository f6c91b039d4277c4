/**
 * Registers a pool's metric series. Each series reads the pool's own state when the registry is read, so that
 * reporting metrics adds nothing to the per-job path.
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import * as WorkerPoolMetrics from "../WorkerPoolMetrics.ts"
import { boundariesMillis, type Durations } from "./histogram.ts"
import type { PoolState } from "./state.ts"

/** Registers the series of pool `pool` in the registry of `context`; returns what removes them. @internal */
export const register = (context: Context.Context<never>, pool: string, self: PoolState<any, any, any>): () => void => {
  const { add, remove } = series(context)
  const attributes = { pool }
  const c = self.counters
  add(WorkerPoolMetrics.jobsSubmitted, attributes, counter(() => c.submitted))
  add(WorkerPoolMetrics.jobsStarted, attributes, counter(() => c.started))
  for (const outcome of WorkerPoolMetrics.outcomes) {
    add(WorkerPoolMetrics.jobsCompleted, { pool, outcome }, counter(() => c.ofOutcome(outcome)))
  }
  add(WorkerPoolMetrics.jobsRejected, attributes, counter(() => c.rejected))
  add(WorkerPoolMetrics.jobsRetried, attributes, counter(() => c.retried))
  add(WorkerPoolMetrics.queueDepth, attributes, gauge(() => c.queued))
  add(WorkerPoolMetrics.submittersWaiting, attributes, gauge(() => self.waiters.size))
  add(WorkerPoolMetrics.workersBusy, attributes, gauge(() => c.running))
  add(WorkerPoolMetrics.workers, attributes, gauge(() => self.workers))
  add(WorkerPoolMetrics.jobWaitTime, attributes, () => histogramState(c.waitTimes))
  add(WorkerPoolMetrics.jobRunTime, attributes, () => histogramState(c.runTimes))
  return remove
}

/**
 * Series that read their state when the registry of `context` is read: `add` registers one, `remove` removes them
 * all.
 */
export const series = (context: Context.Context<never>) => {
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
  const remove = () => {
    for (const registration of registrations) registration.remove()
  }
  return { add, remove }
}

/** A counter's state, read from a count. */
export const counter = (read: () => number) => (): Metric.CounterState<number> => ({ count: read(), incremental: true })

/** A gauge's state, read from a value. */
export const gauge = (read: () => number) => (): Metric.GaugeState<number> => ({ value: read() })

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
