/**
 * The pool engine. One synchronous state machine owns the backlog, the submitters waiting for room, the idle
 * workers and the counters; fibers only ever touch it from synchronous sections, so every transition is atomic.
 *
 * Per-job path (see docs on performance): no fiber, semaphore or queue wake-up per job. A submitter hands its job
 * straight to an idle worker (resuming it inline) or appends it to the backlog; a busy worker takes the next job
 * synchronously when it finishes one. The handler runs in the worker fiber itself. Cancelling or timing out a
 * running job interrupts that worker, which settles the job once its finalizers have run and is then replaced by
 * a fresh fiber in the same slot. Timeouts share one timer fiber that sleeps until the earliest deadline.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as MutableList from "effect/MutableList"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import type * as Tracer from "effect/Tracer"
import {
  type InvalidJobOptions,
  InvalidPoolOptions,
  JobDropped,
  JobTimeout,
  PoolShutdown,
  QueueFull,
  type SubmitError
} from "../WorkerPoolError.ts"
import { DeadlineHeap, RankHeap, type Timed } from "./heap.ts"
import { Durations, type Summary } from "./histogram.ts"
import { register } from "./metrics.ts"
import {
  checkJobOptions,
  durationMillis,
  type ElasticConcurrency,
  resolveConcurrency,
  type ResolvedRetry,
  type ResolvedSettings,
  resolveRetry,
  type Retry
} from "./options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/** @internal */
export interface JobOptions {
  readonly id?: string | undefined
  readonly timeout?: Duration.Input | undefined
  readonly priority?: number | undefined
  readonly key?: string | undefined
  readonly retry?: Retry<any> | false | undefined
}

/** @internal */
export type Lifecycle = "open" | "draining" | "stopping" | "closed"

/** @internal */
export interface Stats {
  readonly name: string
  readonly state: Lifecycle
  readonly concurrency: number
  readonly minWorkers: number
  readonly maxWorkers: number
  readonly capacity: number
  readonly workers: number
  readonly idleWorkers: number
  readonly paused: boolean
  readonly submitted: number
  readonly succeeded: number
  readonly failed: number
  readonly defects: number
  readonly timedOut: number
  readonly cancelled: number
  readonly dropped: number
  readonly shutdown: number
  readonly rejected: number
  readonly started: number
  readonly retried: number
  readonly queued: number
  readonly retrying: number
  readonly running: number
  readonly waiting: number
  readonly completed: number
  readonly totalDurationMillis: number
  readonly averageDurationMillis: number
  readonly waitTime: Summary
  readonly runTime: Summary
}

/** in the backlog, ready to start */
const QUEUED = 0
const RUNNING = 1
const DONE = 2
/** queued behind the running (or ready) job of its key */
const KEYED = 3
/** between attempts: waiting for the retry schedule's delay */
const RETRYING = 4

const NoJob: unique symbol = Symbol.for("effect-worker-pool/NoJob")
const noJob = Exit.succeed(NoJob)
const NoRetry: unique symbol = Symbol.for("effect-worker-pool/NoRetry")

const NO_END = 0
const END_CANCELLED = 1
const END_TIMEOUT = 2
const END_SHUTDOWN = 3

/**
 * A job. It doubles as the `JobInfo` its handler receives (`id`, `attempt`, `worker`, `pool`), so starting a job
 * allocates nothing extra.
 *
 * @internal
 */
export class Job<I, A, E> {
  readonly seq: number
  readonly input: I
  readonly timeoutMillis: number
  readonly pool: string
  readonly customId: string | undefined
  /** what few jobs have (a priority, a key, a retry policy, a span to continue), kept apart to keep jobs small */
  extra: JobExtra | undefined
  /** order among queued jobs of equal priority: the submission order, renewed when a retry re-enters the queue */
  rank: number
  state: number = QUEUED
  endReason: number = NO_END
  endedBy: number = -1
  attempt: number = 1
  worker: number = 0
  /** when the job (or its retry) entered the queue */
  queuedAt: number = 0
  startedAt: number = 0
  slot: Slot | undefined = undefined
  exit: Exit.Exit<A, E | PoolErrorOfJob> | undefined = undefined
  /** the `execute` caller waiting for the result, if any */
  resume: ((exit: Exit.Exit<A, E | PoolErrorOfJob>) => void) | undefined = undefined
  deferred: Deferred.Deferred<A, E | PoolErrorOfJob> | undefined = undefined
  /** its timeout deadline while it runs, its next attempt's time while it waits to retry */
  deadline: number = 0
  /** position in the heap the job is in: the ordered backlog, the timeouts or the retries (one at a time) */
  heapIndex: number = -1
  heapSeq: number = 0

  constructor(
    seq: number,
    rank: number,
    input: I,
    timeoutMillis: number,
    pool: string,
    customId: string | undefined,
    extra: JobExtra | undefined
  ) {
    this.seq = seq
    this.input = input
    this.timeoutMillis = timeoutMillis
    this.pool = pool
    this.customId = customId
    this.extra = extra
    this.rank = rank
  }

  get priority(): number {
    return this.extra === undefined ? 0 : this.extra.priority
  }

  get key(): string | undefined {
    return this.extra === undefined ? undefined : this.extra.key
  }

  get id(): string {
    return this.customId ?? String(this.seq)
  }
}

type PoolErrorOfJob = JobTimeout | JobDropped | PoolShutdown

/** The part of a job that most jobs do not need. */
class JobExtra {
  readonly priority: number
  readonly key: string | undefined
  /** the job's own retry policy (`false`: none), or `undefined` for the pool's */
  readonly retry: Retry<any> | false | undefined
  /** the submitter's span, which the job's span continues */
  readonly parent: Tracer.AnySpan | undefined
  retryStep: ((now: number, input: unknown) => Pull.Pull<[unknown, Duration.Duration], never, unknown>) | undefined =
    undefined

  constructor(
    priority: number,
    key: string | undefined,
    retry: Retry<any> | false | undefined,
    parent: Tracer.AnySpan | undefined
  ) {
    this.priority = priority
    this.key = key
    this.retry = retry
    this.parent = parent
  }
}

/**
 * A worker slot: one of the places (numbered from 1) a worker fiber runs in. While its worker is idle above the
 * minimum, the slot waits in the idle-deadline heap.
 */
interface Slot extends Timed {
  readonly index: number
  fiber: Fiber.Fiber<void> | undefined
  job: Job<any, any, any> | undefined
  resume: ((exit: Exit.Exit<void>) => void) | undefined
}

const untimed = (): Timed => ({ deadline: 0, heapIndex: -1, heapSeq: 0 })

