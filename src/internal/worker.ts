/**
 * The workers: one fiber per slot, running jobs one after the other, and the pool's sizing around them.
 *
 * No fiber, semaphore or queue wake-up per job: a submitter hands its job straight to an idle worker (resuming it
 * inline), and a busy worker takes its next job synchronously as it ends one. The handler runs in the worker fiber
 * itself. A job that is stopped (timed out, cancelled, shut down) is stopped by interrupting its worker, which
 * settles the job once the handler's finalizers have run and is then replaced by a fresh fiber in the same slot. A
 * worker that ends any other way (a value that is not an effect, deep in a handler, ends a fiber at once) is seen
 * by its observer: its job settles with that defect and a fresh fiber takes the slot.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { type Ending, infoOf, type Job, noTimeout } from "./job.ts"
import { passKey } from "./queue.ts"
import { NoRetry, predicateFor, retryInput, scheduleRetry } from "./retry.ts"
import { settleRan, signalIfIdle } from "./settle.ts"
import { currentTime, elapsed, keepsWorkers, mayStart, type PoolState, type Slot, stampOf } from "./state.ts"
import { admitWaiters } from "./submit.ts"
import { arm, wakeBy } from "./timers.ts"

const NoJob: unique symbol = Symbol.for("effect-worker-pool/NoJob")
const noJob = Exit.succeed(NoJob)

// -----------------------------------------------------------------------------
// the worker loop
// -----------------------------------------------------------------------------

/**
 * A worker's fiber. `step` is built once per worker: it takes the next job and runs its handler inside an `exit`
 * frame, so that a job is begun only once that frame is in place. The fiber is uninterruptible except while it
 * takes a job and runs its handler, or waits idle: an interruption of the worker (a timeout, a cancellation, a
 * shutdown) interrupts the handler and then reaches `attemptEnded`, which runs uninterruptibly (an interrupted
 * fiber skips recovery frames while interruptible); one that arrives during bookkeeping takes effect as the next
 * handler starts.
 */
const worker = <I, A, E>(self: PoolState<I, A, E>, slot: Slot): Effect.Effect<void, never, any> => {
  const take: Effect.Effect<A | typeof NoJob, E, any> = Effect.interruptible(
    Effect.suspend((): Effect.Effect<A | typeof NoJob, E, any> => {
      const job = (slot.job as Job<I, A, E> | undefined) ?? takeNext(self, slot)
      if (job === undefined) return noJob
      const effect = self.run(job.input, self.wantsInfo ? infoOf(job, self.name, startedAt(self, job)) : undefined!)
      if (!Effect.isEffect(effect)) return Effect.die(notAnEffect(self, effect))
      return job.rare === undefined || job.rare.parent === undefined ? effect : traced(self, job, effect)
    })
  )
  // `Effect.exit` hands on the handler's own exit, which settles the job as it is.
  const afterTake = (exit: Exit.Exit<A | typeof NoJob, E>): Effect.Effect<void, never, any> => {
    const job = slot.job as Job<I, A, E> | undefined
    if (job !== undefined) {
      const ended = exit as Exit.Exit<A, E>
      const predicate = predicateFor(self, job, ended)
      if (predicate === undefined) {
        return attemptEnded(self, slot, job, ended, retryInput(self, job, ended, true), false) ? step : Effect.void
      }
      // The policy's predicate is the user's code: it runs as an effect, and a throw is the job's defect.
      const error = Cause.findErrorOption((ended as Exit.Failure<A, E>).cause)
      return Effect.flatMap(
        Effect.exit(Effect.sync(() => predicate(error._tag === "Some" ? error.value : undefined))),
        (verdict) => {
          const again = Exit.isFailure(verdict)
            ? attemptEnded(self, slot, job, Exit.failCause(verdict.cause), NoRetry, false)
            : attemptEnded(self, slot, job, ended, retryInput(self, job, ended, verdict.value === true), false)
          return again ? step : Effect.void
        }
      )
    }
    if (Exit.isFailure(exit)) return Effect.failCause(exit.cause as Cause.Cause<never>)
    if (!keepsWorkers(self)) return Effect.void
    if (self.workers > self.maxWorkers) {
      releaseSlot(self, slot)
      return Effect.void
    }
    return idleThenStep
  }
  const take1: Effect.Effect<void, never, any> = Effect.flatMap(Effect.exit(take), afterTake)
  // A slot may be out of service for a while (a thread pool's slot whose thread is being replaced): its worker
  // waits, taking no job, until the slot's gate opens.
  const gate = self.slotGate
  const step: Effect.Effect<void, never, any> = gate === undefined ? take1 : Effect.suspend(() => {
    const closed = slot.live ? gate(slot.index) : undefined
    return closed === undefined ? take1 : Effect.andThen(Effect.interruptible(closed), take1)
  })
  const stopWaiting = Effect.sync(() => leaveIdle(self, slot))
  const waitForJob = Effect.interruptible(Effect.callback<void>((resume) => {
    slot.wake = resume
    self.idle.push(slot)
    if (self.workers > self.minWorkers) {
      arm(self, self.idleDeadlines, slot, self.clock.currentTimeMillisUnsafe() + self.idleTimeout)
    }
    return stopWaiting
  }))
  const idleThenStep = Effect.andThen(waitForJob, step)
  return Effect.withFiber((fiber) => {
    // The fiber records itself before it can take a job: a job it starts inline may be stopped at once.
    slot.fiber = fiber
    return step
  })
}

