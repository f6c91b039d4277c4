/**
 * Submissions: accepting a job (or turning it away), the submitters waiting for room, and cancellation of a job
 * by its submitter.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Tracer from "effect/Tracer"
import type { JobOptions } from "../WorkerPool.ts"
import { type InvalidJobOptions, QueueFull, type SubmitError } from "../WorkerPoolError.ts"
import { Job, type PoolError, Rare, type Settled, timeoutOf } from "./job.ts"
import { checkJobOptions, durationMillis } from "./options.ts"
import { enqueue, slidingVictim, unqueue } from "./queue.ts"
import { settleCancelled, settleDropped, shutdownError, signalIfIdle } from "./settle.ts"
import { currentTime, isOpen, type PoolState, stampOf } from "./state.ts"
import type { Waiter } from "./waiters.ts"
import { dispatch, stopJob } from "./worker.ts"

/** Makes the record of an accepted job. `parent` is the submitter's span, when job spans are on. */
const accept = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options: JobOptions | undefined,
  parent: Tracer.AnySpan | undefined
): Job<I, A, E> => {
  self.counters.submitted++
  const seq = ++self.seq
  const rank = ++self.ranks
  const job = options === undefined
    ? new Job<I, A, E>(
      seq,
      rank,
      input,
      timeoutOf(self.settings.timeout),
      undefined,
      parent === undefined ? undefined : new Rare(0, undefined, undefined, parent)
    )
    : new Job<I, A, E>(
      seq,
      rank,
      input,
      timeoutOf(options.timeout === undefined ? self.settings.timeout : durationMillis(options.timeout)!),
      options.id,
      options.priority === undefined && options.key === undefined && options.retry === undefined &&
        parent === undefined
        ? undefined
        : new Rare(options.priority ?? 0, options.key, options.retry, parent)
    )
  job.queuedAt = stampOf(self, currentTime(self))
  return job
}

/** The span of the submitting fiber, which a job's span continues. */
export const submitterSpan = (self: PoolState<any, any, any>): Tracer.AnySpan | undefined =>
  self.settings.tracing ? Fiber.getCurrent()?.cache.span : undefined

/**
 * Places an accepted job in the queue and gets it started: an idle worker, if any, takes it at once (inline);
 * otherwise a new worker is added if the pool may grow. Nothing starts while the pool is paused.
 */
const place = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>): void => {
  self.counters.queued++
  enqueue(self, job)
  dispatch(self)
}

/** Whether a new job fits: the queue is below capacity and no submitter waits for room before it. */
const hasRoom = (self: PoolState<any, any, any>): boolean =>
  self.counters.queued < self.settings.capacity && self.waiters.size === 0

/**
 * The synchronous part of every submission: returns the accepted job, the error that turns it away, or
 * `undefined` when the submitter is to wait for room (`overflow: "suspend"`). An `execute` caller passes its
 * `onSettled`, registered on the job before the job is placed, since an idle worker may run the job inline. `span`
 * gives the span the job's spans continue: by default the current fiber's, for a submitter that runs in its own fiber.
 */
export const offer = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options: JobOptions | undefined,
  tryOnly: boolean,
  onSettled: Job<I, A, E>["onSettled"],
  span: (self: PoolState<I, A, E>) => Tracer.AnySpan | undefined = submitterSpan
): Job<I, A, E> | SubmitError | undefined => {
  if (options !== undefined) {
    const invalid: InvalidJobOptions | undefined = checkJobOptions(options)
    if (invalid !== undefined) return invalid
  }
  if (!isOpen(self)) {
    self.counters.rejected++
    return shutdownError(self, options?.id)
  }
  if (hasRoom(self)) {
    const job = accept(self, input, options, span(self))
    job.onSettled = onSettled
    place(self, job)
    return job
  }
  const overflow = self.settings.overflow
  if (tryOnly || overflow === "fail") {
    self.counters.rejected++
    return new QueueFull({ pool: self.name, capacity: self.settings.capacity })
  }
  if (overflow === "dropping") {
    const job = accept(self, input, options, span(self))
    job.onSettled = onSettled
    settleDropped(self, job, "dropping")
    return job
  }
  if (overflow === "sliding") {
    // drop the oldest queued jobs until the new one fits (retries may have taken the queue above capacity)
    while (self.counters.queued >= self.settings.capacity) {
      const victim = slidingVictim(self)
      if (victim === undefined) break
      unqueue(self, victim)
      settleDropped(self, victim, "sliding")
    }
    const job = accept(self, input, options, span(self))
    job.onSettled = onSettled
    place(self, job)
    return job
  }
  return undefined
}

