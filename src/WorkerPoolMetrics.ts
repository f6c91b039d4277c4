/**
 * The metrics every pool reports through `effect/Metric`. Each series carries the pool's `name` as the attribute
 * `pool`; `worker_pool_jobs_completed_total` also carries the job's `outcome`.
 *
 * The pool does not update these metrics job by job: it registers each series once (with `Metric.registerUnsafe`)
 * and the registry reads the pool's own counters, gauges and histograms whenever it is read, by `Metric.value`,
 * `Metric.snapshot` or an exporter (OTLP, Prometheus). The per-job cost is that of the pool's own bookkeeping. A
 * pool built with `metrics: false` registers nothing; its series leave the registry when its scope closes.
 *
 * To read one series, give the metric the pool's attributes:
 * `Metric.value(Metric.withAttributes(WorkerPoolMetrics.jobsSubmitted, { pool: "thumbnails" }))`.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import { boundariesMillis } from "./internal/histogram.ts"

/**
 * How an accepted job ended: the value of the `outcome` attribute of `jobsCompleted`.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome = "succeeded" | "failed" | "defect" | "timed_out" | "cancelled" | "dropped" | "shutdown"

/**
 * Every `Outcome`, in the order of `Stats`.
 *
 * @category models
 * @since 0.1.0
 */
export const outcomes: ReadonlyArray<Outcome> = [
  "succeeded",
  "failed",
  "defect",
  "timed_out",
  "cancelled",
  "dropped",
  "shutdown"
]

/**
 * Jobs the pool accepted (`stats.submitted`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobsSubmitted: Metric.Counter<number> = Metric.counter("worker_pool_jobs_submitted_total", {
  description: "Jobs accepted by the pool",
  incremental: true
})

/**
 * Attempts started: a job retried twice starts three times.
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobsStarted: Metric.Counter<number> = Metric.counter("worker_pool_jobs_started_total", {
  description: "Job attempts started by a worker",
  incremental: true
})

/**
 * Jobs that reached their outcome, one series per `outcome` attribute (see `Outcome`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobsCompleted: Metric.Counter<number> = Metric.counter("worker_pool_jobs_completed_total", {
  description: "Accepted jobs that reached their outcome, by outcome",
  incremental: true
})

/**
 * Submissions turned away with `QueueFull` or `PoolShutdown` (`stats.rejected`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobsRejected: Metric.Counter<number> = Metric.counter("worker_pool_jobs_rejected_total", {
  description: "Submissions turned away (queue full or pool shut down)",
  incremental: true
})

/**
 * Retries scheduled (`stats.retried`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobsRetried: Metric.Counter<number> = Metric.counter("worker_pool_jobs_retried_total", {
  description: "Retries scheduled after a failed attempt",
  incremental: true
})

/**
 * Jobs accepted and not started, including those waiting for their key or a retry (`stats.queued`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const queueDepth: Metric.Gauge<number> = Metric.gauge("worker_pool_queue_depth", {
  description: "Jobs waiting in the queue"
})

/**
 * Submitters waiting for room in a full queue (`stats.waiting`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const submittersWaiting: Metric.Gauge<number> = Metric.gauge("worker_pool_submitters_waiting", {
  description: "Submitters waiting for room in the queue"
})

/**
 * Workers running a job (`stats.running`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const workersBusy: Metric.Gauge<number> = Metric.gauge("worker_pool_workers_busy", {
  description: "Workers running a job"
})

/**
 * Live workers, busy or idle (`stats.workers`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const workers: Metric.Gauge<number> = Metric.gauge("worker_pool_workers", {
  description: "Live workers"
})

/**
 * Live threads of a thread pool (`threads.live`): starting, ready or running a job.
 *
 * @category metrics
 * @since 0.1.0
 */
export const threads: Metric.Gauge<number> = Metric.gauge("worker_pool_threads", {
  description: "Live threads of a thread pool"
})

/**
 * Why a thread of a thread pool was replaced: its job was stopped while it ran (`"terminated"`), or it crashed.
 *
 * @category models
 * @since 0.1.0
 */
export type ReplacedBecause = "terminated" | "crashed"

/**
 * Threads started to replace one that was terminated or crashed, by `reason` (`threads.replaced`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const threadsReplaced: Metric.Counter<number> = Metric.counter("worker_pool_threads_replaced_total", {
  description: "Threads started to replace a terminated or crashed one",
  incremental: true
})

/**
 * The bucket boundaries of both histograms, in seconds.
 *
 * @category metrics
 * @since 0.1.0
 */
export const boundariesSeconds: ReadonlyArray<number> = boundariesMillis.map((millis) => millis / 1000)

/**
 * Time from acceptance to start, per attempt.
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobWaitTime: Metric.Histogram<number> = Metric.histogram("worker_pool_job_wait_seconds", {
  description: "Time jobs waited in the queue before they started",
  boundaries: boundariesSeconds
})

/**
 * Time from start to end, per attempt, whatever the outcome.
 *
 * @category metrics
 * @since 0.1.0
 */
export const jobRunTime: Metric.Histogram<number> = Metric.histogram("worker_pool_job_run_seconds", {
  description: "Time jobs ran, whatever their outcome",
  boundaries: boundariesSeconds
})