/** The clock's reading as a running job's attempt started, from its stamp. */
const startedAt = (self: PoolState<any, any, any>, job: Job<any, any, any>): number => {
  const now = currentTime(self)
  return now - elapsed(job.startedAt, stampOf(self, now))
}

const notAnEffect = (self: PoolState<any, any, any>, value: unknown): TypeError =>
  new TypeError(`The handler of pool "${self.name}" returned ${describe(value)}, not an Effect`)

const describe = (value: unknown): string =>
  value === null || value === undefined
    ? String(value)
    : typeof (value as PromiseLike<unknown>).then === "function"
    ? "a Promise"
    : `a value of type ${typeof value}`

/**
 * Runs a job's attempt in a span that continues its submitter's trace, named `WorkerPool.job`, with the pool, the
 * job and, once it ends, the attempt's outcome as attributes.
 */
const traced = <I, A, E>(
  self: PoolState<I, A, E>,
  job: Job<I, A, E>,
  effect: Effect.Effect<A, E, any>
): Effect.Effect<A, E, any> =>
  Effect.withSpan(
    Effect.onExit(effect, (exit) => Effect.annotateCurrentSpan("worker_pool.job.outcome", attemptOutcome(job, exit))),
    "WorkerPool.job",
    {
      parent: job.rare!.parent!,
      // the span is the pool's, not a place in the user's code: no stack trace to capture
      captureStackTrace: false,
      attributes: {
        "worker_pool.name": self.name,
        "worker_pool.job.id": job.id,
        "worker_pool.job.attempt": job.attempt,
        "worker_pool.job.wait_ms": elapsed(job.queuedAt, job.startedAt),
        "worker_pool.worker": job.worker
      }
    }
  )

/** How an attempt ended, as its span records it. */
const attemptOutcome = (job: Job<any, any, any>, exit: Exit.Exit<unknown, unknown>): string => {
  const ending = job.ending
  if (ending !== undefined) {
    return ending._tag === "TimedOut" ? "timed_out" : ending._tag === "Cancelled" ? "cancelled" : "shutdown"
  }
  if (Exit.isSuccess(exit)) return "succeeded"
  if (Cause.hasFails(exit.cause)) return "failed"
  return Cause.hasDies(exit.cause) ? "defect" : "cancelled"
}

// -----------------------------------------------------------------------------
// starting and ending attempts
// -----------------------------------------------------------------------------

/** Takes the next ready job for the worker of `slot` and begins it, if a job may start now. */
const takeNext = <I, A, E>(self: PoolState<I, A, E>, slot: Slot): Job<I, A, E> | undefined => {
  if (self.ready.size === 0 || !mayStart(self)) return undefined
  if (self.rateLimit !== undefined && !rateAllows(self)) return undefined
  const job = self.ready.take()!
  self.counters.queued--
  begin(self, job, slot)
  admitWaiters(self)
  return job
}

const begin = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>, slot: Slot): void => {
  const counters = self.counters
  job.phase = "Running"
  job.worker = slot.index
  const now = currentTime(self)
  job.startedAt = stampOf(self, now)
  slot.job = job
  counters.running++
  counters.started++
  counters.waitTimes.record(elapsed(job.queuedAt, job.startedAt))
  if (self.rateLimit !== undefined) self.rateLimit.record(now)
  if (job.timeoutMillis !== noTimeout) arm(self, self.timeouts, job, now + job.timeoutMillis)
}

