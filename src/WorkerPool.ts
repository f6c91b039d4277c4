/**
 * A worker pool: worker fibers (a fixed number, or between a minimum and a maximum) run a handler over jobs fed
 * through a bounded queue. The pool lives in a `Scope`: closing it stops intake, lets queued and running jobs finish
 * within `shutdownTimeout`, settles whatever is left with `PoolShutdown`, and leaves no fiber behind. Every accepted
 * job settles exactly once, with its handler's own success, typed failure, defect or interruption, or with one of
 * the pool's errors (`JobTimeout`, `JobDropped`, `PoolShutdown`).
 *
 * `make` builds a pool around one handler; `makeExecutor` builds a pool that runs arbitrary effects under one
 * concurrency budget. `layer`, `layerConfig` and `layerExecutor` provide either as a service.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  loadConfig,
  resolveGroupOptions,
  resolveHandler,
  resolveSettings,
  resolveStreamOptions
} from "./internal/options.ts"
import * as engine from "./internal/pool.ts"
import * as internalStream from "./internal/stream.ts"
import { InvalidJobOptions, InvalidPoolOptions, type JobError, type SubmitError } from "./WorkerPoolError.ts"

// -----------------------------------------------------------------------------
// type id
// -----------------------------------------------------------------------------

/**
 * @category type id
 * @since 0.1.0
 */
export const TypeId: TypeId = "~effect-worker-pool/WorkerPool"

/**
 * @category type id
 * @since 0.1.0
 */
export type TypeId = "~effect-worker-pool/WorkerPool"

/**
 * @category type id
 * @since 0.1.0
 */
export const ExecutorTypeId: ExecutorTypeId = "~effect-worker-pool/Executor"

/**
 * @category type id
 * @since 0.1.0
 */
export type ExecutorTypeId = "~effect-worker-pool/Executor"

/**
 * @category type id
 * @since 0.1.0
 */
export const JobHandleTypeId: JobHandleTypeId = engine.JobHandleTypeId

/**
 * @category type id
 * @since 0.1.0
 */
export type JobHandleTypeId = "~effect-worker-pool/JobHandle"

/**
 * Whether a value is a `WorkerPool`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isWorkerPool = (u: unknown): u is WorkerPool<unknown, unknown, unknown> => hasProperty(u, TypeId)

/**
 * Whether a value is an `Executor`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isExecutor = (u: unknown): u is Executor => hasProperty(u, ExecutorTypeId)

/**
 * Whether a value is a `JobHandle`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isJobHandle = (u: unknown): u is JobHandle<unknown, unknown> => hasProperty(u, JobHandleTypeId)

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * What happens to a submission when the queue is full.
 *
 * - `"suspend"` (default): the submitter waits for room; waiting submitters are admitted in arrival order.
 * - `"fail"`: the submission fails at once with `QueueFull`.
 * - `"dropping"`: the new job is accepted and settles at once with `JobDropped`.
 * - `"sliding"`: the new job is accepted and the oldest queued job settles with `JobDropped`.
 *
 * @category models
 * @since 0.1.0
 */
export type OverflowStrategy = "suspend" | "fail" | "dropping" | "sliding"

/**
 * Elastic sizing. The pool keeps at least `min` workers (0 allowed) and adds one whenever a job is queued and no
 * worker is free, up to `max`, without polling. A worker above `min` that has been idle for `idleTimeout`
 * (default `"10 seconds"`) stops. Idle workers are reused most-recently-idle first, so a steady load keeps a
 * steady number of workers and only the surplus ones time out.
 *
 * @category models
 * @since 0.1.0
 */
export interface Concurrency {
  readonly min: number
  readonly max: number
  readonly idleTimeout?: Duration.Input | undefined
}

