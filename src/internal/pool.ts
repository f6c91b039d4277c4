/**
 * The pool engine: `make` builds a pool's state and starts its workers; the operations below are what the public
 * `WorkerPool` and `Executor` values call. The engine's parts live one module each beside this one:
 *
 * - `state.ts`: the state every part works on, and the pool's lifecycle;
 * - `job.ts`: the job record, its phases and endings, and the `JobInfo` a handler sees;
 * - `submit.ts`: accepting jobs, submitters waiting for room, cancellation;
 * - `queue.ts`, `readyQueue.ts`, `keyLanes.ts`: where accepted jobs wait, and in which order they start;
 * - `worker.ts`: the worker loop, the end of an attempt, slots and sizing;
 * - `retry.ts`: retry policies and the time between attempts;
 * - `settle.ts`: how a job gets its outcome;
 * - `timers.ts`: the one timer fiber (timeouts, idle workers, retry delays, the rate limit);
 * - `rateLimit.ts`, `waiters.ts`, `heap.ts`, `histogram.ts`: the data structures;
 * - `lifecycle.ts`: pause, resize, drain, shutdown and close;
 * - `stats.ts`, `metrics.ts`: counters, the `stats` snapshot and the metric series.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import type { JobInfo, JobOptions, Stats } from "../WorkerPool.ts"
import type { SubmitError } from "../WorkerPoolError.ts"
import { Handle } from "./handle.ts"
import { DeadlineHeap } from "./heap.ts"
import { Job, type PoolError } from "./job.ts"
import { KeyLanes } from "./keyLanes.ts"
import { close } from "./lifecycle.ts"
import { register } from "./metrics.ts"
import type { ResolvedSettings } from "./options.ts"
import { SlidingLog } from "./rateLimit.ts"
import { ReadyQueue } from "./readyQueue.ts"
import { isStopping, open, type PoolState } from "./state.ts"
import { Counters, snapshot } from "./stats.ts"
import {
  awaitSettled,
  cancel,
  cancelAndAwait,
  cancelExecuteWaiter,
  cancelSubmitWaiter,
  offer,
  submitterSpan
} from "./submit.ts"
import { Waiter, WaitList } from "./waiters.ts"
import { startWorkers, stopJob } from "./worker.ts"

export { Handle, JobHandleTypeId } from "./handle.ts"
export type { Job, PoolError } from "./job.ts"
export { awaitIdle, drain, pause, resize, resume, shutdown } from "./lifecycle.ts"
export type { PoolState } from "./state.ts"

/**
 * What a pool built in its scope tells about its worker slots: a thread pool keeps one thread per slot, started
 * when a slot first runs a job and stopped when the slot is released.
 */
export const SlotEvents = Context.Reference<{
  readonly released: ((index: number) => void) | undefined
  readonly gate: ((index: number) => Effect.Effect<void> | undefined) | undefined
}>(
  "effect-worker-pool/internal/SlotEvents",
  { defaultValue: () => ({ released: undefined, gate: undefined }) }
)

/**
 * Builds a pool in the current scope and starts its first workers. `run` turns a job into the effect its worker
 * runs; it runs on the worker fiber, whose services are those of the fiber that called `make`. Closing the scope
 * closes the pool (see `close`).
 */
export const make = <I, A, E, R>(
  settings: ResolvedSettings,
  run: (input: I, info: JobInfo) => Effect.Effect<A, E, R>
): Effect.Effect<PoolState<I, A, E>, never, R | Scope.Scope> =>
  Effect.flatMap(
    Effect.scope,
    // The pool's finalizers run in a scope of its own, in order (the close drains before the fibers are stopped),
    // whatever the strategy of the scope it is built in: a parallel scope would run them at once.
    (outer) => Effect.flatMap(Scope.fork(outer, "sequential"), (scope) => Scope.provide(build(settings, run), scope))
  )

