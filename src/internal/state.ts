/**
 * The state of one pool, on one object that every engine module works on (`self`). Fibers only ever touch it in
 * synchronous sections, so every transition is atomic: no locks, no semaphore, no fiber per job.
 */
import type * as Clock from "effect/Clock"
import type * as Deferred from "effect/Deferred"
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as FiberSet from "effect/FiberSet"
import type { JobInfo } from "../WorkerPool.ts"
import type { DeadlineHeap, Timed } from "./heap.ts"
import type { Job } from "./job.ts"
import type { KeyLanes } from "./keyLanes.ts"
import type { ResolvedRetry, ResolvedSettings } from "./options.ts"
import type { SlidingLog } from "./rateLimit.ts"
import type { ReadyQueue } from "./readyQueue.ts"
import type { Counters } from "./stats.ts"
import type { WaitList } from "./waiters.ts"

/**
 * The pool's lifecycle:
 *
 * - `"Open"`: takes jobs; `paused` holds jobs back from starting;
 * - `"Draining"`: intake stopped, queued and running jobs go on;
 * - `"Stopping"`: every unfinished job has settled with `PoolShutdown`, and running ones are being interrupted;
 * - `"Closed"`: the workers are stopped.
 */
export type Lifecycle =
  | { readonly _tag: "Open"; readonly paused: boolean }
  | { readonly _tag: "Draining" }
  | { readonly _tag: "Stopping" }
  | { readonly _tag: "Closed" }

// Every state has the same shape at run time (`paused` is false but in `Open`), so that reading the lifecycle on
// the per-job path stays monomorphic.
const lifecycle = (tag: Lifecycle["_tag"], paused: boolean): Lifecycle => ({ _tag: tag, paused }) as Lifecycle

export const open: Lifecycle = lifecycle("Open", false)
export const paused: Lifecycle = lifecycle("Open", true)
export const draining: Lifecycle = lifecycle("Draining", false)
export const stopping: Lifecycle = lifecycle("Stopping", false)
export const closed: Lifecycle = lifecycle("Closed", false)

/**
 * A worker slot: one of the places (numbered from 1) where a worker fiber runs. A slot is live while a worker
 * holds it; a released slot waits in `free` for the next worker. While its worker is idle above the minimum, the
 * slot waits in the idle-deadline heap.
 */
export interface Slot extends Timed {
  readonly index: number
  live: boolean
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** the job the worker runs, from the moment it takes it until the attempt has ended */
  job: Job<any, any, any> | undefined
  /** wakes the worker while it is idle */
  wake: ((resume: Effect.Effect<void>) => void) | undefined
}

export interface PoolState<I, A, E> {
  readonly name: string
  readonly settings: ResolvedSettings
  readonly clock: Clock.Clock
  /** the clock's reading when the pool was made: jobs stamp their times from it (see `stampOf`) */
  readonly origin: number
  readonly fibers: FiberSet.FiberSet<void>
  /** forks a fiber owned by the pool, with the services of the fiber that built it */
  readonly fork: (
    effect: Effect.Effect<unknown, unknown, any>,
    options?: { readonly uninterruptible?: boolean }
  ) => Fiber.Fiber<unknown, unknown>
  /** turns a job into the effect its worker runs */
  readonly run: (input: I, info: JobInfo) => Effect.Effect<A, E, any>
  /**
   * Whether `run` may read its `JobInfo`: not when it declares one parameter, and then no snapshot is made (freezing
   * one costs as much as a tenth of a job's bookkeeping).
   */
  readonly wantsInfo: boolean
  /** the pool's retry policy, if any */
  readonly retry: ResolvedRetry | undefined
  lifecycle: Lifecycle

  // sizing
  minWorkers: number
  maxWorkers: number
  idleTimeout: number

  // the queue
  /** numbers jobs (their default id) */
  seq: number
  /** orders ready jobs of equal priority */
  ranks: number
  readonly ready: ReadyQueue<Job<I, A, E>>
  readonly keys: KeyLanes<Job<I, A, E>>
  /** jobs waiting for the delay before their next attempt */
  readonly retries: DeadlineHeap<Job<I, A, E>>
  /** jobs whose retry schedule is being stepped */
  readonly stepping: Set<Job<I, A, E>>
  readonly waiters: WaitList<I>
  readonly rateLimit: SlidingLog | undefined

  // the workers
  /** every slot ever made, by index - 1 */
  readonly slots: Array<Slot>
  /** told each time a worker gives up its slot (a thread pool stops the slot's thread) */
  readonly slotReleased: ((index: number) => void) | undefined
  /** what a worker waits for before it takes a job, while its slot is out of service; `undefined` when it is not */
  readonly slotGate: ((index: number) => Effect.Effect<void> | undefined) | undefined
  /** idle workers' slots, most recently idle on top */
  readonly idle: Array<Slot>
  /** released slots, lowest index last */
  readonly free: Array<Slot>
  /** live slots */
  workers: number
  /** resolved when nothing is queued or running */
  idleSignal: Deferred.Deferred<void> | undefined

  // the timers
  /** running jobs' timeout deadlines */
  readonly timeouts: DeadlineHeap<Job<I, A, E>>
  /** deadlines of idle workers above the minimum */
  readonly idleDeadlines: DeadlineHeap<Slot>
  /** when the rate limit opens for a job it held back; `Infinity` when none waits */
  rateWakeAt: number
  timerFiber: Fiber.Fiber<unknown, unknown> | undefined
  timerArmedAt: number
  /** wakes the timer fiber while it waits with no deadline */
  timerWake: (() => void) | undefined

  readonly counters: Counters

  /**
   * The clock, read once per synchronous section where it can be: the end of an attempt reads it, and until that
   * section returns, the times it records (the next job's start, the submissions of callers it resumes inline)
   * share the reading, taken microseconds before. Reading the clock costs as much as a fifth of a job's bookkeeping.
   */
  now: number
  nowFresh: boolean
}

/** The current time, from the reading of the section in progress when there is one. */
export const currentTime = (self: PoolState<any, any, any>): number =>
  self.nowFresh ? self.now : self.clock.currentTimeMillisUnsafe()

/**
 * A stamp of the time `now` (a reading of the pool's clock): milliseconds since the pool's `origin`, wrapped to 32
 * bits like a TCP sequence number. Jobs record their times as stamps because V8 keeps a small integer in the record
 * itself, where a clock reading (about 1.7e12) takes a heap number of its own per field and job. The time between two
 * stamps (`elapsed`) is exact for spans up to 24 days.
 */
export const stampOf = (self: PoolState<any, any, any>, now: number): number => (now - self.origin) | 0

/** The milliseconds from stamp `from` to stamp `to`. */
export const elapsed = (from: number, to: number): number => (to - from) | 0

/** Whether the pool takes new jobs. */
export const isOpen = (self: PoolState<any, any, any>): boolean => self.lifecycle._tag === "Open"

/** Whether the pool is shutting down (`shutdown`, or its scope closing): it settles every job it holds itself. */
export const isStopping = (self: PoolState<any, any, any>): boolean =>
  self.lifecycle._tag === "Stopping" || self.lifecycle._tag === "Closed"

/** Whether queued jobs may start now. */
export const mayStart = (self: PoolState<any, any, any>): boolean => {
  const lifecycle = self.lifecycle
  return lifecycle._tag === "Open" ? !lifecycle.paused : lifecycle._tag === "Draining"
}

/** Whether the pool keeps its workers (it is open or draining). */
export const keepsWorkers = (self: PoolState<any, any, any>): boolean =>
  self.lifecycle._tag === "Open" || self.lifecycle._tag === "Draining"