/**
 * How a failed job is retried. A `Schedule` alone retries every typed failure while the schedule recurs;
 * `RetryPolicy` narrows what is retried.
 *
 * **Details**
 *
 * After a failed attempt the schedule is stepped, as `Effect.retry` steps it (`Schedule.recurs(2)`: at most 2
 * retries, 3 attempts). The job then waits the delay the schedule gives without holding a worker, and re-enters
 * the queue behind the jobs already there; it counts as queued meanwhile (`stats.retrying`). When the schedule
 * ends, the job settles with its last attempt's outcome, unwrapped. Cancellation and `PoolShutdown` are never
 * retried.
 *
 * @category models
 * @since 0.1.0
 */
export type Retry<E> = Schedule.Schedule<unknown, unknown> | RetryPolicy<E>

/**
 * A retry policy: the schedule, and which endings it applies to.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryPolicy<E> {
  /** When and how often to retry; it receives the error of each failed attempt. */
  readonly schedule: Schedule.Schedule<unknown, unknown>
  /** Retries only the typed failures for which this holds. Default: every typed failure. */
  readonly while?: ((error: E) => boolean) | undefined
  /** Retries jobs that timed out (`JobTimeout`). Default `false`. */
  readonly timeouts?: boolean | undefined
  /** Retries jobs that died (defects). Default `false`. */
  readonly defects?: boolean | undefined
}

/**
 * A rate limit on job starts: at most `limit` starts (retries included) in any window of length `interval`.
 *
 * **Details**
 *
 * A sliding log, not a token bucket or a fixed window: a job starts only once the start `limit` starts before it is
 * `interval` old, so the limit holds over every window, with no burst at window edges. Jobs the limit holds back
 * stay queued, in order, and start as soon as the window allows.
 *
 * @category models
 * @since 0.1.0
 */
export interface RateLimit {
  readonly limit: number
  readonly interval: Duration.Input
}

/**
 * The options every pool takes, besides its handler. Each may also come from `Config` (see `layerConfig`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Settings {
  /**
   * Number of workers: at most this many jobs run at any instant, from 1 to 10,000 (each worker is a fiber). Default
   * `1`. `{ min, max, idleTimeout }` makes the pool elastic (see `Concurrency`); `max` has the same bound.
   */
  readonly concurrency?: number | Concurrency | undefined
  /** Jobs that may wait in the queue (running jobs not counted). Default `1024`. There is no unbounded mode. */
  readonly capacity?: number | undefined
  /** What a submission does when the queue is full. Default `"suspend"`. */
  readonly overflow?: OverflowStrategy | undefined
  /** Default run-time limit of each job (a job's own `timeout` overrides it). Default: none. */
  readonly timeout?: Duration.Input | undefined
  /** How long closing the scope waits for queued and running jobs. Default `"30 seconds"`; `0` stops at once. */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** Names the pool in errors, stats, metrics and spans. Default `"worker-pool"`. */
  readonly name?: string | undefined
  /** At most `limit` job starts in any window of `interval` (see `RateLimit`). Default: no limit. */
  readonly rateLimit?: RateLimit | undefined
  /**
   * Registers the pool's metric series (see `WorkerPoolMetrics`) while the pool is open. Default `true`; they cost
   * nothing per job, since the registry reads the pool's own counters.
   */
  readonly metrics?: boolean | undefined
  /**
   * Runs each job submitted inside a span in a child span of it, `WorkerPool.job`, so a trace crosses the queue.
   * Default `true`; jobs submitted outside any span run without one.
   */
  readonly tracing?: boolean | undefined
}

/**
 * The options of a pool built around one handler.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<I, A, E, R> extends Settings {
  /** Runs one job. Its services `R` are taken from where the pool is built. */
  readonly handler: (input: I, job: JobInfo) => Effect.Effect<A, E, R>
  /** How failed jobs are retried, unless a job says otherwise (see `Retry`). Default: no retry. */
  readonly retry?: Retry<E> | undefined
}

