/**
 * The pool's counters and its `stats` snapshot. Every count changes in the same synchronous section as the job it
 * counts, so that a snapshot always adds up: submitted = succeeded + failed + defects + timedOut + cancelled +
 * dropped + shutdown + queued + running.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import type { Stats } from "../WorkerPool.ts"
import type { Outcome } from "../WorkerPoolMetrics.ts"
import { Durations } from "./histogram.ts"
import type { PoolState } from "./state.ts"

export class Counters {
  /** accepted jobs */
  submitted = 0
  succeeded = 0
  failed = 0
  defects = 0
  timedOut = 0
  cancelled = 0
  dropped = 0
  shutdown = 0
  /** submissions turned away */
  rejected = 0
  /** attempts started */
  started = 0
  /** retries scheduled */
  retried = 0
  /** accepted, not started: ready, waiting for a key, or between attempts */
  queued = 0
  /** of the queued jobs, those between attempts */
  retrying = 0
  running = 0
  /** attempts that ran, whatever their outcome */
  completed = 0
  totalDurationMillis = 0
  /** per attempt: from entering the queue to starting */
  readonly waitTimes = new Durations()
  /** per attempt: from starting to ending */
  readonly runTimes = new Durations()

  /** Counts a job's final outcome, as its exit says. */
  countExit(exit: Exit.Exit<unknown, unknown>): void {
    if (Exit.isSuccess(exit)) this.succeeded++
    else if (Cause.hasFails(exit.cause)) this.failed++
    else if (Cause.hasDies(exit.cause)) this.defects++
    else this.cancelled++
  }

  /** The count of jobs that ended with `outcome`. */
  ofOutcome(outcome: Outcome): number {
    switch (outcome) {
      case "succeeded":
        return this.succeeded
      case "failed":
        return this.failed
      case "defect":
        return this.defects
      case "timed_out":
        return this.timedOut
      case "cancelled":
        return this.cancelled
      case "dropped":
        return this.dropped
      case "shutdown":
        return this.shutdown
    }
  }
}

/** A consistent snapshot of the pool. */
export const snapshot = (self: PoolState<any, any, any>): Stats => {
  const c = self.counters
  const lifecycle = self.lifecycle
  return {
    name: self.name,
    state: lifecycle._tag === "Open"
      ? "open"
      : lifecycle._tag === "Draining"
      ? "draining"
      : lifecycle._tag === "Stopping"
      ? "stopping"
      : "closed",
    concurrency: self.maxWorkers,
    minWorkers: self.minWorkers,
    maxWorkers: self.maxWorkers,
    capacity: self.settings.capacity,
    workers: self.workers,
    idleWorkers: self.idle.length,
    paused: lifecycle._tag === "Open" && lifecycle.paused,
    submitted: c.submitted,
    succeeded: c.succeeded,
    failed: c.failed,
    defects: c.defects,
    timedOut: c.timedOut,
    cancelled: c.cancelled,
    dropped: c.dropped,
    shutdown: c.shutdown,
    rejected: c.rejected,
    started: c.started,
    retried: c.retried,
    queued: c.queued,
    retrying: c.retrying,
    running: c.running,
    waiting: self.waiters.size,
    completed: c.completed,
    totalDurationMillis: c.totalDurationMillis,
    averageDurationMillis: c.completed === 0 ? 0 : c.totalDurationMillis / c.completed,
    waitTime: c.waitTimes.summary(),
    runTime: c.runTimes.summary()
  }
}