/**
 * The jobs of one key: the one that may run (`holder`; none while the lane waits to be reused for another key) and
 * the later ones, in submission order.
 */
interface KeyLane<J> {
  holder: J | undefined
  readonly waiting: MutableList.MutableList<J>
  /** jobs in `waiting` cancelled or dropped before their turn */
  tombstones: number
}

/** How many lanes of keys with no job left a pool keeps for reuse. */
const maxFreeLanes = 1024

/** Whether queued job `a` starts before `b`: higher priority first, then lower rank. */
const isBefore = (a: Job<any, any, any>, b: Job<any, any, any>): boolean =>
  a.priority > b.priority || (a.priority === b.priority && a.rank < b.rank)

/** The first job of `list` in `state`, without taking it. */
const firstIn = <J extends Job<any, any, any>>(list: MutableList.MutableList<J>, state: number): J | undefined => {
  for (let bucket = list.head; bucket !== undefined; bucket = bucket.next) {
    for (let i = bucket.offset; i < bucket.array.length; i++) {
      const job = bucket.array[i]
      if (job !== undefined && job.state === state) return job
    }
  }
  return undefined
}

/**
 * A submitter waiting for room in the queue (`overflow: "suspend"`): one object per waiting submitter, which is
 * also the effect its fiber runs if it is interrupted while waiting (`onCancel`), so that waiting allocates no
 * closures. `forExecute` tells an `execute` caller (resumed with the job's result) from a `submit` caller
 * (resumed with the job as soon as it is accepted).
 */
class Waiter<I> extends Effectable.Class<void> {
  readonly input: I
  readonly options: JobOptions | undefined
  readonly forExecute: boolean
  readonly resume: (exit: Exit.Exit<any, any>) => void
  readonly onCancel: (waiter: Waiter<I>) => Effect.Effect<void>
  readonly parent: Tracer.AnySpan | undefined
  job: Job<I, any, any> | undefined = undefined
  cancelled = false

  constructor(
    input: I,
    options: JobOptions | undefined,
    forExecute: boolean,
    resume: (exit: Exit.Exit<any, any>) => void,
    onCancel: (waiter: Waiter<I>) => Effect.Effect<void>,
    parent: Tracer.AnySpan | undefined
  ) {
    super()
    this.input = input
    this.options = options
    this.forExecute = forExecute
    this.resume = resume
    this.onCancel = onCancel
    this.parent = parent
  }

  asEffect(): Effect.Effect<void> {
    return this.onCancel(this)
  }
}

/**
 * What an `execute` caller interrupted while its job is in the pool runs: it cancels the job and waits for it to
 * settle. One object per call, which is its own effect, so that a call allocates no closure for it.
 */
class CancelOnInterrupt<I, A, E> extends Effectable.Class<void> {
  readonly job: Job<I, A, E>
  readonly cancel: (job: Job<I, A, E>, by: number) => Effect.Effect<void>

  constructor(job: Job<I, A, E>, cancel: (job: Job<I, A, E>, by: number) => Effect.Effect<void>) {
    super()
    this.job = job
    this.cancel = cancel
  }

  asEffect(): Effect.Effect<void> {
    return this.cancel(this.job, Fiber.getCurrent()?.id ?? -1)
  }
}

/** @internal */
export interface Core<I, A, E> {
  readonly name: string
  readonly execute: (input: I, options?: JobOptions) => Effect.Effect<A, E | PoolErrorOfJob | SubmitError>
  readonly submit: (input: I, options?: JobOptions) => Effect.Effect<Job<I, A, E>, SubmitError>
  readonly trySubmit: (input: I, options?: JobOptions) => Effect.Effect<Job<I, A, E>, SubmitError>
  readonly await: (job: Job<I, A, E>) => Effect.Effect<A, E | PoolErrorOfJob>
  readonly poll: (job: Job<I, A, E>) => Effect.Effect<Option.Option<Exit.Exit<A, E | PoolErrorOfJob>>>
  readonly interrupt: (job: Job<I, A, E>) => Effect.Effect<void>
  /**
   * Waits for a job's outcome, resumed at the instant it settles (inline, not through a scheduled wake-up).
   * Interrupting the waiting fiber does not cancel the job. One fiber at most may join a job.
   */
  readonly join: (job: Job<I, A, E>) => Effect.Effect<A, E | PoolErrorOfJob>
  /**
   * Cancels jobs at once: first every one that has not started (none of them can start after), then the running
   * ones. Returns once all have settled.
   */
  readonly cancelAll: (jobs: ReadonlyArray<Job<I, A, E>>) => Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
  readonly awaitIdle: Effect.Effect<void>
  readonly drain: Effect.Effect<void>
  readonly shutdown: Effect.Effect<Array<I>>
  readonly resize: (concurrency: number | ElasticConcurrency) => Effect.Effect<void, InvalidPoolOptions>
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
}

// -----------------------------------------------------------------------------
// constructor
// -----------------------------------------------------------------------------

/**
 * Builds the engine in the current scope. `run` turns a job into the effect its worker runs; it is called on
 * the worker fiber, whose services are those of the fiber that called `make`.
 *
 * @internal
 */