/**
 * Options of a single job.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobOptions<E = unknown> {
  /** The job's id, as seen in `JobInfo`, handles and errors. Default: a number in submission order. */
  readonly id?: string | undefined
  /** The job's run-time limit (per attempt), overriding the pool's `timeout`. Time spent queued does not count. */
  readonly timeout?: Duration.Input | undefined
  /** Higher starts first; jobs of equal priority start in submission order. Default `0`. */
  readonly priority?: number | undefined
  /**
   * Jobs sharing a key run one at a time, in submission order (whatever their priority), while other jobs use the
   * rest of the pool. A job waiting for its key counts as queued. Default: none.
   */
  readonly key?: string | undefined
  /** The job's retry policy, replacing the pool's; `false` turns the pool's off for this job. */
  readonly retry?: Retry<E> | false | undefined
}

/**
 * Options of `executeAll`: the options every job of the group gets, and how the group fails.
 *
 * @category models
 * @since 0.1.0
 */
export interface GroupOptions<E = unknown> extends Omit<JobOptions<E>, "id"> {
  /**
   * `true` (default): the first failure cancels the group's other jobs (queued ones never start, running ones are
   * interrupted) and is the group's failure. `false`: every job runs to its end; the group then fails with the
   * first failure in input order, if any.
   */
  readonly failFast?: boolean | undefined
}

/**
 * Options of `executeStream`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamOptions {
  /** Jobs of the stream in flight at once (queued or running). Default: the pool's maximum number of workers. */
  readonly concurrency?: number | undefined
  /** `true` (default): results in input order; `false`: results as jobs finish. */
  readonly ordered?: boolean | undefined
}

/**
 * What a handler knows about the job it runs: a frozen snapshot of the attempt, which never changes afterwards.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobInfo {
  readonly id: string
  /** 1 for the first run of a job, 2 for its first retry, and so on. */
  readonly attempt: number
  readonly priority: number
  readonly key: string | undefined
  /** When the pool started this attempt (`Clock` milliseconds): the instant a rate limit counts. */
  readonly startedAt: number
  /** The worker slot running the job, from 1 to `concurrency`. */
  readonly worker: number
  /** The pool's name. */
  readonly pool: string
}

/**
 * A handle on an accepted job.
 *
 * **Details**
 *
 * `await` waits for the outcome; interrupting a fiber that waits in `await` does not cancel the job. `interrupt`
 * cancels it: a queued job never starts, a running job is interrupted; either way `interrupt` returns once the
 * job has settled (its finalizers have run). `poll` never waits.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobHandle<A, E> extends Pipeable, Inspectable.Inspectable {
  readonly [JobHandleTypeId]: JobHandleTypeId
  readonly id: string
  readonly await: Effect.Effect<A, E>
  readonly poll: Effect.Effect<Option.Option<Exit.Exit<A, E>>>
  readonly interrupt: Effect.Effect<void>
}

/**
 * A snapshot of a pool. At every instant:
 * `submitted = succeeded + failed + defects + timedOut + cancelled + dropped + shutdown + queued + running`.
 *
 * **Details**
 *
 * `rejected` counts submissions turned away (`QueueFull`, `PoolShutdown`), outside that sum. `waiting` counts
 * submitters waiting for room (not yet accepted). `workers` counts live workers (`idleWorkers` of them idle),
 * between `minWorkers` and `maxWorkers` (`concurrency` is `maxWorkers`); `paused` tells whether jobs may start.
 * `completed`, `totalDurationMillis` and `averageDurationMillis` cover jobs that ran, whatever their outcome. `state` is `"open"`, `"draining"` (intake stopped, work goes on),
 * `"stopping"` (running jobs are being interrupted) or `"closed"`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  readonly name: string
  readonly state: "open" | "draining" | "stopping" | "closed"
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
  readonly waitTime: DurationSummary
  readonly runTime: DurationSummary
}

/**
 * Per attempt, a distribution of durations in milliseconds. Percentiles are interpolated within histogram buckets
 * (0.5 ms to 5 min), as Prometheus' `histogram_quantile` does.
 *
 * @category models
 * @since 0.1.0
 */
export interface DurationSummary {
  readonly count: number
  readonly averageMillis: number
  readonly p50Millis: number
  readonly p90Millis: number
  readonly p99Millis: number
  readonly maxMillis: number
}