/**
 * The bookkeeping of an attempt that ended on the worker of `slot`: its timings, then its retry (when `retryWith`
 * is not `NoRetry`) or its outcome. Returns whether the worker goes on: it does not when the attempt was stopped
 * (the worker was interrupted, and a fresh fiber takes the slot), when the worker was lost (`lost`: its fiber ended
 * abruptly), or when the pool has more workers than it may have now.
 */
const attemptEnded = <I, A, E>(
  self: PoolState<I, A, E>,
  slot: Slot,
  job: Job<I, A, E>,
  exit: Exit.Exit<A, E>,
  retryWith: unknown,
  lost: boolean
): boolean => {
  const counters = self.counters
  slot.job = undefined
  if (job.heapIndex >= 0) self.timeouts.remove(job)
  counters.running--
  counters.completed++
  // One reading of the clock serves this whole section: the attempt's end, the start of the next job this worker
  // takes, and the submissions of callers resumed inline (see `PoolState.now`).
  const now = self.clock.currentTimeMillisUnsafe()
  self.now = now
  const outer = self.nowFresh
  self.nowFresh = true
  const ran = elapsed(job.startedAt, stampOf(self, now))
  counters.totalDurationMillis += ran
  counters.runTimes.record(ran)
  const replace = lost || job.ending !== undefined
  let goOn = !replace
  let promoted = false
  if (retryWith !== NoRetry) {
    scheduleRetry(self, job, retryWith, exit)
  } else if (job.rare !== undefined) {
    // the key passes on first, so that its next job may start in this very slot if its turn has come
    promoted = passKey(self, job)
  }
  if (goOn) {
    // Take the next job before the submitter hears back, so that a submitter that loops finds room in the queue.
    // The job is begun now and its handler starts when `step` runs again. Under a rate limit the worker takes its
    // next job only as it is about to run it, so that the start the limit counts is the handler's.
    if (self.workers > self.maxWorkers) {
      releaseSlot(self, slot)
      goOn = false
    } else if (self.rateLimit === undefined && !gateClosed(self, slot)) {
      takeNext(self, slot)
    }
  }
  if (retryWith === NoRetry) settleRan(self, job, exit)
  if (promoted) dispatch(self)
  signalIfIdle(self)
  if (replace) {
    if (slot.live && keepsWorkers(self) && self.workers <= self.maxWorkers) spawn(self, slot)
    else releaseSlot(self, slot)
  }
  self.nowFresh = outer
  return goOn
}

/**
 * Whether the slot is out of service (its thread is being replaced): its worker then takes its next job only once
 * the gate opens, so that the job's run time and timeout start with its handler, not with the thread's start.
 */
const gateClosed = (self: PoolState<any, any, any>, slot: Slot): boolean =>
  self.slotGate !== undefined && slot.live && self.slotGate(slot.index) !== undefined

/**
 * Stops a running job: its worker is interrupted, and settles the job with `ending`'s outcome once the handler's
 * finalizers have run. The first ending wins.
 */
export const stopJob = (self: PoolState<any, any, any>, job: Job<any, any, any>, ending: Ending): void => {
  if (job.ending !== undefined) return
  job.ending = ending
  self.slots[job.worker - 1].fiber?.interruptUnsafe(ending._tag === "TimedOut" ? undefined : ending.by)
}

// -----------------------------------------------------------------------------
// slots and sizing
// -----------------------------------------------------------------------------

/** Starts a worker fiber in `slot` (a new slot, or the slot of a worker that is being replaced). */
const spawn = (self: PoolState<any, any, any>, slot: Slot): void => {
  const fiber = self.fork(worker(self, slot), { uninterruptible: true })
  fiber.addObserver((exit) => workerEnded(self, slot, fiber, exit))
}

/**
 * A worker fiber ended. When it was still its slot's worker, it ended unexpectedly: a value that is not an effect,
 * deep in a handler, ends a fiber at once, skipping its frames. Its job settles with that defect, and a fresh fiber
 * takes the slot.
 */
const workerEnded = (
  self: PoolState<any, any, any>,
  slot: Slot,
  fiber: Fiber.Fiber<unknown, unknown>,
  exit: Exit.Exit<unknown, unknown>
): void => {
  if (slot.fiber !== fiber) return
  slot.fiber = undefined
  const job = slot.job
  if (job !== undefined) {
    const died = Exit.isFailure(exit) ? exit : Exit.die(new Error(`A worker of pool "${self.name}" ended`))
    attemptEnded(self, slot, job, died, NoRetry, true)
    return
  }
  if (slot.live && keepsWorkers(self) && self.workers <= self.maxWorkers) spawn(self, slot)
  else releaseSlot(self, slot)
}