const build = <I, A, E, R>(
  settings: ResolvedSettings,
  run: (input: I, info: JobInfo) => Effect.Effect<A, E, R>
): Effect.Effect<PoolState<I, A, E>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const fibers = yield* FiberSet.make<void>()
    const clock = yield* Clock.Clock
    const rate = settings.rateLimit
    const events = yield* SlotEvents
    const self: PoolState<I, A, E> = {
      name: settings.name,
      settings,
      clock,
      origin: clock.currentTimeMillisUnsafe(),
      fibers,
      fork: (yield* FiberSet.runtime(fibers)<R>()) as unknown as PoolState<I, A, E>["fork"],
      run,
      wantsInfo: run.length !== 1,
      retry: settings.retry,
      lifecycle: open,
      minWorkers: settings.minWorkers,
      maxWorkers: settings.maxWorkers,
      idleTimeout: settings.idleTimeout,
      seq: 0,
      ranks: 0,
      ready: new ReadyQueue(),
      keys: new KeyLanes((job) => job.phase === "Keyed"),
      retries: new DeadlineHeap(),
      stepping: new Set(),
      waiters: new WaitList(),
      rateLimit: rate === undefined ? undefined : new SlidingLog(rate.limit, rate.intervalMillis),
      slots: [],
      slotReleased: events.released,
      slotGate: events.gate,
      idle: [],
      free: [],
      workers: 0,
      idleSignal: undefined,
      timeouts: new DeadlineHeap(),
      idleDeadlines: new DeadlineHeap(),
      rateWakeAt: Infinity,
      timerFiber: undefined,
      timerArmedAt: Infinity,
      timerWake: undefined,
      counters: new Counters(),
      now: 0,
      nowFresh: false
    }
    startWorkers(self)
    if (settings.metrics) {
      const unregister = register(yield* Effect.context<never>(), self.name, self)
      yield* Effect.addFinalizer(() => Effect.sync(unregister))
    }
    yield* Effect.addFinalizer(() => close(self))
    return self
  })

// -----------------------------------------------------------------------------
// operations
// -----------------------------------------------------------------------------

/**
 * Submits a job and waits for its outcome. Interrupting the caller cancels the job and waits until it has settled.
 */
export const execute = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options?: JobOptions<any>
): Effect.Effect<A, E | PoolError | SubmitError> =>
  Effect.callback<A, E | PoolError | SubmitError>(function(resume) {
    const result = offer(self, input, options, false, resume)
    if (result === undefined) {
      const waiter = new Waiter(self, input, options, true, resume, cancelExecuteWaiter, submitterSpan(self))
      self.waiters.push(waiter)
      return waiter
    }
    if (!(result instanceof Job)) {
      resume(Exit.fail(result))
      return
    }
    if (result.phase === "Done") return
    return new CancelOnInterrupt(self, result)
  })

/** Submits a job and returns it once accepted (waiting for room when `overflow` says so, unless `tryOnly`). */
export const submit = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options: JobOptions<any> | undefined,
  tryOnly: boolean
): Effect.Effect<Job<I, A, E>, SubmitError> =>
  Effect.suspend(() => {
    const result = offer(self, input, options, tryOnly, undefined)
    if (result === undefined) return waitForRoom(self, input, options)
    return result instanceof Job ? Exit.succeed(result as Job<I, A, E>) : Exit.fail(result)
  })

/** Submits a job and returns its handle once accepted: `submit`, for the public `submit` and `trySubmit`. */
export const submitHandle = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options: JobOptions<any> | undefined,
  tryOnly: boolean
): Effect.Effect<Handle<A, E>, SubmitError> =>
  Effect.suspend(() => {
    const result = offer(self, input, options, tryOnly, undefined)
    if (result === undefined) return Effect.map(waitForRoom(self, input, options), (job) => new Handle(self, job))
    return result instanceof Job ? Exit.succeed(new Handle(self, result as Job<I, A, E>)) : Exit.fail(result)
  })

/**
 * Submits one job of a group (`executeAll`), waiting for room as `submit` does. The group hears of the job as it is
 * accepted, inline, through `onAccepted`, and of its outcome through `onSettled`: a job is never accepted without its
 * group knowing, whatever happens to the submitting fiber after (an interruption, a scheduler's yield).
 */