/**
 * A pool that runs one handler over inputs of type `I`.
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkerPool<in out I, out A, out E = never> extends Pipeable, Inspectable.Inspectable {
  readonly [TypeId]: TypeId
  readonly name: string
  /**
   * Enqueues a job and waits for its result. Interrupting the caller cancels the job (a queued job never starts,
   * a running one is interrupted) and returns once it has settled.
   */
  readonly execute: (input: I, options?: JobOptions<E>) => Effect.Effect<A, E | JobError | SubmitError>
  /**
   * Enqueues a job and returns its handle once the job is accepted. With `overflow: "suspend"` a submitter waits
   * while the queue is full; once one waits, the queue drains to half its capacity before the waiting submitters are
   * admitted together (in arrival order), so that a producer resumes once per half queue, not once per job.
   */
  readonly submit: (input: I, options?: JobOptions<E>) => Effect.Effect<JobHandle<A, E | JobError>, SubmitError>
  /** Like `submit`, but never waits: fails with `QueueFull` whenever the queue has no room. */
  readonly trySubmit: (
    input: I,
    options?: JobOptions<E>
  ) => Effect.Effect<JobHandle<A, E | JobError>, SubmitError>
  /**
   * Runs a group of jobs and returns their results in input order. By default the first failure cancels the rest
   * of the group (see `GroupOptions`); interrupting the caller cancels the whole group.
   */
  readonly executeAll: (
    inputs: Iterable<I>,
    options?: GroupOptions<E>
  ) => Effect.Effect<Array<A>, E | JobError | SubmitError>
  /**
   * Maps a stream through the pool, with at most `concurrency` of its jobs in flight (see `StreamOptions`). A
   * failed job fails the stream; ending the stream early cancels its jobs in flight.
   */
  readonly executeStream: <E2, R2>(
    inputs: Stream.Stream<I, E2, R2>,
    options?: StreamOptions
  ) => Stream.Stream<A, E | E2 | JobError | SubmitError, R2>
  /** A snapshot of the pool's counters. */
  readonly stats: Effect.Effect<Stats>
  /** Waits until no job is queued or running. */
  readonly awaitIdle: Effect.Effect<void>
  /** Graceful stop: takes no more jobs, finishes every queued and running one, then stops the workers. */
  readonly drain: Effect.Effect<void>
  /**
   * Immediate stop: takes no more jobs, interrupts running ones, and returns the inputs of the jobs that never
   * started. Every unfinished job settles with `PoolShutdown`.
   */
  readonly shutdown: Effect.Effect<ReadonlyArray<I>>
  /**
   * Changes the pool's size at runtime: a number for a fixed size, or `{ min, max, idleTimeout? }`. Growing starts
   * workers at once (as many as queued jobs need, and at least `min`); shrinking stops idle workers at once and
   * busy ones after their current job: a running job is never interrupted.
   */
  readonly resize: (concurrency: number | Concurrency) => Effect.Effect<void, InvalidPoolOptions>
  /**
   * Stops jobs from starting: running jobs finish; submissions still queue under the overflow rule. Only an open
   * pool pauses: `drain`, `shutdown` and closing the scope resume it, since queued jobs must still finish.
   */
  readonly pause: Effect.Effect<void>
  /** Lets jobs start again after `pause`. */
  readonly resume: Effect.Effect<void>
}