/**
 * Admits waiting submitters, in arrival order, while there is room. An `execute` caller is admitted as soon as
 * there is room: its fiber sleeps on until its job settles. A `submit` caller resumes as it is admitted, so when
 * one is first in line, the queue must first drain to half its capacity: then every waiter that fits is admitted
 * at once, and a producer that submits in a loop resumes once per half queue instead of once per job, filling the
 * room in one go. Arrival order holds either way: no waiter, and no newcomer, overtakes one that waits.
 */
export const admitWaiters = <I, A, E>(self: PoolState<I, A, E>): void => {
  const waiters = self.waiters
  if (waiters.size === 0) return
  const capacity = self.settings.capacity
  const batch = self.counters.queued <= capacity >> 1
  while (waiters.size > 0 && self.counters.queued < capacity && isOpen(self)) {
    if (!batch && !waiters.peek()!.forExecute) return
    const waiter = waiters.take()!
    const job = accept(self, waiter.input, waiter.options, waiter.parent)
    waiter.job = job
    if (waiter.forExecute) {
      job.onSettled = waiter.reply
      place(self, job)
    } else {
      place(self, job)
      waiter.reply(Exit.succeed(job))
    }
  }
}

/** Turns away every waiting submitter with `PoolShutdown`: intake has stopped. */
export const rejectWaiters = (self: PoolState<any, any, any>): void => {
  for (const waiter of self.waiters.takeAll()) {
    self.counters.rejected++
    waiter.reply(Exit.fail(shutdownError(self, waiter.options?.id)))
  }
}

/** Cancels a job on behalf of fiber `by`. Returns true when the job still has to settle (it is running). */
export const cancel = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>, by: number): boolean => {
  if (job.phase === "Running") {
    stopJob(self, job, { _tag: "Cancelled", by })
    return true
  }
  if (job.phase === "Done") return false
  unqueue(self, job)
  settleCancelled(self, job, by)
  admitWaiters(self)
  signalIfIdle(self)
  return false
}

/** What an interrupted `execute` caller that waits for room runs: it gives up its place, or cancels its job. */
export const cancelExecuteWaiter = (waiter: Waiter<any>): Effect.Effect<void> => {
  const self = waiter.pool
  const job = waiter.job as Job<any, any, any> | undefined
  if (job === undefined) {
    self.waiters.giveUp(waiter)
    return Effect.void
  }
  return cancelAndAwait(self, job, Fiber.getCurrent()?.id ?? -1)
}

/** What an interrupted `submit` caller that waits for room runs: it gives up its place. */
export const cancelSubmitWaiter = (waiter: Waiter<any>): Effect.Effect<void> => {
  waiter.pool.waiters.giveUp(waiter)
  return Effect.void
}

/** Cancels a job and waits until it has settled (its finalizers have run). */
export const cancelAndAwait = (self: PoolState<any, any, any>, job: Job<any, any, any>, by: number) =>
  cancel(self, job, by) ? awaitSettled(job) : Effect.void

/** Waits until a job has settled, whatever its outcome. */
export const awaitSettled = (job: Job<any, any, any>): Effect.Effect<void> =>
  job.phase === "Done" ? Effect.void : Effect.asVoid(Effect.exit(awaitJob(job)))

/**
 * Waits for a job's outcome: at once when it has settled, else as one of its waiters, resumed inline as it settles.
 * Interrupting the waiting fiber takes it off the waiters and leaves the job alone.
 */
export const awaitJob = <A, E>(job: Job<any, A, E>): Effect.Effect<A, E | PoolError> =>
  job.exit !== undefined ? job.exit : Effect.callback<A, E | PoolError>((resume) => {
    if (job.exit !== undefined) return resume(job.exit)
    const rare = job.rare ??= new Rare(0, undefined, undefined, undefined)
    const waiters = rare.waiters
    if (waiters === undefined) rare.waiters = resume
    else if (typeof waiters === "function") rare.waiters = [waiters, resume]
    else waiters.push(resume)
    return Effect.sync(() => removeWaiter(rare, resume))
  })

const removeWaiter = (rare: Rare, waiter: Settled<any, any>): void => {
  const waiters = rare.waiters
  if (waiters === waiter) rare.waiters = undefined
  else if (Array.isArray(waiters)) {
    const rest = waiters.filter((w) => w !== waiter)
    rare.waiters = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest
  }
}