export const make = <I, A, E, R>(
  settings: ResolvedSettings,
  run: (input: I, job: Job<I, A, E>) => Effect.Effect<A, E, R>
): Effect.Effect<Core<I, A, E>, never, R | import("effect/Scope").Scope> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const fibers = yield* FiberSet.make<void>()
    const fork = yield* FiberSet.runtime(fibers)<R>()
    const { capacity, name, overflow } = settings
    let minWorkers = settings.minWorkers
    let maxWorkers = settings.maxWorkers
    let idleTimeout = settings.idleTimeout
    let paused = false

    // ---- state -----------------------------------------------------------------
    let lifecycle: Lifecycle = "open"
    let seq = 0 // numbers jobs (their default id)
    let ranks = 0 // orders queued jobs of equal priority
    // Jobs ready to start live in two places. `backlog` holds, in submission order, the common case: priority 0,
    // no key, first attempt; appending and taking are O(1), and a job cancelled there stays as a tombstone until
    // it reaches the head. `ordered` holds every other ready job, highest priority first, then by rank. The next
    // job is the better of the two heads.
    const backlog = MutableList.make<Job<I, A, E>>()
    let tombstones = 0
    const ordered = new RankHeap<Job<I, A, E>>()
    // Per-key ordering: a key's `holder` is its one job that is ready, running or waiting to retry; the key's later
    // jobs wait in `waiting` (submission order) and are not ready until the key passes to them.
    const keys = new Map<string, KeyLane<Job<I, A, E>>>()
    // Lanes of keys that have no job left, kept for the next keys: most keys hold one job at a time, and opening a
    // lane then allocates nothing.
    const freeLanes: Array<KeyLane<Job<I, A, E>>> = []
    const retries = new DeadlineHeap<Job<I, A, E>>() // jobs waiting for their next attempt
    const poolRetry = settings.retry === undefined ? undefined : resolveRetry(settings.retry)
    const waiters = MutableList.make<Waiter<I>>()
    let waiting = 0
    let waiterTombstones = 0
    const idle: Array<Slot> = []
    const slots: Array<Slot> = []
    const free: Array<Slot> = [] // released slots, lowest index last
    let workers = 0
    let idleSignal: Deferred.Deferred<void> | undefined

    let submitted = 0
    let succeeded = 0
    let failed = 0
    let defects = 0
    let timedOut = 0
    let cancelled = 0
    let dropped = 0
    let shutdownCount = 0
    let rejected = 0
    let started = 0
    let retried = 0
    let queued = 0 // accepted, not started: ready, waiting for a key, or waiting to retry
    let ready = 0 // of which ready to start (in `backlog` or `ordered`)
    let retrying = 0 // of which waiting to retry
    let running = 0
    let completed = 0
    let totalDuration = 0
    const waitTimes = new Durations()
    const runTimes = new Durations()

    // Rate limit (sliding log): `starts` holds the times of the last `limit` starts, oldest at `startsHead`. A job
    // may start when the oldest of them is `intervalMillis` old, so no window of that length holds more.
    const rate = settings.rateLimit
    const starts = rate === undefined ? undefined : new Array<number>(rate.limit).fill(-Infinity)
    let startsHead = 0
    let rateWakeAt = Infinity

    // The clock, read once per synchronous section where it can be: `finish` reads it, and until it returns, the
    // times it records (the next job's start, the submissions of the callers it resumes inline) share that reading,
    // taken microseconds before. Reading the clock costs as much as a fifth of a job's bookkeeping.
    let now = 0
    let nowFresh = false
    const currentTime = (): number => nowFresh ? now : clock.currentTimeMillisUnsafe()

    const shutdownError = (jobId?: string) =>
      new PoolShutdown(jobId === undefined ? { pool: name } : { pool: name, jobId })

    // ---- settling ----------------------------------------------------------------

    const settle = (job: Job<I, A, E>, exit: Exit.Exit<A, E | PoolErrorOfJob>): void => {
      job.state = DONE
      job.exit = exit
      job.slot = undefined
      if (job.extra !== undefined && job.extra.key !== undefined && passKey(job)) dispatch()
      if (job.deferred !== undefined) Deferred.doneUnsafe(job.deferred, exit)
      const resume = job.resume
      if (resume !== undefined) {
        job.resume = undefined
        resume(exit)
      }
    }

    const checkIdle = (): void => {
      if (queued === 0 && running === 0 && idleSignal !== undefined) {
        const signal = idleSignal
        idleSignal = undefined
        Deferred.doneUnsafe(signal, Exit.void)
      }
    }

    // ---- the queue -----------------------------------------------------------------

    /** A new accepted job. `parent` is the submitter's span, when job spans are on. */
    const newJob = (input: I, options: JobOptions | undefined, parent: Tracer.AnySpan | undefined): Job<I, A, E> => {
      submitted++
      const job = options === undefined
        ? new Job<I, A, E>(
          ++seq,
          ++ranks,
          input,
          settings.timeout,
          name,
          undefined,
          parent === undefined ? undefined : new JobExtra(0, undefined, undefined, parent)
        )
        : new Job<I, A, E>(
          ++seq,
          ++ranks,
          input,
          options.timeout === undefined ? settings.timeout : durationMillis(options.timeout)!,
          name,
          options.id,
          options.priority === undefined && options.key === undefined && options.retry === undefined &&
            parent === undefined
            ? undefined
            : new JobExtra(options.priority ?? 0, options.key, options.retry, parent)
        )
      job.queuedAt = currentTime()
      return job
    }

    /** The span of the submitting fiber, which a job's span continues. */
    const submitterSpan = (): Tracer.AnySpan | undefined =>
      settings.tracing ? Fiber.getCurrent()?.cache.span : undefined

    /**
     * Places an accepted job in the queue and gets it started: an idle worker, if any, takes it at once (inline);
     * otherwise a new worker is added if the pool may grow. Nothing starts while the pool is paused.
     */
    const place = (job: Job<I, A, E>): void => {
      queued++
      enqueue(job)
      dispatch()
    }

    /** Makes a queued job ready, unless its key belongs to another job: then it waits for the key. */
    const enqueue = (job: Job<I, A, E>): void => {
      const extra = job.extra
      if (extra !== undefined && extra.key !== undefined) {
        const lane = keys.get(extra.key)
        if (lane === undefined) {
          const free = freeLanes.pop()
          if (free === undefined) {
            keys.set(extra.key, { holder: job, waiting: MutableList.make(), tombstones: 0 })
          } else {
            free.holder = job
            keys.set(extra.key, free)
          }
        } else if (lane.holder !== job) {
          job.state = KEYED
          MutableList.append(lane.waiting, job)
          return
        }
      }
      job.state = QUEUED
      ready++
      // The backlog holds jobs in rank order: a job of priority 0 joins it only when its rank is the newest, as at
      // its submission (a keyed job that waited for its key has an older one). Jobs that already ran (retries) stay
      // out of it, as `"sliding"` picks its victim among the jobs that have not.
      if ((extra === undefined || extra.priority === 0) && job.attempt === 1 && job.rank === ranks) {
        MutableList.append(backlog, job)
      } else ordered.push(job)
    }

    /**
     * Hands the key of a job that is done with it (settled, or about to) to the key's next waiting job, which
     * becomes ready. Returns true when a job became ready.
     */
    const passKey = (job: Job<I, A, E>): boolean => {
      const lane = keys.get(job.key!)
      if (lane === undefined || lane.holder !== job) return false
      while (lane.waiting.length > 0) {
        const next = MutableList.take(lane.waiting) as Job<I, A, E>
        if (next.state !== KEYED) {
          lane.tombstones--
          continue
        }
        lane.holder = next
        enqueue(next)
        return true
      }
      keys.delete(job.key!)
      if (freeLanes.length < maxFreeLanes) {
        lane.holder = undefined
        lane.tombstones = 0
        freeLanes.push(lane)
      }
      return false
    }

    const hasRoom = (): boolean => queued < capacity && waiting === 0

    /** Takes the next ready job: the higher priority first, then the lower rank. */
    const takeReady = (): Job<I, A, E> | undefined => {
      if (ready === 0) return undefined
      let head: Job<I, A, E> | undefined
      while (backlog.length > 0) {
        head = backlog.head!.array[backlog.head!.offset]
        if (head.state === QUEUED) break
        MutableList.take(backlog)
        tombstones--
        head = undefined
      }
      const top = ordered.peek()
      let job: Job<I, A, E>
      if (top !== undefined && (head === undefined || isBefore(top, head))) {
        ordered.remove(top)
        job = top
      } else {
        MutableList.take(backlog)
        job = head!
      }
      ready--
      queued--
      return job
    }

    /** Takes a job that has not started out of wherever it waits; it is about to settle. */
    const unqueue = (job: Job<I, A, E>): void => {
      queued--
      if (job.state === QUEUED) {
        ready--
        if (job.heapIndex >= 0) {
          ordered.remove(job)
        } else if (++tombstones > 1024 && tombstones > ready) {
          MutableList.filter(backlog, (j) => j.state === QUEUED && j !== job)
          tombstones = 0
        }
      } else if (job.state === RETRYING) {
        retrying--
        if (job.heapIndex >= 0) retries.remove(job)
      } else if (job.state === KEYED) {
        const lane = keys.get(job.key!)!
        if (++lane.tombstones > 1024 && lane.tombstones * 2 > lane.waiting.length) {
          MutableList.filter(lane.waiting, (j) => j.state === KEYED && j !== job)
          lane.tombstones = 0
        }
      }
    }

    /** The job `"sliding"` drops: the oldest of the lowest priority among the jobs that have not run yet. */
    const slidingVictim = (): Job<I, A, E> | undefined => {
      let victim = firstIn(backlog, QUEUED)
      for (const job of ordered.values()) {
        if (job.attempt === 1 && (victim === undefined || isBefore(victim, job))) victim = job
      }
      for (const lane of keys.values()) {
        const job = firstIn(lane.waiting, KEYED)
        if (job !== undefined && (victim === undefined || isBefore(victim, job))) victim = job
      }
      return victim
    }

    /** Admits waiting submitters, in arrival order, while there is room. */
    const admitWaiters = (): void => {
      while (waiting > 0 && queued < capacity && lifecycle === "open") {
        const waiter = MutableList.take(waiters) as Waiter<I>
        if (waiter.cancelled) {
          waiterTombstones--
          continue
        }
        waiting--
        const job = newJob(waiter.input, waiter.options, waiter.parent)
        waiter.job = job
        if (waiter.forExecute) {
          job.resume = waiter.resume
          place(job)
        } else {
          place(job)
          waiter.resume(Exit.succeed(job))
        }
      }
    }

    const rejectWaiters = (): void => {
      while (waiters.length > 0) {
        const waiter = MutableList.take(waiters) as Waiter<I>
        if (waiter.cancelled) continue
        rejected++
        waiter.resume(Exit.fail(shutdownError(waiter.options?.id)))
      }
      waiting = 0
      waiterTombstones = 0
    }

    const drop = (job: Job<I, A, E>, strategy: "dropping" | "sliding"): void => {
      dropped++
      settle(job, Exit.fail(new JobDropped({ pool: name, jobId: job.id, overflow: strategy })))
    }

    /**
     * The synchronous part of every submission. An `execute` caller passes its `resume`, registered on the job
     * before the job is placed, since an idle worker may run the job inline.
     */
    const offer = (
      input: I,
      options: JobOptions | undefined,
      tryOnly: boolean,
      resume: Job<I, A, E>["resume"]
    ): Job<I, A, E> | SubmitError | undefined => {
      if (options !== undefined) {
        const invalid: InvalidJobOptions | undefined = checkJobOptions(options)
        if (invalid !== undefined) return invalid
      }
      if (lifecycle !== "open") {
        rejected++
        return shutdownError(options?.id)
      }
      if (hasRoom()) {
        const job = newJob(input, options, submitterSpan())
        job.resume = resume
        place(job)
        return job
      }
      if (tryOnly || overflow === "fail") {
        rejected++
        return new QueueFull({ pool: name, capacity })
      }
      if (overflow === "dropping") {
        const job = newJob(input, options, submitterSpan())
        job.resume = resume
        drop(job, "dropping")
        return job
      }
      if (overflow === "sliding") {
        const victim = slidingVictim()
        if (victim !== undefined) {
          unqueue(victim)
          drop(victim, "sliding")
        }
        const job = newJob(input, options, submitterSpan())
        job.resume = resume
        place(job)
        return job
      }
      return undefined // suspend: the caller waits for room
    }

    const enqueueWaiter = (waiter: Waiter<I>): void => {
      waiting++
      MutableList.append(waiters, waiter)
    }

    const cancelWaiter = (waiter: Waiter<I>): void => {
      if (waiter.cancelled || waiter.job !== undefined) return
      waiter.cancelled = true
      waiting--
      waiterTombstones++
      if (waiterTombstones > 1024 && waiterTombstones > waiting) {
        MutableList.filter(waiters, (w) => !w.cancelled)
        waiterTombstones = 0
      }
    }

    // ---- cancelling ----------------------------------------------------------------

    /** Cancels a job on behalf of fiber `by`. Returns true when the job still has to settle. */
    const cancel = (job: Job<I, A, E>, by: number): boolean => {
      if (job.state === RUNNING) {
        stop(job, END_CANCELLED, by)
        return true
      }
      if (job.state === DONE) return false
      unqueue(job)
      cancelled++
      settle(job, Exit.failCause(Cause.interrupt(by)))
      admitWaiters()
      checkIdle()
      return false
    }

    /** Ends a running job for `reason` by interrupting its worker; the worker settles it after its finalizers. */
    const stop = (job: Job<I, A, E>, reason: number, by: number): void => {
      if (job.endReason !== NO_END) return
      job.endReason = reason
      job.endedBy = by
      job.slot!.fiber!.interruptUnsafe(by)
    }

    const awaitSettled = (job: Job<I, A, E>): Effect.Effect<void> =>
      job.state === DONE ? Effect.void : Effect.asVoid(Effect.exit(Deferred.await(deferredOf(job))))

    const deferredOf = (job: Job<I, A, E>): Deferred.Deferred<A, E | PoolErrorOfJob> => {
      if (job.deferred === undefined) {
        job.deferred = Deferred.makeUnsafe()
        if (job.exit !== undefined) Deferred.doneUnsafe(job.deferred, job.exit)
      }
      return job.deferred
    }

    // ---- retrying ------------------------------------------------------------------

    /**
     * What the retry schedule of a job that just ended receives, or `NoRetry` when the ending is not retried: a
     * typed failure its policy's `while` accepts, a timeout or a defect when the policy asks for them; never a
     * cancellation or a shutdown.
     */
    const retryInput = (job: Job<I, A, E>, reason: number, exit: Exit.Exit<A, E>): unknown => {
      const own = job.extra === undefined ? undefined : job.extra.retry
      if (own === false || (own === undefined && poolRetry === undefined)) return NoRetry
      // (a pool that stops interrupts every running job: those end with END_SHUTDOWN, never retried)
      const policy = retryPolicyOf(job)
      if (reason === END_TIMEOUT) {
        return policy.timeouts
          ? new JobTimeout({ pool: name, jobId: job.id, timeoutMillis: job.timeoutMillis })
          : NoRetry
      }
      if (reason !== NO_END || Exit.isSuccess(exit)) return NoRetry
      const error = Cause.findErrorOption(exit.cause)
      if (Option.isSome(error)) {
        return policy.while === undefined || policy.while(error.value) ? error.value : NoRetry
      }
      if (!policy.defects) return NoRetry
      const defect = Cause.findDefect(exit.cause)
      return defect._tag === "Success" ? defect.success : NoRetry
    }

    const retryPolicyOf = (job: Job<I, A, E>): ResolvedRetry => {
      const own = job.extra?.retry
      return own === undefined || own === false ? poolRetry! : resolveRetry(own)
    }

    /**
     * Steps the job's retry schedule (in a fiber of its own: a schedule is an effect) and then either waits the
     * delay it gives before the job re-enters the queue, or settles the job with the outcome of its last attempt.
     * The job counts as queued meanwhile; it holds no worker, but keeps its key.
     */
    const scheduleRetry = (job: Job<I, A, E>, input: unknown, reason: number, exit: Exit.Exit<A, E>): void => {
      job.state = RETRYING
      queued++
      retrying++
      const extra = job.extra ??= new JobExtra(0, undefined, undefined, undefined)
      const step = extra.retryStep === undefined
        ? Effect.map(Schedule.toStep(retryPolicyOf(job).schedule), (step) => (extra.retryStep = step))
        : Effect.succeed(extra.retryStep)
      fork(Effect.flatMap(step, (step) =>
        Effect.map(
          Effect.exit(step(clock.currentTimeMillisUnsafe(), input)),
          (decision) => afterStep(job, reason, exit, decision)
        )))
    }

    const afterStep = (
      job: Job<I, A, E>,
      reason: number,
      exit: Exit.Exit<A, E>,
      decision: Exit.Exit<[unknown, Duration.Duration], unknown>
    ): void => {
      if (job.state !== RETRYING) return // cancelled meanwhile
      if (lifecycle === "stopping" || lifecycle === "closed") {
        unqueue(job)
        shutdownCount++
        settle(job, Exit.fail(shutdownError(job.id)))
      } else if (Exit.isSuccess(decision)) {
        retried++
        job.attempt++
        const delay = Duration.toMillis(decision.value[1])
        if (delay > 0) arm(retries, job, clock.currentTimeMillisUnsafe() + delay)
        else requeue(job)
        return
      } else {
        // the schedule is done (or died): the last attempt's outcome stands
        unqueue(job)
        conclude(job, reason, exit)
      }
      admitWaiters()
      checkIdle()
    }

    /** A job whose retry delay has passed re-enters the queue, behind the jobs already there. */
    const requeue = (job: Job<I, A, E>): void => {
      retrying--
      job.rank = ++ranks
      job.queuedAt = currentTime()
      enqueue(job)
      dispatch()
    }

    // ---- workers -----------------------------------------------------------------

    const begin = (job: Job<I, A, E>, slot: Slot): void => {
      job.state = RUNNING
      job.slot = slot
      job.worker = slot.index
      job.startedAt = currentTime()
      slot.job = job
      running++
      started++
      waitTimes.record(job.startedAt - job.queuedAt)
      if (starts !== undefined) {
        starts[startsHead] = job.startedAt
        startsHead = (startsHead + 1) % starts.length
      }
      if (job.timeoutMillis !== Infinity) arm(deadlines, job, job.startedAt + job.timeoutMillis)
    }

    /**
     * Ends a job its worker finished: settles it, or schedules its retry. Returns false when the worker ends: it was
     * interrupted (and is replaced by a fresh fiber in the same slot), or the pool has more workers than it may
     * have now.
     */
    const finish = (job: Job<I, A, E>, slot: Slot, exit: Exit.Exit<A, E>): boolean => {
      slot.job = undefined
      if (job.heapIndex >= 0) deadlines.remove(job)
      running--
      completed++
      // One reading of the clock serves the whole of this synchronous section: the job's end, the start of the next
      // job this worker takes, and the submissions of callers resumed inline (see `currentTime`).
      now = clock.currentTimeMillisUnsafe()
      const outer = nowFresh
      nowFresh = true
      const ran = now - job.startedAt
      totalDuration += ran
      runTimes.record(ran)
      const reason = job.endReason
      let keep = reason === NO_END
      const again = retryInput(job, reason, exit)
      let promoted = false
      if (again !== NoRetry) {
        job.endReason = NO_END
        job.slot = undefined
        scheduleRetry(job, again, reason, exit)
      } else if (job.key !== undefined) {
        // the key passes on first, so that its next job may start in this very slot if its turn has come
        promoted = passKey(job)
      }
      if (keep) {
        // Take the next job before the submitter hears back, so that a submitter that loops finds room in the
        // queue. The job is begun now and its handler starts when `step` runs again; a cancellation in between
        // takes effect as the handler starts (the worker is uninterruptible until then). Under a rate limit the
        // worker takes its next job only when it is about to run it, so that the start the limit counts is the
        // handler's.
        if (workers > maxWorkers) {
          release(slot)
          keep = false
        } else if (starts === undefined) {
          next(slot)
        }
      }
      if (again === NoRetry) conclude(job, reason, exit)
      if (promoted) dispatch()
      checkIdle()
      if (reason !== NO_END) {
        if ((lifecycle === "open" || lifecycle === "draining") && workers <= maxWorkers) spawn(slot)
        else release(slot)
      }
      nowFresh = outer
      return keep
    }

    /** How an attempt ended, as its span records it. */
    const attemptOutcome = (job: Job<I, A, E>, exit: Exit.Exit<A, E>): string => {
      if (job.endReason === END_TIMEOUT) return "timed_out"
      if (job.endReason === END_CANCELLED) return "cancelled"
      if (job.endReason === END_SHUTDOWN) return "shutdown"
      if (Exit.isSuccess(exit)) return "succeeded"
      if (Cause.hasFails(exit.cause)) return "failed"
      return Cause.hasDies(exit.cause) ? "defect" : "cancelled"
    }

    /** Counts a job's final outcome and settles it. */
    const conclude = (job: Job<I, A, E>, reason: number, exit: Exit.Exit<A, E>): void => {
      if (reason === NO_END) {
        if (Exit.isSuccess(exit)) succeeded++
        else if (Cause.hasFails(exit.cause)) failed++
        else if (Cause.hasDies(exit.cause)) defects++
        else cancelled++
        settle(job, exit)
      } else if (reason === END_TIMEOUT) {
        timedOut++
        settle(job, Exit.fail(new JobTimeout({ pool: name, jobId: job.id, timeoutMillis: job.timeoutMillis })))
      } else if (reason === END_SHUTDOWN) {
        shutdownCount++
        settle(job, Exit.fail(shutdownError(job.id)))
      } else {
        cancelled++
        settle(job, Exit.failCause(Cause.interrupt(job.endedBy)))
      }
    }

    const next = (slot: Slot): Job<I, A, E> | undefined => {
      if (ready === 0 || paused || lifecycle === "stopping" || lifecycle === "closed") return undefined
      if (starts !== undefined && !rateAllows()) return undefined
      const job = takeReady()!
      begin(job, slot)
      admitWaiters()
      return job
    }

    /** Whether the rate limit lets a job start now; if not, the timer wakes the pool when it will. */
    const rateAllows = (): boolean => {
      const opensAt = starts![startsHead] + rate!.intervalMillis
      if (opensAt <= clock.currentTimeMillisUnsafe()) return true
      if (opensAt < rateWakeAt) {
        rateWakeAt = opensAt
        armTimer(opensAt)
      }
      return false
    }

    /**
     * A worker: one fiber that runs jobs one after the other. `step` is built once per worker: it takes the next
     * job and runs its handler inside a `matchCauseEffect` frame, so a job is begun only once that frame is in
     * place. The fiber is uninterruptible except while it takes a job and runs its handler, or waits idle: an
     * interruption of the worker (cancel, timeout, shutdown) therefore interrupts the handler and then reaches
     * `finish`, which runs uninterruptibly (an interrupted fiber skips recovery frames while interruptible), and one
     * that arrives during bookkeeping takes effect when the next handler starts.
     */
    const worker = (slot: Slot): Effect.Effect<void, never, R> => {
      // Built once per worker, so that running a job allocates no wrapper around its handler.
      const take: Effect.Effect<A | typeof NoJob, E, R> = Effect.interruptible(
        Effect.suspend((): Effect.Effect<A | typeof NoJob, E, R> => {
          const job = slot.job ?? next(slot)
          if (job === undefined) return noJob
          const effect = run(job.input, job)
          return job.extra === undefined || job.extra.parent === undefined ? effect : traced(job, effect)
        })
      )
      // `Effect.exit` hands on the handler's own exit, which settles the job as it is.
      const afterTake = (exit: Exit.Exit<A | typeof NoJob, E>): Effect.Effect<void, never, R> => {
        const job = slot.job
        if (job !== undefined) return finish(job, slot, exit as Exit.Exit<A, E>) ? step : Effect.void
        if (Exit.isFailure(exit)) return Effect.failCause(exit.cause as Cause.Cause<never>)
        if (lifecycle === "stopping" || lifecycle === "closed") return Effect.void
        if (workers > maxWorkers) {
          release(slot)
          return Effect.void
        }
        return idleThenStep
      }
      const step: Effect.Effect<void, never, R> = Effect.flatMap(Effect.exit(take), afterTake)
      const stopWaiting = Effect.sync(() => leaveIdle(slot))
      const waitForJob = Effect.interruptible(Effect.callback<void>((resume) => {
        slot.resume = resume
        idle.push(slot)
        if (workers > minWorkers) arm(idleDeadlines, slot, clock.currentTimeMillisUnsafe() + idleTimeout)
        return stopWaiting
      }))
      const idleThenStep = Effect.andThen(waitForJob, step)
      return Effect.withFiber((fiber) => {
        // The fiber records itself before it can take a job: a job it starts inline may be stopped at once.
        slot.fiber = fiber as Fiber.Fiber<void>
        return step
      })
    }

    /**
     * Runs a job's attempt in a span that continues its submitter's trace, named `WorkerPool.job`, with the pool,
     * the job and, once it ends, the attempt's outcome as attributes.
     */
    const traced = (job: Job<I, A, E>, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.withSpan(
        Effect.onExit(
          effect,
          (exit) => Effect.annotateCurrentSpan("worker_pool.job.outcome", attemptOutcome(job, exit))
        ),
        "WorkerPool.job",
        {
          parent: job.extra!.parent!,
          // the span is the pool's, not a place in the user's code: no stack trace to capture
          captureStackTrace: false,
          attributes: {
            "worker_pool.name": name,
            "worker_pool.job.id": job.id,
            "worker_pool.job.attempt": job.attempt,
            "worker_pool.job.wait_ms": job.startedAt - job.queuedAt,
            "worker_pool.worker": job.worker
          }
        }
      ) as Effect.Effect<A, E, R>

    /** Starts a worker fiber in `slot` (a new slot, or the slot of a worker that was interrupted). */
    const spawn = (slot: Slot): void => {
      fork(worker(slot), { uninterruptible: true })
    }

    /** Starts one more worker, in the lowest free slot. */
    const addWorker = (): void => {
      let slot = free.pop()
      if (slot === undefined) {
        slot = { index: slots.length + 1, fiber: undefined, job: undefined, resume: undefined, ...untimed() }
        slots.push(slot)
      }
      workers++
      spawn(slot)
    }

    /** Gives up a worker's slot; its fiber ends (or, when idle, is interrupted). */
    const release = (slot: Slot): void => {
      workers--
      leaveIdle(slot)
      const fiber = slot.fiber
      slot.fiber = undefined
      free.push(slot)
      free.sort((a, b) => b.index - a.index)
      if (fiber !== undefined && fiber !== Fiber.getCurrent()) fiber.interruptUnsafe()
    }

    const leaveIdle = (slot: Slot): void => {
      if (slot.heapIndex >= 0) idleDeadlines.remove(slot)
      if (slot.resume === undefined) return
      slot.resume = undefined
      // idle workers are taken off the top of the stack, the usual case
      if (idle[idle.length - 1] === slot) {
        idle.pop()
        return
      }
      const i = idle.lastIndexOf(slot)
      if (i >= 0) idle.splice(i, 1)
    }

    /** Wakes the idle worker on top of the stack, which takes the head of the backlog at once (inline). */
    const wakeTop = (): void => {
      const slot = idle[idle.length - 1]
      const resume = slot.resume!
      leaveIdle(slot)
      resume(Exit.void)
    }

    /** Gets queued jobs started: wakes idle workers, then adds workers up to the maximum. */
    const dispatch = (): void => {
      while (ready > 0 && !paused && (lifecycle === "open" || lifecycle === "draining")) {
        if (starts !== undefined && !rateAllows()) return
        if (idle.length > 0) wakeTop()
        else if (workers < maxWorkers) addWorker()
        else return
      }
    }

    /** Brings the workers within `minWorkers` and `maxWorkers` after they changed. */
    const rebalance = (): void => {
      while (workers > maxWorkers && idle.length > 0) release(idle[0])
      while (workers < minWorkers && (lifecycle === "open" || lifecycle === "draining")) addWorker()
      dispatch()
      if (workers > minWorkers) {
        const now = clock.currentTimeMillisUnsafe()
        for (const slot of idle) if (slot.heapIndex < 0) arm(idleDeadlines, slot, now + idleTimeout)
      }
    }

    // Start the first workers, the last slot first: idle workers are taken from the top of a stack, so worker 1
    // takes the first job.
    for (let i = minWorkers; i >= 1; i--) {
      slots.unshift({ index: i, fiber: undefined, job: undefined, resume: undefined, ...untimed() })
    }
    for (let i = slots.length - 1; i >= 0; i--) {
      workers++
      spawn(slots[i])
    }

    // ---- timers ------------------------------------------------------------------
    // One timer fiber serves the jobs' timeouts and the idle workers' deadlines. It sleeps until the earliest
    // deadline, and is started only when the first deadline is armed.

    const deadlines = new DeadlineHeap<Job<I, A, E>>()
    const idleDeadlines = new DeadlineHeap<Slot>()
    let timerFiber: Fiber.Fiber<void> | undefined
    let timerArmedAt = Infinity
    let timerWake: ((exit: Exit.Exit<void>) => void) | undefined

    function arm<T extends Timed>(heap: DeadlineHeap<T>, item: T, deadline: number): void {
      heap.push(item, deadline)
      armTimer(deadline)
    }

    /** Makes sure the timer wakes by `deadline`. */
    function armTimer(deadline: number): void {
      if (timerWake !== undefined) {
        const wake = timerWake
        timerWake = undefined
        wake(Exit.void)
      } else if (timerFiber === undefined || deadline < timerArmedAt) {
        timerFiber?.interruptUnsafe()
        timerFiber = fork(timer)
      }
    }

    /** Acts on every deadline that has passed. Items leave their heap when they no longer need a deadline. */
    const expireDue = (now: number): void => {
      let job = deadlines.peek()
      while (job !== undefined && job.deadline <= now) {
        deadlines.pop()
        if (job.state === RUNNING) stop(job, END_TIMEOUT, -1)
        job = deadlines.peek()
      }
      let slot = idleDeadlines.peek()
      while (slot !== undefined && slot.deadline <= now) {
        idleDeadlines.pop()
        if (workers > minWorkers && slot.resume !== undefined) release(slot)
        slot = idleDeadlines.peek()
      }
      let retry = retries.peek()
      while (retry !== undefined && retry.deadline <= now) {
        retries.pop()
        requeue(retry)
        retry = retries.peek()
      }
      if (rateWakeAt <= now) {
        rateWakeAt = Infinity
        dispatch()
      }
    }

    const earliest = (): number =>
      Math.min(
        deadlines.peek()?.deadline ?? Infinity,
        idleDeadlines.peek()?.deadline ?? Infinity,
        retries.peek()?.deadline ?? Infinity,
        rateWakeAt
      )

    const timer: Effect.Effect<void> = Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      expireDue(now)
      if (lifecycle === "closed") return Effect.void
      const deadline = earliest()
      timerArmedAt = deadline
      if (deadline === Infinity) {
        return Effect.flatMap(
          Effect.callback<void>((resume) => {
            timerWake = resume
            return Effect.sync(() => {
              timerWake = undefined
            })
          }),
          () => timer
        )
      }
      return Effect.flatMap(Effect.sleep(deadline - now), () => timer)
    })

    // ---- stopping ------------------------------------------------------------------

    /** Stops intake. What is queued will still run: a paused pool resumes, since it must finish its work. */
    const stopIntake = (): void => {
      if (lifecycle !== "open") return
      lifecycle = "draining"
      rejectWaiters()
      if (paused) {
        paused = false
        dispatch()
      }
    }

    /**
     * Settles every job that is not running with PoolShutdown and interrupts the running ones. Returns the inputs
     * of the jobs that never started, and of those waiting to retry, in submission order.
     */
    const abort = (by: number): Array<I> => {
      stopIntake()
      if (lifecycle === "draining") lifecycle = "stopping"
      const left: Array<Job<I, A, E>> = []
      for (const lane of keys.values()) {
        for (const job of MutableList.takeAll(lane.waiting)) if (job.state === KEYED) left.push(job)
      }
      left.push(...retries.values())
      for (const job of left) unqueue(job)
      for (const lane of keys.values()) lane.tombstones = 0
      let job = takeReady()
      while (job !== undefined) {
        left.push(job)
        job = takeReady()
      }
      left.sort((a, b) => a.seq - b.seq)
      const unstarted: Array<I> = []
      for (const job of left) {
        unstarted.push(job.input)
        shutdownCount++
        settle(job, Exit.fail(shutdownError(job.id)))
      }
      for (const slot of slots) {
        if (slot.job !== undefined) stop(slot.job, END_SHUTDOWN, by)
      }
      checkIdle()
      return unstarted
    }

    const awaitIdle: Effect.Effect<void> = Effect.suspend(() => {
      if (queued === 0 && running === 0) return Effect.void
      idleSignal ??= Deferred.makeUnsafe<void>()
      return Deferred.await(idleSignal)
    })

    const stopWorkers: Effect.Effect<void> = Effect.suspend(() => {
      if (lifecycle === "closed") return Effect.void
      lifecycle = "closed"
      workers = 0
      idle.length = 0
      timerWake = undefined
      return FiberSet.clear(fibers)
    })

    const drain: Effect.Effect<void> = Effect.suspend(() => {
      stopIntake()
      return Effect.andThen(awaitIdle, stopWorkers)
    })

    const shutdown: Effect.Effect<Array<I>> = Effect.withFiber((fiber) => {
      const unstarted = abort(fiber.id)
      return Effect.as(Effect.andThen(awaitIdle, stopWorkers), unstarted)
    })

    const close: Effect.Effect<void> = Effect.withFiber((fiber) => {
      stopIntake()
      const graceful = settings.shutdownTimeout === Infinity
        ? awaitIdle
        : settings.shutdownTimeout === 0
        ? Effect.void
        : Effect.asVoid(Effect.timeoutOption(awaitIdle, settings.shutdownTimeout))
      return graceful.pipe(
        Effect.andThen(Effect.suspend(() => {
          abort(fiber.id)
          return awaitIdle
        })),
        Effect.andThen(stopWorkers)
      )
    })
    if (settings.metrics) {
      const unregister = register(yield* Effect.context<never>(), name, {
        submitted: () => submitted,
        started: () => started,
        completed: (outcome) =>
          outcome === "succeeded"
            ? succeeded
            : outcome === "failed"
            ? failed
            : outcome === "defect"
            ? defects
            : outcome === "timed_out"
            ? timedOut
            : outcome === "cancelled"
            ? cancelled
            : outcome === "dropped"
            ? dropped
            : shutdownCount,
        rejected: () => rejected,
        retried: () => retried,
        queued: () => queued,
        waiting: () => waiting,
        running: () => running,
        workers: () => workers,
        waitTimes,
        runTimes
      })
      yield* Effect.addFinalizer(() => Effect.sync(unregister))
    }
    yield* Effect.addFinalizer(() => close)

    // ---- operations ----------------------------------------------------------------

    const execute = (input: I, options?: JobOptions): Effect.Effect<A, E | PoolErrorOfJob | SubmitError> =>
      Effect.callback<A, E | PoolErrorOfJob | SubmitError>(function(resume) {
        const result = offer(input, options, false, resume)
        if (result === undefined) {
          const waiter = new Waiter(input, options, true, resume, cancelExecuteWaiter, submitterSpan())
          enqueueWaiter(waiter)
          return waiter
        }
        if (!(result instanceof Job)) {
          resume(Exit.fail(result))
          return
        }
        if (result.state === DONE) return
        return new CancelOnInterrupt(result, cancelAndAwait)
      })

    const join = (job: Job<I, A, E>): Effect.Effect<A, E | PoolErrorOfJob> =>
      Effect.callback<A, E | PoolErrorOfJob>((resume) => {
        if (job.exit !== undefined) return resume(job.exit)
        job.resume = resume
        return Effect.sync(() => {
          if (job.resume === resume) job.resume = undefined
        })
      })

    const cancelAll = (jobs: ReadonlyArray<Job<I, A, E>>): Effect.Effect<void> =>
      Effect.withFiber((fiber) => {
        for (const job of jobs) if (job.state !== RUNNING) cancel(job, fiber.id)
        for (const job of jobs) if (job.state === RUNNING) stop(job, END_CANCELLED, fiber.id)
        return Effect.forEach(jobs, awaitSettled, { discard: true })
      })

    const cancelAndAwait = (job: Job<I, A, E>, by: number): Effect.Effect<void> =>
      cancel(job, by) ? awaitSettled(job) : Effect.void

    /** An interrupted `execute` caller: gives up its place, or cancels its job once admitted. */
    const cancelExecuteWaiter = (waiter: Waiter<I>): Effect.Effect<void> => {
      if (waiter.job === undefined) {
        cancelWaiter(waiter)
        return Effect.void
      }
      return cancelAndAwait(waiter.job, Fiber.getCurrent()?.id ?? -1)
    }

    /** An interrupted `submit` caller gives up its place (once admitted, it has already been resumed). */
    const cancelSubmitWaiter = (waiter: Waiter<I>): Effect.Effect<void> => {
      cancelWaiter(waiter)
      return Effect.void
    }

    const submitWith =
      (tryOnly: boolean) => (input: I, options?: JobOptions): Effect.Effect<Job<I, A, E>, SubmitError> =>
        Effect.suspend(() => {
          const result = offer(input, options, tryOnly, undefined)
          if (result instanceof Job) return Exit.succeed(result)
          if (result !== undefined) return Exit.fail(result)
          return Effect.callback<Job<I, A, E>, SubmitError>((resume) => {
            const waiter = new Waiter(input, options, false, resume, cancelSubmitWaiter, submitterSpan())
            enqueueWaiter(waiter)
            return waiter
          })
        })

    const statsUnsafe = (): Stats => ({
      name,
      state: lifecycle,
      concurrency: maxWorkers,
      minWorkers,
      maxWorkers,
      capacity,
      workers,
      idleWorkers: idle.length,
      paused,
      submitted,
      succeeded,
      failed,
      defects,
      timedOut,
      cancelled,
      dropped,
      shutdown: shutdownCount,
      rejected,
      started,
      retried,
      queued,
      retrying,
      running,
      waiting,
      completed,
      totalDurationMillis: totalDuration,
      averageDurationMillis: completed === 0 ? 0 : totalDuration / completed,
      waitTime: waitTimes.summary(),
      runTime: runTimes.summary()
    })

    const resize = (concurrency: number | ElasticConcurrency): Effect.Effect<void, InvalidPoolOptions> =>
      Effect.suspend(() => {
        const sizing = resolveConcurrency(
          typeof concurrency === "object" && concurrency !== null && concurrency.idleTimeout === undefined
            ? Array.isArray(concurrency) ? concurrency : { ...concurrency, idleTimeout: idleTimeout }
            : concurrency
        )
        if (sizing instanceof InvalidPoolOptions) return Exit.fail(sizing)
        minWorkers = sizing.minWorkers
        maxWorkers = sizing.maxWorkers
        idleTimeout = sizing.idleTimeout
        rebalance()
        return Exit.void
      })

    // A pool that stops taking jobs must still finish the queued ones, so only an open pool can be paused.
    const pause = Effect.sync(() => {
      if (lifecycle === "open") paused = true
    })

    const unpause = Effect.sync(() => {
      paused = false
      dispatch()
    })

    return {
      name,
      execute,
      submit: submitWith(false),
      trySubmit: submitWith(true),
      await: (job) => Deferred.await(deferredOf(job)),
      poll: (job) => Effect.sync(() => job.exit === undefined ? Option.none() : Option.some(job.exit)),
      interrupt: (job) => Effect.withFiber((fiber) => cancelAndAwait(job, fiber.id)),
      join,
      cancelAll,
      stats: Effect.sync(statsUnsafe),
      awaitIdle,
      drain,
      shutdown,
      resize,
      pause,
      resume: unpause
    }
  })