/**
 * A pool that runs arbitrary effects under one concurrency budget. Each effect keeps its own success, error and
 * services: they come from the caller of `execute` or `submit`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Executor extends Pipeable, Inspectable.Inspectable {
  readonly [ExecutorTypeId]: ExecutorTypeId
  readonly name: string
  /** Runs `effect` on the pool and waits for its result. Interrupting the caller cancels it. */
  readonly execute: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: JobOptions
  ) => Effect.Effect<A, E | JobError | SubmitError, R>
  /** Enqueues `effect` and returns its handle once accepted. */
  readonly submit: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: JobOptions
  ) => Effect.Effect<JobHandle<A, E | JobError>, SubmitError, R>
  /** Like `submit`, but never waits: fails with `QueueFull` whenever the queue has no room. */
  readonly trySubmit: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: JobOptions
  ) => Effect.Effect<JobHandle<A, E | JobError>, SubmitError, R>
  /** Runs a group of effects on the pool; results in input order (see `GroupOptions`). */
  readonly executeAll: <A, E, R>(
    effects: Iterable<Effect.Effect<A, E, R>>,
    options?: GroupOptions
  ) => Effect.Effect<Array<A>, E | JobError | SubmitError, R>
  /** Runs a stream of effects on the pool, with at most `concurrency` in flight (see `StreamOptions`). */
  readonly executeStream: <A, E, R, E2, R2>(
    effects: Stream.Stream<Effect.Effect<A, E, R>, E2, R2>,
    options?: StreamOptions
  ) => Stream.Stream<A, E | E2 | JobError | SubmitError, R | R2>
  readonly stats: Effect.Effect<Stats>
  readonly awaitIdle: Effect.Effect<void>
  readonly drain: Effect.Effect<void>
  /** Immediate stop; returns the effects that never started (with their services), which may be run again. */
  readonly shutdown: Effect.Effect<ReadonlyArray<Effect.Effect<unknown, unknown>>>
  /**
   * Changes the pool's size at runtime: a number for a fixed size, or `{ min, max, idleTimeout? }`. Growing starts
   * workers at once (as many as queued jobs need, and at least `min`); shrinking stops idle workers at once and
   * busy ones after their current job: a running job is never interrupted.
   */
  readonly resize: (concurrency: number | Concurrency) => Effect.Effect<void, InvalidPoolOptions>
  /**
   * Stops jobs from starting: running jobs finish; submissions still queue under the overflow rule. Only an open
   * pool pauses: `drain`, `shutdown` and closing the scope resume it, since queued jobs must still finish.
   */
  readonly pause: Effect.Effect<void>
  /** Lets jobs start again after `pause`. */
  readonly resume: Effect.Effect<void>
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Builds a pool in the current scope. The workers start before `make` returns; closing the scope drains the pool
 * (see `shutdownTimeout`).
 *
 * **Gotchas**
 *
 * On the `TestClock`, the drain at scope close waits on virtual time: a test that ends with jobs still running
 * sets `shutdownTimeout: 0` or advances the clock.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <I, A, E = never, R = never>(
  options: Options<I, A, E, R>
): Effect.Effect<WorkerPool<I, A, E>, InvalidPoolOptions, Scope.Scope | R> =>
  Effect.flatMap(
    resolveHandler(options),
    ({ handler, settings }) => Effect.map(engine.make<I, A, E, R>(settings, handler), (self) => new PoolImpl(self))
  )

/**
 * Builds a pool of arbitrary effects in the current scope: the p-limit / `Submit(func)` use case, where many call
 * sites share one concurrency budget.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeExecutor = (
  options: Settings & { readonly retry?: Retry<unknown> | undefined } = {}
): Effect.Effect<Executor, InvalidPoolOptions, Scope.Scope> =>
  Effect.flatMap(resolveSettings(options), (settings) =>
    Effect.map(
      engine.make<Effect.Effect<unknown, unknown>, unknown, unknown, never>(settings, runEffect),
      (self) => new ExecutorImpl(self)
    ))

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Provides a pool as the service `tag`. The handler's requirements become the layer's requirements; callers of
 * the service never see them.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <Id, I, A, E, R>(
  tag: Context.Key<Id, WorkerPool<I, A, E>>,
  options: Options<I, A, E, R>
): Layer.Layer<Id, InvalidPoolOptions, Exclude<R, Scope.Scope>> =>
  Layer.effect(tag, make(options)) as Layer.Layer<Id, InvalidPoolOptions, Exclude<R, Scope.Scope>>

/**
 * Provides a pool as the service `tag`, reading its settings from `Config` (a `Config` of the whole settings
 * object, or one `Config` per setting). Invalid values fail the layer with `InvalidPoolOptions`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = <Id, I, A, E, R>(
  tag: Context.Key<Id, WorkerPool<I, A, E>>,
  options: {
    readonly handler: (input: I, job: JobInfo) => Effect.Effect<A, E, R>
    readonly config: Config.Wrap<Settings>
    /** The retry policy, which is code rather than configuration (see `Retry`). */
    readonly retry?: Retry<E> | undefined
  }
): Layer.Layer<Id, InvalidPoolOptions | Config.ConfigError, Exclude<R, Scope.Scope>> =>
  Layer.effect(
    tag,
    Effect.flatMap(loadConfig<Settings, Options<I, A, E, R>["handler"], Retry<E>>(options), make)
  ) as Layer.Layer<Id, InvalidPoolOptions | Config.ConfigError, Exclude<R, Scope.Scope>>

