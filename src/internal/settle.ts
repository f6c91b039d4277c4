/**
 * Settling: the one place where a job gets its outcome. Every ending of a job goes through `settle` exactly once,
 * which passes its key on and resumes whoever waits for it; the functions above it decide the outcome and count it.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import { JobDropped, JobTimeout, PoolShutdown } from "../WorkerPoolError.ts"
import { settleHandle } from "./handle.ts"
import type { Job, PoolError } from "./job.ts"
import { passKey } from "./queue.ts"
import type { PoolState } from "./state.ts"
import { dispatch } from "./worker.ts"

/**
 * Gives a job its outcome: the job is done, its key passes to the next job of its line, and the fibers waiting
 * for it resume.
 */
export const settle = <I, A, E>(
  self: PoolState<I, A, E>,
  job: Job<I, A, E>,
  exit: Exit.Exit<A, E | PoolError>
): void => {
  job.phase = "Done"
  job.exit = exit
  if (job.rare !== undefined && passKey(self, job)) dispatch(self)
  const onSettled = job.onSettled
  if (onSettled !== undefined) {
    job.onSettled = undefined
    if (typeof onSettled === "function") onSettled(exit)
    else settleHandle(onSettled, exit)
  }
  const waiters = job.rare === undefined ? undefined : job.rare.waiters
  if (waiters !== undefined) {
    job.rare!.waiters = undefined
    if (typeof waiters === "function") waiters(exit)
    else for (const waiter of waiters) waiter(exit)
  }
}

/**
 * Settles a job whose last attempt has ended: with the ending the pool gave it (a timeout, a cancellation, a
 * shutdown), or else with its handler's own exit, unwrapped. Counts the outcome.
 */
export const settleRan = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>, exit: Exit.Exit<A, E>): void => {
  const ending = job.ending
  job.ending = undefined
  if (ending === undefined) {
    self.counters.countExit(exit)
    settle(self, job, exit)
  } else if (ending._tag === "TimedOut") {
    self.counters.timedOut++
    settle(self, job, Exit.fail(new JobTimeout({ pool: self.name, jobId: job.id, timeoutMillis: job.timeoutMillis })))
  } else if (ending._tag === "Shutdown") {
    settleShutdown(self, job)
  } else {
    self.counters.cancelled++
    settle(self, job, Exit.failCause(Cause.interrupt(ending.by)))
  }
}

/** Settles a job the pool shut down before it finished. */
export const settleShutdown = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>): void => {
  self.counters.shutdown++
  settle(self, job, Exit.fail(shutdownError(self, job.id)))
}

/** Settles a job its submitter cancelled before it started. */
export const settleCancelled = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>, by: number): void => {
  self.counters.cancelled++
  settle(self, job, Exit.failCause(Cause.interrupt(by)))
}

/** Settles a job that `overflow` discarded. */
export const settleDropped = <I, A, E>(
  self: PoolState<I, A, E>,
  job: Job<I, A, E>,
  overflow: "dropping" | "sliding"
): void => {
  self.counters.dropped++
  settle(self, job, Exit.fail(new JobDropped({ pool: self.name, jobId: job.id, overflow })))
}

export const shutdownError = (self: PoolState<any, any, any>, jobId: string | undefined): PoolShutdown =>
  new PoolShutdown(jobId === undefined ? { pool: self.name } : { pool: self.name, jobId })

/** Resolves the waiters of `awaitIdle` once nothing is queued or running. */
export const signalIfIdle = (self: PoolState<any, any, any>): void => {
  const signal = self.idleSignal
  if (signal !== undefined && self.counters.queued === 0 && self.counters.running === 0) {
    self.idleSignal = undefined
    Deferred.doneUnsafe(signal, Exit.void)
  }
}
