/**
 * The job record: one accepted job, from its submission to its outcome. A job is always in exactly one phase, and
 * a running job that is being stopped carries the reason in `ending`; a handler never sees this record, only a
 * `JobInfo` snapshot of its own attempt.
 */
import type * as Duration from "effect/Duration"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Pull from "effect/Pull"
import type * as Tracer from "effect/Tracer"
import type { JobInfo, Retry } from "../WorkerPool.ts"
import type { JobDropped, JobTimeout, PoolShutdown } from "../WorkerPoolError.ts"
import type { Handle } from "./handle.ts"
import type { Ranked, Timed } from "./heap.ts"

/** The pool's own endings of a job, besides what its handler does. */
export type PoolError = JobTimeout | JobDropped | PoolShutdown

/** A job's `timeoutMillis` when it has none. */
export const noTimeout = 0

/** The `timeoutMillis` of a job for a timeout option in milliseconds (`Infinity` for none). */
export const timeoutOf = (millis: number): number => millis === Infinity ? noTimeout : millis

/** A fiber waiting for a job's outcome: the `resume` of its callback. */
export type Settled<A, E> = (exit: Exit.Exit<A, E | PoolError>) => void

/**
 * Where a job is:
 *
 * - `"Ready"`: queued, free to start (in the ready queue);
 * - `"Keyed"`: queued behind the job that holds its key;
 * - `"Running"`: on a worker;
 * - `"Retrying"`: between attempts: its retry schedule is being stepped, or it waits for the delay the schedule gave;
 * - `"Done"`: settled; `exit` holds its outcome.
 */
export type Phase = "Ready" | "Keyed" | "Running" | "Retrying" | "Done"

/**
 * Why a running job is being stopped by the pool. The job settles with the ending's outcome once its worker has
 * unwound it (its finalizers have run), whatever its handler returned meanwhile.
 */
export type Ending =
  | { readonly _tag: "TimedOut" }
  | { readonly _tag: "Cancelled"; readonly by: number }
  | { readonly _tag: "Shutdown"; readonly by: number }

/** The one `TimedOut` ending. */
export const timedOut: Ending = { _tag: "TimedOut" }

/** A job's retry schedule, as a step function, once its first retry has made it. */
export type RetryStep = (now: number, input: unknown) => Pull.Pull<[unknown, Duration.Duration], unknown, unknown>

/**
 * The part of a job that most jobs do not need, kept apart so that a plain job stays small: its priority and key,
 * its own retry policy, the span its submitter ran in, and its retry schedule's state.
 */
export class Rare {
  readonly priority: number
  readonly key: string | undefined
  /** the job's own retry policy (`false`: none), or `undefined` for the pool's */
  readonly retry: Retry<any> | false | undefined
  /** the submitter's span, which the job's spans continue */
  readonly parent: Tracer.AnySpan | undefined
  retryStep: RetryStep | undefined = undefined
  /** the fiber stepping the retry schedule, while it does */
  stepping: Fiber.Fiber<unknown, unknown> | undefined = undefined
  /** fibers waiting for the outcome besides `onSettled` (`handle.await` callers, cancellers): one, or a list */
  waiters: Settled<any, any> | Array<Settled<any, any>> | undefined = undefined

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
 * An accepted job. It sits in at most one of the pool's heaps at a time (the ordered ready jobs while ready, the
 * timeouts while running, the retry delays while retrying), hence one `heapIndex`.
 */
export class Job<I, A, E> implements Ranked, Timed {
  /** the job's number, in submission order (its id unless it has its own) */
  readonly seq: number
  readonly input: I
  /**
   * run-time limit of each attempt; `noTimeout` (0) for none, which a timeout cannot be: a small integer, kept in the
   * record itself, where `Infinity` would take a heap number per job
   */
  readonly timeoutMillis: number
  readonly customId: string | undefined
  rare: Rare | undefined
  /** order among ready jobs of equal priority: the submission order, renewed when a retry re-enters the queue */
  rank: number
  phase: Phase = "Ready"
  /** set while the pool stops the running job; cleared when the attempt ends */
  ending: Ending | undefined = undefined
  attempt = 1
  /** when the job (or its retry) entered the queue, and when its attempt started, as stamps (see `stampOf`) */
  queuedAt = 0
  startedAt = 0
  /** the slot (numbered from 1) of the worker running the job */
  worker = 0
  /** whether the job is in the ready queue's FIFO part (a ready job not in it is in a heap) */
  inFifo = false
  exit: Exit.Exit<A, E | PoolError> | undefined = undefined
  /**
   * Who hears of the outcome first, inline as the job settles: the fiber of an `execute` caller or a joiner (its
   * resume), or the handle `submit` returned. Other fibers waiting for the outcome are the `waiters` in `rare`.
   */
  onSettled: Settled<A, E> | Handle<A, E> | undefined = undefined
  deadline = 0
  heapIndex = -1
  heapSeq = 0

  constructor(
    seq: number,
    rank: number,
    input: I,
    timeoutMillis: number,
    customId: string | undefined,
    rare: Rare | undefined
  ) {
    this.seq = seq
    this.rank = rank
    this.input = input
    this.timeoutMillis = timeoutMillis
    this.customId = customId
    this.rare = rare
  }

  get priority(): number {
    return this.rare === undefined ? 0 : this.rare.priority
  }

  get key(): string | undefined {
    return this.rare === undefined ? undefined : this.rare.key
  }

  get id(): string {
    return this.customId ?? String(this.seq)
  }
}

/** Whether the job is accepted and has not started (ready, waiting for its key, or between attempts). */
export const isQueued = (job: Job<any, any, any>): boolean =>
  job.phase === "Ready" || job.phase === "Keyed" || job.phase === "Retrying"

/** Whether queued job `a` starts before `b`: higher priority first, then lower rank. */
export const startsBefore = (a: Job<any, any, any>, b: Job<any, any, any>): boolean =>
  a.priority > b.priority || (a.priority === b.priority && a.rank < b.rank)

/** Whether `"sliding"` drops queued job `a` before `b`: the lowest priority first, then the oldest submission. */
export const dropsBefore = (a: Job<any, any, any>, b: Job<any, any, any>): boolean =>
  a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq)

/**
 * The `JobInfo` a handler receives: a frozen snapshot of the attempt it runs, which never changes afterwards.
 */
class Info implements JobInfo {
  readonly id: string
  readonly attempt: number
  readonly priority: number
  readonly key: string | undefined
  readonly startedAt: number
  readonly worker: number
  readonly pool: string
  constructor(job: Job<any, any, any>, pool: string, startedAt: number) {
    this.id = job.id
    this.attempt = job.attempt
    this.priority = job.priority
    this.key = job.key
    this.startedAt = startedAt
    this.worker = job.worker
    this.pool = pool
    Object.freeze(this)
  }
}

/** A snapshot of `job`'s current attempt, for its handler; `startedAt` is the clock's reading as it started. */
export const infoOf = (job: Job<any, any, any>, pool: string, startedAt: number): JobInfo =>
  new Info(job, pool, startedAt)