/**
 * Provides an `Executor` as the service `tag`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerExecutor = <Id>(
  tag: Context.Key<Id, Executor>,
  options: Settings & { readonly retry?: Retry<unknown> | undefined } = {}
): Layer.Layer<Id, InvalidPoolOptions> => Layer.effect(tag, makeExecutor(options))

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** The executor's jobs are effects, which run as they are (with their caller's services, provided at submission). */
const runEffect = (effect: Effect.Effect<unknown, unknown>): Effect.Effect<unknown, unknown> => effect

/** What a pool and an executor share: the lifecycle operations, and how they read. */
abstract class Base<I> implements Pipeable, Inspectable.Inspectable {
  readonly name: string
  readonly stats: Effect.Effect<Stats>
  readonly awaitIdle: Effect.Effect<void>
  readonly drain: Effect.Effect<void>
  readonly shutdown: Effect.Effect<ReadonlyArray<I>>
  readonly resize: (concurrency: number | Concurrency) => Effect.Effect<void, InvalidPoolOptions>
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  readonly #self: engine.PoolState<I, any, any>

  constructor(self: engine.PoolState<I, any, any>) {
    this.#self = self
    this.name = self.name
    this.stats = engine.stats(self)
    this.awaitIdle = engine.awaitIdle(self)
    this.drain = engine.drain(self)
    this.shutdown = engine.shutdown(self)
    this.resize = (concurrency) => engine.resize(self, concurrency)
    this.pause = engine.pause(self)
    this.resume = engine.resume(self)
  }

  abstract get kind(): string

  pipe() {
    return pipeArguments(this, arguments)
  }

  toJSON(): unknown {
    const self = this.#self
    return {
      _id: this.kind,
      name: this.name,
      state: self.lifecycle._tag,
      workers: self.workers,
      queued: self.counters.queued,
      running: self.counters.running
    }
  }

  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }

  toString(): string {
    return Inspectable.toStringUnknown(this.toJSON())
  }
}

class PoolImpl<I, A, E> extends Base<I> implements WorkerPool<I, A, E> {
  readonly [TypeId]: TypeId = TypeId
  readonly execute: WorkerPool<I, A, E>["execute"]
  readonly submit: WorkerPool<I, A, E>["submit"]
  readonly trySubmit: WorkerPool<I, A, E>["trySubmit"]
  readonly executeAll: WorkerPool<I, A, E>["executeAll"]
  readonly executeStream: WorkerPool<I, A, E>["executeStream"]

  constructor(self: engine.PoolState<I, A, E>) {
    super(self)
    this.execute = (input, options) => engine.execute(self, input, options)
    this.submit = (input, options) => engine.submitHandle(self, input, options, false)
    this.trySubmit = (input, options) => engine.submitHandle(self, input, options, true)
    this.executeAll = (inputs, options) => executeAll(self, inputs, options)
    this.executeStream = (inputs, options) => executeStream(self, inputs, options, Effect.succeed(identity<I>))
  }

  get kind(): string {
    return "WorkerPool"
  }
}