/** Starts one more worker, in the lowest free slot. */
const addWorker = (self: PoolState<any, any, any>): void => {
  let slot = self.free.pop()
  if (slot === undefined) {
    slot = newSlot(self.slots.length + 1)
    self.slots.push(slot)
  }
  slot.live = true
  self.workers++
  spawn(self, slot)
}

export const newSlot = (index: number): Slot => ({
  index,
  live: false,
  fiber: undefined,
  job: undefined,
  wake: undefined,
  deadline: 0,
  heapIndex: -1,
  heapSeq: 0
})

/** Starts the first `minWorkers` workers, the last slot first, so that worker 1 takes the first job. */
export const startWorkers = (self: PoolState<any, any, any>): void => {
  for (let i = 1; i <= self.minWorkers; i++) self.slots.push(newSlot(i))
  for (let i = self.slots.length - 1; i >= 0; i--) {
    self.slots[i].live = true
    self.workers++
    spawn(self, self.slots[i])
  }
}

/** Gives up a worker's slot; its fiber ends (or, when idle, is interrupted). Releasing a slot twice does nothing. */
export const releaseSlot = (self: PoolState<any, any, any>, slot: Slot): void => {
  if (!slot.live) return
  slot.live = false
  self.workers--
  leaveIdle(self, slot)
  const fiber = slot.fiber
  slot.fiber = undefined
  self.free.push(slot)
  self.free.sort((a, b) => b.index - a.index)
  if (fiber !== undefined && fiber !== Fiber.getCurrent()) fiber.interruptUnsafe()
  self.slotReleased?.(slot.index)
}

const leaveIdle = (self: PoolState<any, any, any>, slot: Slot): void => {
  if (slot.heapIndex >= 0) self.idleDeadlines.remove(slot)
  if (slot.wake === undefined) return
  slot.wake = undefined
  const idle = self.idle
  // idle workers are taken off the top of the stack, the usual case
  if (idle[idle.length - 1] === slot) {
    idle.pop()
    return
  }
  const i = idle.lastIndexOf(slot)
  if (i >= 0) idle.splice(i, 1)
}

/** Wakes the idle worker on top of the stack, which takes the next ready job at once (inline). */
const wakeTop = (self: PoolState<any, any, any>): void => {
  const slot = self.idle[self.idle.length - 1]
  const wake = slot.wake!
  leaveIdle(self, slot)
  wake(Exit.void)
}

/** Gets ready jobs started: wakes idle workers, then adds workers up to the maximum. */
export const dispatch = (self: PoolState<any, any, any>): void => {
  while (self.ready.size > 0 && mayStart(self)) {
    if (self.rateLimit !== undefined && !rateAllows(self)) return
    if (self.idle.length > 0) wakeTop(self)
    else if (self.workers < self.maxWorkers) addWorker(self)
    else return
  }
}

/** Whether the rate limit lets a job start now; if not, the timer wakes the pool when it will. */
const rateAllows = (self: PoolState<any, any, any>): boolean => {
  const opensAt = self.rateLimit!.opensAt()
  if (opensAt <= self.clock.currentTimeMillisUnsafe()) return true
  if (opensAt < self.rateWakeAt) {
    self.rateWakeAt = opensAt
    wakeBy(self, opensAt)
  }
  return false
}

/** Brings the workers within `minWorkers` and `maxWorkers` after the bounds changed. */
export const rebalance = (self: PoolState<any, any, any>): void => {
  while (self.workers > self.maxWorkers && self.idle.length > 0) releaseSlot(self, self.idle[0])
  while (self.workers < self.minWorkers && keepsWorkers(self)) addWorker(self)
  dispatch(self)
  if (self.workers > self.minWorkers) {
    const now = self.clock.currentTimeMillisUnsafe()
    for (const slot of self.idle) if (slot.heapIndex < 0) arm(self, self.idleDeadlines, slot, now + self.idleTimeout)
  }
}

/** Marks every slot released, once the pool has closed: the workers' fibers are interrupted with the pool's set. */
export const releaseAll = (self: PoolState<any, any, any>): void => {
  for (const slot of self.slots) {
    if (slot.live) self.slotReleased?.(slot.index)
    slot.live = false
    slot.fiber = undefined
    slot.wake = undefined
  }
  self.workers = 0
  self.idle.length = 0
}