export const submitInGroup = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options: JobOptions<any> | undefined,
  onSettled: (exit: Exit.Exit<A, E | PoolError>) => void,
  onAccepted: (job: Job<I, A, E>) => void
): Effect.Effect<void, SubmitError> =>
  Effect.suspend(() => {
    const result = offer(self, input, options, false, onSettled)
    if (result instanceof Job) {
      onAccepted(result)
      return Exit.void
    }
    if (result !== undefined) return Exit.fail(result)
    return Effect.callback<void, SubmitError>((resume) => {
      const waiter = new Waiter(
        self,
        input,
        options,
        false,
        (exit: Exit.Exit<Job<I, A, E>, SubmitError>) => {
          if (Exit.isFailure(exit)) return resume(exit)
          // admitted: the job may already have run inline as it was placed, before it had anyone to tell
          const job = exit.value
          if (job.exit === undefined) {
            job.onSettled = onSettled
            onAccepted(job)
          } else {
            onAccepted(job)
            onSettled(job.exit)
          }
          resume(Exit.void)
        },
        cancelSubmitWaiter,
        submitterSpan(self)
      )
      self.waiters.push(waiter)
      return waiter
    })
  })

/** A `submit` caller waits for room in the queue, and resumes with its job once admitted. */
const waitForRoom = <I, A, E>(
  self: PoolState<I, A, E>,
  input: I,
  options: JobOptions<any> | undefined
): Effect.Effect<Job<I, A, E>, SubmitError> =>
  Effect.callback<Job<I, A, E>, SubmitError>((resume) => {
    const waiter = new Waiter(self, input, options, false, resume, cancelSubmitWaiter, submitterSpan(self))
    self.waiters.push(waiter)
    return waiter
  })

/**
 * Waits for a job's outcome, resumed at the instant it settles (inline, not through a scheduled wake-up).
 * Interrupting the waiting fiber does not cancel the job. One fiber at most may join a job.
 */
export const join = <A, E>(job: Job<any, A, E>): Effect.Effect<A, E | PoolError> =>
  Effect.callback<A, E | PoolError>((resume) => {
    if (job.exit !== undefined) return resume(job.exit)
    job.onSettled = resume
    return Effect.sync(() => {
      if (job.onSettled === resume) job.onSettled = undefined
    })
  })

/**
 * Cancels jobs at once: first every one that has not started (none of them can start after), then the running
 * ones. Returns once all have settled.
 */
export const cancelAll = (
  self: PoolState<any, any, any>,
  jobs: ReadonlyArray<Job<any, any, any>>
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    cancelAllUnsafe(self, jobs, fiber.id)
    return Effect.forEach(jobs, awaitSettled, { discard: true })
  })

/**
 * Ends the jobs a group or a stream leaves behind, and waits for them: in a pool that is shutting down, the shutdown
 * settles them itself (and returns the queued ones' inputs), so they are left to it; otherwise (the pool open or
 * draining) they are cancelled.
 */
export const endAll = (
  self: PoolState<any, any, any>,
  jobs: ReadonlyArray<Job<any, any, any>>
): Effect.Effect<void> =>
  isStopping(self) ? Effect.forEach(jobs, awaitSettled, { discard: true }) : cancelAll(self, jobs)

/**
 * Cancels jobs at once, on behalf of fiber `by`, without waiting: the queued ones settle now, the running ones once
 * their handlers have unwound.
 */
export const cancelAllUnsafe = (
  self: PoolState<any, any, any>,
  jobs: ReadonlyArray<Job<any, any, any>>,
  by: number
): void => {
  for (const job of jobs) if (job.phase !== "Running") cancel(self, job, by)
  for (const job of jobs) if (job.phase === "Running") stopJob(self, job, { _tag: "Cancelled", by })
}

export const stats = (self: PoolState<any, any, any>): Effect.Effect<Stats> => Effect.sync(() => snapshot(self))

/**
 * What an `execute` caller interrupted while its job is in the pool runs: it cancels the job and waits for it to
 * settle. One object per call, which is its own effect, so that a call allocates no closure for it.
 */
class CancelOnInterrupt extends Effectable.Class<void> {
  readonly self: PoolState<any, any, any>
  readonly job: Job<any, any, any>

  constructor(self: PoolState<any, any, any>, job: Job<any, any, any>) {
    super()
    this.self = self
    this.job = job
  }

  asEffect(): Effect.Effect<void> {
    return cancelAndAwait(this.self, this.job, Fiber.getCurrent()?.id ?? -1)
  }
}