class ExecutorImpl extends Base<Effect.Effect<unknown, unknown>> implements Executor {
  readonly [ExecutorTypeId]: ExecutorTypeId = ExecutorTypeId
  readonly execute: Executor["execute"]
  readonly submit: Executor["submit"]
  readonly trySubmit: Executor["trySubmit"]
  readonly executeAll: Executor["executeAll"]
  readonly executeStream: Executor["executeStream"]

  constructor(self: engine.PoolState<Effect.Effect<unknown, unknown>, unknown, unknown>) {
    super(self)
    this.execute = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: JobOptions) =>
      withCaller(effect, (run) => engine.execute(self, run, options)) as Effect.Effect<
        A,
        E | JobError | SubmitError,
        R
      >
    this.submit = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: JobOptions) =>
      withCaller(
        effect,
        (run) => engine.submitHandle(self, run, options, false)
      ) as Effect.Effect<JobHandle<A, E | JobError>, SubmitError, R>
    this.trySubmit = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: JobOptions) =>
      withCaller(
        effect,
        (run) => engine.submitHandle(self, run, options, true)
      ) as Effect.Effect<JobHandle<A, E | JobError>, SubmitError, R>
    this.executeAll = <A, E, R>(effects: Iterable<Effect.Effect<A, E, R>>, options?: GroupOptions) =>
      Effect.contextWith((context: Context.Context<R>) =>
        executeAll(self, Array.from(effects, (effect) => provideCaller(effect, context)), options)
      ) as Effect.Effect<Array<A>, E | JobError | SubmitError, R>
    this.executeStream = <A, E, R, E2, R2>(
      effects: Stream.Stream<Effect.Effect<A, E, R>, E2, R2>,
      options?: StreamOptions
    ) =>
      executeStream(
        self,
        effects,
        options,
        Effect.map(
          Effect.context<R>(),
          (context) => (effect: Effect.Effect<A, E, R>) =>
            provideCaller(effect, context) as Effect.Effect<unknown, unknown>
        )
      ) as Stream.Stream<A, E | E2 | JobError | SubmitError, R | R2>
  }

  get kind(): string {
    return "Executor"
  }
}

/** Runs `f` with `effect` bound to the caller's services. */
const withCaller = <A, E, R, X, Y>(
  effect: Effect.Effect<A, E, R>,
  f: (effect: Effect.Effect<unknown, unknown>) => Effect.Effect<X, Y>
): Effect.Effect<X, Y, R> => Effect.contextWith((context: Context.Context<R>) => f(provideCaller(effect, context)))

/**
 * Binds an effect to the caller's services. What is not an effect stays as it is: its job settles with a defect
 * that says so, as a handler's would.
 */
const provideCaller = <A, E, R>(effect: Effect.Effect<A, E, R>, context: Context.Context<R>) =>
  Effect.isEffect(effect) ? Effect.provideContext(effect, context) : effect as Effect.Effect<A, E>

/**
 * Runs one job per input and collects the results in order. One child fiber submits the jobs in input order (waiting
 * for room as `submit` does); the group hears of each job as it is accepted, inline, and writes each result into place
 * as its job settles, with no fiber or handle per job. The caller waits for the group to end: every job settled, or
 * the first failure with `failFast` (a submission turned away counts as its input's failure). The submitter is then
 * stopped, and the jobs still in the pool are cancelled in one sweep, the ones that have not started first, so that
 * none of them starts on a worker the running ones free; in a pool that is shutting down (not draining) they are left
 * to the shutdown, which returns the queued ones' inputs, and waited for.
 */
const executeAll = <I, A, E>(
  self: engine.PoolState<I, A, E>,
  inputs: Iterable<I>,
  options: GroupOptions<any> | undefined
): Effect.Effect<Array<A>, E | JobError | SubmitError> =>
  Effect.uninterruptibleMask((restore) => {
    const group = resolveGroupOptions(options)
    if (group instanceof InvalidJobOptions) return Effect.fail(group)
    const { failFast, jobOptions } = group
    const items = Array.from(inputs)
    const count = items.length
    const values: Array<A> = new Array(count)
    /** the group's jobs that have not settled, by input (a settled job's record is let go of at once) */
    const unsettled: Array<engine.Job<I, A, E> | undefined> = new Array(count)
    /** the next input to submit, and how many jobs were accepted and have settled */
    let next = 0
    let accepted = 0
    let settled = 0
    /** whether the submitter still runs */
    let submitting = true
    let stopped = false
    /** the group's failure: with `failFast` the first to happen, without it the first in input order */
    let failure: Cause.Cause<E | JobError | SubmitError> | undefined
    let failedAt = count
    /** resumes the caller waiting for the group to end */
    let wake: ((exit: Exit.Exit<void>) => void) | undefined
    const ended = (): boolean => (failFast && failure !== undefined) || (!submitting && settled === accepted)
    const notify = (): void => {
      if (wake !== undefined && ended()) {
        const resume = wake
        wake = undefined
        resume(Exit.void)
      }
    }
    const fail = (index: number, cause: Cause.Cause<E | JobError | SubmitError>): void => {
      if (failFast ? failure === undefined : index < failedAt) {
        failure = cause
        failedAt = index
      }
    }
    const settleAt = (index: number) => (exit: Exit.Exit<A, E | JobError>): void => {
      unsettled[index] = undefined
      settled++
      if (Exit.isSuccess(exit)) values[index] = exit.value
      else fail(index, exit.cause)
      notify()
    }
    const submitAll = Effect.whileLoop({
      while: () => next < count && !stopped && !(failFast && failure !== undefined),
      body: () => {
        const index = next++
        return engine.submitInGroup(self, items[index], jobOptions, settleAt(index), (job) => {
          accepted++
          if (job.exit === undefined) unsettled[index] = job
        })
      },
      step: () => {}
    }).pipe(
      Effect.catchCause((cause) =>
        Effect.sync(() => {
          if (!Cause.hasInterruptsOnly(cause)) fail(next - 1, cause)
        })
      ),
      Effect.ensuring(Effect.sync(() => {
        submitting = false
        notify()
      }))
    )
    const awaitEnd = Effect.callback<void>((resume) => {
      if (ended()) return resume(Exit.void)
      wake = resume
      return Effect.sync(() => {
        wake = undefined
      })
    })
    const endRest = Effect.suspend(() =>
      engine.endAll(self, unsettled.filter((job): job is engine.Job<I, A, E> => job !== undefined))
    )
    return Effect.flatMap(Effect.forkChild(submitAll), (submitter) =>
      Effect.flatMap(Effect.exit(restore(awaitEnd)), (exit): Effect.Effect<Array<A>, E | JobError | SubmitError> => {
        stopped = true
        const stop = Fiber.interrupt(submitter)
        if (Exit.isFailure(exit)) {
          return stop.pipe(Effect.andThen(endRest), Effect.andThen(Effect.failCause(exit.cause)))
        }
        if (failure === undefined) {
          return Effect.as(stop, values)
        }
        return stop.pipe(Effect.andThen(endRest), Effect.andThen(Effect.failCause(failure)))
      }))
  })

/** Maps a stream through the pool (see `internal/stream.ts`), once its options are valid. */
const executeStream = <X, I, A, E, E2, R, R2>(
  self: engine.PoolState<I, A, E>,
  items: Stream.Stream<X, E2, R2>,
  options: StreamOptions | undefined,
  bind: Effect.Effect<(item: X) => I, never, R>
): Stream.Stream<A, E | E2 | JobError | SubmitError, R | R2> =>
  Stream.unwrap(Effect.sync((): Stream.Stream<A, E | E2 | JobError | SubmitError, R | R2> => {
    const resolved = resolveStreamOptions(options, self.maxWorkers)
    if (resolved instanceof InvalidJobOptions) return Stream.fail(resolved)
    return internalStream.executeStream(self, items, resolved.concurrency, resolved.ordered, bind)
  }))
