/**
 * A durable queue fed to a pool: producers in any process offer jobs to a named queue kept in a store (memory,
 * Redis or PostgreSQL), and consumers in any number of processes run them on a local core pool. Built on
 * `effect/persistence`: delivery, attempts, the retry schedule, id de-duplication, delays and the failed-jobs
 * record are `PersistedQueue`'s; outcomes are kept through `Persistence`. Delivery is at least once: a consumer
 * that dies mid-job loses nothing, and its job runs again elsewhere once its lock expires, so handlers must be
 * idempotent.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as SecureRandom from "effect/crypto/SecureRandom"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as Persistence from "effect/persistence/Persistence"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { DeadLetter, deadLetterCause } from "./internal/deadLetter.ts"
import { boundedDelays, decodeDuration, delayRule, isJobId, jobIdRule, maxDelay } from "./internal/durableOptions.ts"
import * as WorkerPool from "./WorkerPool.ts"
import {
  DurableQueueError,
  type InvalidPoolOptions,
  InvalidQueueOptions,
  JobSchemaError,
  JobTimeout
} from "./WorkerPoolError.ts"

/**
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~effect-worker-pool/DurableQueue"

/**
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~effect-worker-pool/DurableQueue"

/**
 * A named durable queue and the schemas of its jobs: every process that offers to it or consumes it uses the same
 * definition.
 *
 * @category models
 * @since 0.1.0
 */
export interface DurableQueue<I, A, E> {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly input: Schema.Codec<I, any>
  readonly success: Schema.Codec<A, any>
  readonly error: Schema.Codec<E, any>
  /** Attempts before a job is recorded as failed. */
  readonly maxAttempts: number
  /** The delay before each retry, replayed from the job's attempt count. */
  readonly retrySchedule: Schedule.Schedule<any, number>
  /** How long a job's outcome is kept for `result`; `undefined` when outcomes are not kept. */
  readonly resultTimeToLive: Duration.Duration | undefined
  /** How long the typed error of a failed job is kept beside the failed-jobs record. */
  readonly failedTimeToLive: Duration.Duration
  /** @internal */
  readonly invalid: InvalidQueueOptions | undefined
  /** @internal */
  readonly outcome: (id: string) => Outcome<A, E>
}

type Outcome<A, E> = Persistable.Persistable<Schema.Codec<A, unknown>, Schema.Codec<E | JobFailure, unknown>>

/**
 * The ways a job of a durable queue can end besides its handler's result: its stored input no longer decodes
 * (`JobSchemaError`), or its last attempt ran out of time (`JobTimeout`).
 *
 * @category models
 * @since 0.1.0
 */
export type JobFailure = JobSchemaError | JobTimeout

/**
 * What a job's handler learns besides its input.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobMetadata {
  /** The job's id: the one given to `offer`, or a generated UUID. */
  readonly id: string
  /** This attempt's number, from 1: it survives crashes and moves between processes. */
  readonly attempts: number
}

/**
 * A job in the failed-jobs record.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailedJob<I, E> {
  readonly id: string
  /** The job's input, or `None` when it no longer decodes with the queue's schema. */
  readonly input: Option.Option<I>
  /** The attempts it used. */
  readonly attempts: number
  /** Its last typed error, while it is kept (see `failedTimeToLive`); `None` for a defect or an expired lock. */
  readonly error: Option.Option<E | JobFailure>
  /** The store's account of the last failure: the pretty-printed cause, or why it was recorded as failed. */
  readonly reason: string
  /** When it was recorded as failed, by the store's clock; `None` where the store did not keep the time. */
  readonly failedAt: Option.Option<DateTime.Utc>
}

/**
 * A consumer of a queue, in any process, as the store last heard of it: each consumer tells the store every 5
 * seconds, and one not heard of for 15 seconds (its process died) is no longer listed. A consumer whose scope
 * closes leaves the list at once.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerInfo {
  /** Unique to one `consume` call. */
  readonly id: string
  /** Its local pool's name. */
  readonly name: string
  /** The host and process it runs in, where the store's layer can tell (the Node layers can). */
  readonly host: string | undefined
  readonly pid: number | undefined
  readonly concurrency: number
  /** When it started, by its own clock (milliseconds since the epoch). */
  readonly startedAt: number
  /** When the store last heard of it, by the store's clock (milliseconds since the epoch). */
  readonly seenAt: number
  /** Jobs running there when it last told the store. */
  readonly running: number
  /** Attempts it finished so far: those that succeeded, and those that failed (an error, a defect, a timeout). */
  readonly succeeded: number
  readonly failed: number
}

/**
 * What a consumer tells its store: `ConsumerInfo` without the fields the store adds.
 *
 * @category models
 * @since 0.1.0
 */
export type ConsumerBeat = Omit<ConsumerInfo, "seenAt" | "host" | "pid">

/**
 * A running consumer: its local pool's counters.
 *
 * @category models
 * @since 0.1.0
 */
export interface Consumer {
  readonly queue: string
  /** The local pool's stats: jobs running here, completed here, failed here. */
  readonly stats: Effect.Effect<WorkerPool.Stats>
}

/**
 * The options of `consume`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumeOptions<I, A, E, R> {
  /** Runs one attempt of a job. Its services `R` come from where `consume` runs. */
  readonly handler: (input: I, job: JobMetadata) => Effect.Effect<A, E, R>
  /** Jobs this consumer runs at once. Default `1`. */
  readonly concurrency?: number | undefined
  /** Run-time limit of each attempt; a timed-out attempt counts as failed with `JobTimeout`. Default: none. */
  readonly timeout?: Duration.Input | undefined
  /**
   * How long closing the consumer's scope lets running jobs finish; jobs still running then are interrupted and
   * released to the queue without spending an attempt. Default `"30 seconds"`.
   */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** Names the local pool in stats, metrics and spans. Default: the queue's name. */
  readonly name?: string | undefined
  /** Registers the local pool's metric series (see `WorkerPool.Settings`). Default `true`. */
  readonly metrics?: boolean | undefined
  /** Runs each job in a span (see `WorkerPool.Settings`). Default `true`. */
  readonly tracing?: boolean | undefined
}

/**
 * A record of the failed-jobs list as a store keeps it.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailedRecord {
  readonly id: string
  /** The job's input as stored (schema-encoded JSON). */
  readonly element: unknown
  readonly attempts: number
  readonly reason: string
  /** When it was recorded as failed, in milliseconds since the epoch by the store's clock; `undefined` if unknown. */
  readonly failedAt: number | undefined
}

/**
 * Where durable queues live: the `PersistedQueueStore`s, the `Persistence` that keeps outcomes, and access to the
 * failed-jobs record. Provided by `layerMemory`, `RedisDurableQueue.layer` and `PgDurableQueue.layer`.
 *
 * @category services
 * @since 0.1.0
 */
export class DurableQueueStore extends Context.Service<DurableQueueStore, {
  /** Names the store kind in errors and logs: `"memory"`, `"redis"`, `"postgres"`. */
  readonly kind: string
  /** The store offers go through, shared by the process. */
  readonly store: (queue: string) => Effect.Effect<PersistedQueue.PersistedQueueStore["Service"]>
  /**
   * A store for one consumer, closed with the given scope: closing it releases the jobs it claimed but did not hand
   * out. The memory store returns the shared one.
   */
  readonly consumerStore: (
    queue: string
  ) => Effect.Effect<PersistedQueue.PersistedQueueStore["Service"], never, Scope.Scope>
  /** Keeps outcomes. */
  readonly persistence: Persistence.Persistence["Service"]
  /** The `Persistence` store id of a queue's outcomes. */
  readonly resultsStoreId: (queue: string) => string
  /** The failed-jobs record of a queue, oldest first. */
  readonly failed: (queue: string) => Effect.Effect<ReadonlyArray<FailedRecord>, DurableQueueError>
  /**
   * Moves a failed job back to the queue with its attempts reset, and removes its kept outcome in the same step, so
   * that `result` waits for the new run; `false` (and nothing removed) when no failed job has that id.
   */
  readonly requeue: (queue: string, id: string) => Effect.Effect<boolean, DurableQueueError>
  /** The failed-jobs record of one job, if it is failed. */
  readonly failedJob: (queue: string, id: string) => Effect.Effect<FailedRecord | undefined, DurableQueueError>
  /** Removes a failed job from the record and forgets its id; `false` when no failed job has that id. */
  readonly remove: (queue: string, id: string) => Effect.Effect<boolean, DurableQueueError>
  /** How many jobs the queue holds in each state, as far as the store can tell. */
  readonly counts: (queue: string) => Effect.Effect<Counts, DurableQueueError>
  /**
   * Records that a consumer is alive, with its figures, until `timeToLive` passes without another beat. The store
   * stamps `seenAt` with its own clock.
   */
  readonly heartbeat: (
    queue: string,
    beat: ConsumerBeat,
    timeToLive: Duration.Duration
  ) => Effect.Effect<void, DurableQueueError>
  /** Removes a consumer from the list at once (its scope closed). */
  readonly leave: (queue: string, id: string) => Effect.Effect<void, DurableQueueError>
  /** The consumers heard of within their time to live, oldest first. */
  readonly consumers: (queue: string) => Effect.Effect<ReadonlyArray<ConsumerInfo>, DurableQueueError>
}>()("effect-worker-pool/DurableQueueStore") {}

/**
 * How many jobs a queue holds in each state. The memory store counts only its failed jobs (`undefined` elsewhere).
 *
 * @category models
 * @since 0.1.0
 */
export interface Counts {
  /** Ready to run. */
  readonly waiting: number | undefined
  /** Not visible yet: offered with a delay, or waiting for a retry. */
  readonly delayed: number | undefined
  /** Claimed by a consumer (running, or claimed by a consumer that died, until its lock expires). */
  readonly running: number | undefined
  /** In the failed-jobs record. */
  readonly failed: number
  /**
   * How long, in milliseconds, the job first in line has been ready to run (since it was offered, or since its
   * delay or retry delay ended); `undefined` when no job waits, or where the store cannot tell (the memory store and
   * the stock Redis store).
   */
  readonly oldestWaitingMillis: number | undefined
}

/**
 * Defines a durable queue. `error` defaults to `Schema.Never` (a handler that cannot fail); `maxAttempts` defaults
 * to 10 and `retrySchedule` to an exponential delay from 1 second capped at 5 minutes (both `PersistedQueue`'s
 * defaults). Outcomes are kept for `result` only when `resultTimeToLive` is set; the typed error of a failed job
 * is kept beside the failed-jobs record for `failedTimeToLive` (default: forever).
 *
 * **Details**
 *
 * The name is a queue's identity in its store: keep it stable across deploys. It may not contain `{` or `}`
 * (the Redis store puts it in a hash tag). A bad option does not throw: every operation on the queue fails with
 * `InvalidQueueOptions` naming it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const define = <I, A, E = never>(options: {
  readonly name: string
  readonly input: Schema.Codec<I, any>
  readonly success: Schema.Codec<A, any>
  readonly error?: Schema.Codec<E, any> | undefined
  readonly maxAttempts?: number | undefined
  readonly retrySchedule?: Schedule.Schedule<any, number> | undefined
  readonly resultTimeToLive?: Duration.Input | undefined
  readonly failedTimeToLive?: Duration.Input | undefined
}): DurableQueue<I, A, E> => {
  const name = options.name
  const error = options.error ?? (Schema.Never as unknown as Schema.Codec<E, any>)
  let invalid: InvalidQueueOptions | undefined
  const reject = (option: string, value: unknown, reason: string) => {
    invalid ??= new InvalidQueueOptions({ queue: String(name), option, value, reason })
  }
  if (typeof name !== "string" || name.length === 0 || name.length > 200 || /[{}]/.test(name)) {
    reject("name", name, "a non-empty string of at most 200 characters without { or }")
  }
  const maxAttempts = options.maxAttempts ?? 10
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 1_000_000) {
    reject("maxAttempts", options.maxAttempts, "an integer from 1 to 1,000,000")
  }
  const duration = (option: string, input: Duration.Input | undefined): Duration.Duration | undefined => {
    if (input === undefined) return undefined
    const decoded = decodeDuration(input)
    if (Option.isNone(decoded) || !Duration.isPositive(decoded.value)) {
      reject(option, input, "a positive duration")
      return undefined
    }
    return decoded.value
  }
  const resultTimeToLive = duration("resultTimeToLive", options.resultTimeToLive)
  const failedTimeToLive = duration("failedTimeToLive", options.failedTimeToLive) ?? Duration.infinity
  const Outcome = Persistable.Class<{ payload: { readonly id: string } }>()(`effect-worker-pool/DurableQueue/${name}`, {
    primaryKey: (payload) => payload.id,
    success: options.success as Schema.Codec<A, any>,
    error: Schema.Union([error as Schema.Codec<E, any>, JobSchemaError, JobTimeout])
  })
  return {
    [TypeId]: TypeId,
    name,
    input: options.input,
    success: options.success,
    error,
    maxAttempts,
    retrySchedule: options.retrySchedule ?? defaultRetrySchedule,
    resultTimeToLive,
    failedTimeToLive,
    invalid,
    outcome: (id) => new Outcome({ id }) as unknown as Outcome<A, E>
  }
}

/**
 * Offers a job to the queue and returns its id. The input is validated by the queue's schema here, at the
 * producer: one that fails fails with `JobSchemaError` and nothing is stored.
 *
 * **Details**
 *
 * `id` de-duplicates: offering an id the queue already holds (waiting, running, completed and not yet cleaned up,
 * or failed) stores nothing and returns the id. To run a failed job again, `requeue` it. `delay` postpones its
 * first delivery (the PostgreSQL store rounds it up to whole seconds); a zero or negative one is none, and one that
 * is not a finite duration of at most `Number.MAX_SAFE_INTEGER` milliseconds (about 285,000 years, the longest every
 * store can keep) is refused with `InvalidQueueOptions`.
 *
 * @category operations
 * @since 0.1.0
 */
export const offer = <I, A, E>(
  queue: DurableQueue<I, A, E>,
  input: I,
  options?: { readonly id?: string | undefined; readonly delay?: Duration.Input | undefined }
): Effect.Effect<string, JobSchemaError | InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.suspend(
    (): Effect.Effect<string, JobSchemaError | InvalidQueueOptions | DurableQueueError, DurableQueueStore> => {
      const id = options?.id
      const invalid = queue.invalid ?? (id === undefined ? undefined : invalidId(queue, id))
      if (invalid !== undefined) return Effect.fail(invalid)
      let delay: Duration.Duration | undefined
      if (options?.delay !== undefined) {
        const decoded = decodeDuration(options.delay)
        if (Option.isNone(decoded) || Duration.isGreaterThan(decoded.value, maxDelay)) {
          return Effect.fail(
            new InvalidQueueOptions({ queue: queue.name, option: "delay", value: options.delay, reason: delayRule })
          )
        }
        if (Duration.isPositive(decoded.value)) delay = decoded.value
      }
      const jobId = id ?? randomId()
      return DurableQueueStore.use((backend) =>
        Effect.flatMap(storeOf(backend, queue.name), (store) =>
          encoderOf(queue)(input).pipe(
            Effect.flatMap((element) =>
              store.offer({ name: queue.name, id: jobId, element, isCustomId: id !== undefined, delay })
            ),
            Effect.as(jobId),
            Effect.mapError((error) =>
              Schema.isSchemaError(error)
                ? new JobSchemaError({
                  pool: queue.name,
                  jobId: id ?? "",
                  side: "input",
                  stage: "encode",
                  reason: error.message
                })
                : storeError(queue, "offer", error)
            )
          ))
      )
    }
  )

/** The error for `id` when it cannot be a job's id (see `isJobId`). */
const invalidId = (queue: DurableQueue<any, any, any>, id: unknown): InvalidQueueOptions | undefined =>
  isJobId(id) ? undefined : new InvalidQueueOptions({ queue: queue.name, option: "id", value: id, reason: jobIdRule })

/**
 * A new job's id: a UUID v4 from the platform's `crypto.randomUUID`, which draws its randomness in blocks (Effect's
 * `SecureRandom.uuidV4Unsafe` draws 16 bytes from the system per id, a few microseconds each: as much as the rest of
 * an offer on the producer's side).
 */
const randomId = (): string =>
  typeof globalThis.crypto?.randomUUID === "function" ? globalThis.crypto.randomUUID() : SecureRandom.uuidV4Unsafe()

/**
 * The store an offer goes through: a consumer of this process when there is one (its store then looks for the job at
 * once instead of at its next poll), else the backend's shared store for the queue, looked up once.
 */
const storeOf = (backend: DurableQueueStore["Service"], queue: string): Effect.Effect<StoreService> => {
  const local = localConsumers.get(backend)?.get(queue)
  if (local !== undefined && local.size > 0) return Effect.succeed(local.values().next().value!)
  let byQueue = sharedStores.get(backend)
  if (byQueue === undefined) {
    byQueue = new Map()
    sharedStores.set(backend, byQueue)
  }
  const shared = byQueue.get(queue)
  if (shared !== undefined) return Effect.succeed(shared)
  const cache = byQueue
  return Effect.tap(backend.store(queue), (store) => Effect.sync(() => cache.set(queue, store)))
}

/** The backends' shared stores, by queue, once an offer has looked them up. */
const sharedStores = new WeakMap<DurableQueueStore["Service"], Map<string, StoreService>>()

/** Encodes an input to the JSON the stores keep, with the encoder of the queue's schema, built once per definition. */
const encoderOf = <I>(queue: DurableQueue<I, any, any>): (input: I) => Effect.Effect<unknown, Schema.SchemaError> => {
  let encode = encoders.get(queue)
  if (encode === undefined) {
    encode = Schema.encodeUnknownEffect(Schema.toCodecJson(queue.input)) as (
      input: unknown
    ) => Effect.Effect<unknown, Schema.SchemaError>
    encoders.set(queue, encode)
  }
  return encode
}

const encoders = new WeakMap<
  DurableQueue<any, any, any>,
  (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>
>()

/**
 * Runs the queue's jobs in this process, on a core pool built in the current scope: at most `concurrency` at once,
 * each attempt bounded by `timeout`, with the core's stats, metrics and spans. Attempts and retries are the queue's:
 * a typed failure or a timeout is retried by the queue's schedule until `maxAttempts`, then recorded as failed with
 * its error encoded by the queue's error schema.
 *
 * **Details**
 *
 * Closing the scope stops taking jobs at once, lets running ones finish within `shutdownTimeout`, and releases the
 * rest to the queue (interrupted, without spending an attempt). A job whose stored input no longer decodes goes to
 * the failed-jobs record with the reason, once, without running. When the queue keeps outcomes, each success is
 * written before the job is acknowledged, so an outcome is never missing for a completed job.
 *
 * @category operations
 * @since 0.1.0
 */
export const consume = <I, A, E, R>(
  queue: DurableQueue<I, A, E>,
  options: ConsumeOptions<I, A, E, R>
): Effect.Effect<Consumer, InvalidQueueOptions | InvalidPoolOptions, DurableQueueStore | Scope.Scope | R> =>
  Effect.gen(function*() {
    if (queue.invalid !== undefined) return yield* queue.invalid
    if (typeof options.handler !== "function") {
      return yield* new InvalidQueueOptions({
        queue: queue.name,
        option: "handler",
        value: options.handler,
        reason: "a function from the job's input to an Effect"
      })
    }
    const backend = yield* DurableQueueStore
    const outer = yield* Effect.scope
    const concurrency = options.concurrency ?? 1
    const shutdownTimeout = options.shutdownTimeout === undefined
      ? Duration.seconds(30)
      : Option.getOrUndefined(decodeDuration(options.shutdownTimeout))
    if (shutdownTimeout === undefined || Duration.isNegative(shutdownTimeout)) {
      return yield* new InvalidQueueOptions({
        queue: queue.name,
        option: "shutdownTimeout",
        value: options.shutdownTimeout,
        reason: "a duration of 0 or more"
      })
    }
    const pool = yield* WorkerPool.make({
      // the worker fiber running a taker's job is recorded: a handler may close its own consumer (see the finalizer)
      handler: (job: Delivered<I>) =>
        Effect.withFiber((fiber) => {
          job.taker.worker = fiber
          return options.handler(job.input, job.metadata)
        }),
      concurrency,
      capacity: concurrency,
      timeout: options.timeout,
      shutdownTimeout: 0,
      name: options.name ?? queue.name,
      metrics: options.metrics,
      tracing: options.tracing
    })
    // Finalizers run last-added first: the store's scope (added first) closes after the takers have stopped, and
    // then releases what it claimed but never handed out.
    const storeScope = yield* Scope.fork(outer, "sequential")
    const inner = yield* Scope.provide(backend.consumerStore(queue.name), storeScope)
    yield* register(backend, queue.name, inner, storeScope)
    const results = yield* Scope.provide(
      backend.persistence.make({
        storeId: backend.resultsStoreId(queue.name),
        timeToLive: (exit) => Exit.isSuccess(exit) ? (queue.resultTimeToLive ?? Duration.zero) : queue.failedTimeToLive
      }),
      storeScope
    )
    const record = (id: string, exit: Exit.Exit<A, E | JobFailure>) =>
      results.set(queue.outcome(id), exit).pipe(
        Effect.mapError((error) => storeError(queue, "consume", error))
      )
    // The consumer's `PersistedQueue` hands over the stored JSON as it is, and the input is decoded here: a job whose
    // input no longer decodes gets its outcome written, then is dead-lettered as `PersistedQueue` does on its own
    // decode failures (recorded as failed at once, and the next job taken), without a finalizer per job.
    const persisted = yield* PersistedQueue.makeFactory.pipe(
      Effect.flatMap((factory) =>
        factory.make({
          name: queue.name,
          schema: Schema.Unknown,
          maxAttempts: queue.maxAttempts,
          retrySchedule: boundedDelays(queue.retrySchedule)
        })
      ),
      Effect.provideService(PersistedQueue.PersistedQueueStore, inner)
    )
    const decodeInput = Schema.decodeUnknownEffect(Schema.toCodecJson(queue.input))
    const undecodable = (id: string, cause: Cause.Cause<Schema.SchemaError>): Effect.Effect<never, unknown> => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const failure = Cause.findErrorOption(cause)
      const reason = Option.isSome(failure) ? failure.value.message : Cause.pretty(cause)
      return Effect.andThen(
        Effect.ignore(record(
          id,
          Exit.fail(new JobSchemaError({ pool: queue.name, jobId: id, side: "input", stage: "decode", reason }))
        )),
        Effect.fail(new DeadLetter(cause))
      )
    }

    const failAttempt = (metadata: JobMetadata, cause: Cause.Cause<unknown>): Effect.Effect<never, unknown> => {
      if (metadata.attempts < queue.maxAttempts) return Effect.failCause(cause)
      const failure = Cause.findErrorOption(cause)
      const final: Exit.Exit<A, E | JobFailure> = Option.isSome(failure)
        ? Exit.fail(failure.value as E | JobFailure)
        : Exit.die(Cause.squash(cause))
      return Effect.andThen(Effect.ignore(record(metadata.id, final)), Effect.failCause(cause))
    }
    // `execute`, but an interruption of the taker cancels its job and waits for it only while the taker is not
    // abandoned: a handler that closes its own consumer cannot settle before the close returns. The pool always has
    // room (one job per taker), so the submission never waits.
    const execute = (taker: Taker, input: I, metadata: JobMetadata) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          pool.submit({ input, metadata, taker }, { id: metadata.id }),
          (handle) =>
            restore(handle.await).pipe(
              Effect.onInterrupt(() => taker.abandoned ? Effect.void : handle.interrupt)
            )
        )
      )
    const run = (taker: Taker, input: I, metadata: JobMetadata) =>
      Effect.flatMap(
        Effect.exit(execute(taker, input, metadata)),
        (exit): Effect.Effect<void, unknown> => {
          if (Exit.isSuccess(exit)) {
            if (queue.resultTimeToLive === undefined) return Effect.void
            // A success its schema cannot encode fails the attempt: it could never be read back.
            return results.set(queue.outcome(metadata.id), Exit.succeed(exit.value)).pipe(
              Effect.catchTag("PersistenceError", (error) => Effect.fail(storeError(queue, "consume", error))),
              Effect.catchTag("SchemaError", (error) =>
                failAttempt(
                  metadata,
                  Cause.fail(
                    new JobSchemaError({
                      pool: queue.name,
                      jobId: metadata.id,
                      side: "success",
                      stage: "encode",
                      reason: error.message
                    })
                  )
                ))
            )
          }
          const cause = exit.cause
          // the pool stopped the job: release it, without spending an attempt
          if (isShutdown(cause)) return Effect.interrupt
          // this fiber was not interrupted, so the handler interrupted itself: a failed attempt, or its job would
          // be released and taken again for ever
          if (Cause.hasInterruptsOnly(cause)) {
            return failAttempt(
              metadata,
              Cause.die(
                new Error(`job "${metadata.id}" of durable queue "${queue.name}": its handler interrupted itself`)
              )
            )
          }
          return failAttempt(metadata, cause)
        }
      )

    const takers: Array<Taker> = []
    let closing = false
    const takeFailed = (cause: Cause.Cause<unknown>): Effect.Effect<void> =>
      isStoreFailure(cause)
        ? Effect.andThen(
          Effect.logWarning(`durable queue "${queue.name}": the store failed; taking again in 1 second`, cause),
          Effect.sleep(Duration.seconds(1))
        )
        : Effect.void
    // A taker's loop is built once: each turn takes one job, runs it, and goes on until the consumer closes.
    const loop = (taker: Taker): Effect.Effect<void> => {
      const ran = (exit: Exit.Exit<void, unknown>): Exit.Exit<void, unknown> => {
        taker.running = false
        return exit
      }
      const takeOne = Effect.catchCause(
        persisted.take((element, metadata) =>
          Effect.matchCauseEffect(decodeInput(element), {
            onFailure: (cause) => undecodable(metadata.id, cause),
            onSuccess: (input) => {
              taker.running = true
              return Effect.flatMap(Effect.exit(run(taker, input, metadata)), ran)
            }
          })
        ),
        takeFailed
      )
      return Effect.whileLoop({ while: () => !closing, body: () => takeOne, step: () => {} })
    }
    yield* heartbeat(backend, queue, pool, concurrency, storeScope)
    for (let i = 0; i < concurrency; i++) {
      const taker: Taker = { running: false, fiber: undefined, worker: undefined, abandoned: false }
      taker.fiber = yield* Effect.forkIn(loop(taker), storeScope)
      takers.push(taker)
    }
    // A handler may close its own consumer's scope: its job cannot settle before the close returns. Its taker is
    // abandoned: the close waits for the other takers only, then stops it without waiting for its job, which is
    // released to the queue as at a shutdown (last, so that the other jobs have ended first).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        const closer = Fiber.getCurrent()
        const own = takers.find((taker) => taker.running && taker.worker === closer)
        if (own !== undefined) own.abandoned = true
        for (const taker of takers) {
          if (!taker.running && taker !== own && taker.fiber !== undefined) yield* Fiber.interrupt(taker.fiber)
        }
        const fibers = takers.flatMap((taker) => taker.fiber === undefined || taker === own ? [] : [taker.fiber])
        yield* Effect.timeoutOption(Fiber.awaitAll(fibers), shutdownTimeout)
        yield* Fiber.interruptAll(fibers)
        if (own?.fiber !== undefined) yield* Fiber.interrupt(own.fiber)
      })
    )
    return { queue: queue.name, stats: pool.stats }
  })

/**
 * Waits for a job's outcome by its id, from any process: its success, or its last failure once it was recorded as
 * failed (its typed error, `JobTimeout`, `JobSchemaError` for an input that no longer decodes, or the defect).
 * The queue must keep outcomes (`resultTimeToLive`); the outcome is looked up every `pollInterval` (default
 * 100 ms) until it is there.
 *
 * **Gotchas**
 *
 * An outcome expires after `resultTimeToLive`: waiting for a job that completed longer ago waits until something
 * runs it again. Bound the wait with `Effect.timeout` where that matters.
 *
 * @category operations
 * @since 0.1.0
 */
export const result = <I, A, E>(
  queue: DurableQueue<I, A, E>,
  id: string,
  options?: { readonly pollInterval?: Duration.Input | undefined }
): Effect.Effect<A, E | JobFailure | InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.scoped(Effect.gen(function*() {
    const invalid = queue.invalid ?? invalidId(queue, id)
    if (invalid !== undefined) return yield* invalid
    if (queue.resultTimeToLive === undefined) {
      return yield* new InvalidQueueOptions({
        queue: queue.name,
        option: "resultTimeToLive",
        value: undefined,
        reason: "the queue keeps no outcomes: set resultTimeToLive in its definition to await results"
      })
    }
    const pollInterval = options?.pollInterval === undefined
      ? Duration.millis(100)
      : Option.getOrUndefined(decodeDuration(options.pollInterval))
    if (pollInterval === undefined || !Duration.isPositive(pollInterval) || !Duration.isFinite(pollInterval)) {
      return yield* new InvalidQueueOptions({
        queue: queue.name,
        option: "pollInterval",
        value: options?.pollInterval,
        reason: "a positive, finite duration"
      })
    }
    const backend = yield* DurableQueueStore
    const results = yield* backend.persistence.make({ storeId: backend.resultsStoreId(queue.name) })
    const key = queue.outcome(id)
    const outcome = results.get(key).pipe(Effect.mapError((error) => storeError(queue, "result", error)))
    // A job can be recorded as failed without an outcome: the consumer running its last attempt died, and the
    // store failed it when its lock expired. The record is looked at about once a second.
    const checkEvery = Math.max(1, Math.round(1000 / Duration.toMillis(pollInterval)))
    const lookup = (round: number): Effect.Effect<Exit.Exit<A, E | JobFailure>, DurableQueueError> =>
      Effect.flatMap(outcome, (exit) => {
        if (exit !== undefined) return Effect.succeed(exit as Exit.Exit<A, E | JobFailure>)
        const next = Effect.andThen(Effect.sleep(pollInterval), Effect.suspend(() => lookup(round + 1)))
        if (round % checkEvery !== checkEvery - 1) return next
        return Effect.flatMap(
          backend.failedJob(queue.name, id),
          (record) =>
            record === undefined
              ? next
              // the outcome may have been written between the two reads
              : Effect.map(outcome, (exit) =>
                exit === undefined ? Exit.die(new Error(record.reason)) : exit as Exit.Exit<A, E | JobFailure>)
        )
      })
    return yield* Effect.flatten(lookup(0))
  }))

/**
 * The failed-jobs record of the queue, oldest first: each job's id, input, attempts, last typed error (while it is
 * kept) and the store's account of its last failure.
 *
 * @category operations
 * @since 0.1.0
 */
export const failed = <I, A, E>(
  queue: DurableQueue<I, A, E>
): Effect.Effect<Array<FailedJob<I, E>>, InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.scoped(Effect.gen(function*() {
    if (queue.invalid !== undefined) return yield* queue.invalid
    const backend = yield* DurableQueueStore
    const records = yield* backend.failed(queue.name)
    if (records.length === 0) return []
    const results = yield* backend.persistence.make({ storeId: backend.resultsStoreId(queue.name) })
    const outcomes = yield* results.getMany(records.map((record) => queue.outcome(record.id))).pipe(
      Effect.mapError((error) => storeError(queue, "failed", error))
    )
    const decode = Schema.decodeUnknownOption(Schema.toCodecJson(queue.input))
    return records.map((record, i): FailedJob<I, E> => {
      const outcome = outcomes[i] as Exit.Exit<A, E | JobFailure> | undefined
      return {
        id: record.id,
        input: decode(record.element) as Option.Option<I>,
        attempts: record.attempts,
        error: outcome === undefined || Exit.isSuccess(outcome)
          ? Option.none()
          : Cause.findErrorOption(outcome.cause),
        reason: record.reason,
        failedAt: record.failedAt === undefined ? Option.none() : DateTime.make(record.failedAt)
      }
    })
  }))

/**
 * Moves a failed job back to the queue, with its attempts reset, and returns `true`; `false` when the record holds
 * no failed job with that id (it was never failed, or was requeued already). Its id stays its own: the job is
 * not de-duplicated against itself, and offering the id while it waits again is still ignored.
 *
 * @category operations
 * @since 0.1.0
 */
export const requeue = <I, A, E>(
  queue: DurableQueue<I, A, E>,
  id: string
): Effect.Effect<boolean, InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.gen(function*() {
    const invalid = queue.invalid ?? invalidId(queue, id)
    if (invalid !== undefined) return yield* invalid
    const backend = yield* DurableQueueStore
    return yield* backend.requeue(queue.name, id)
  })

/**
 * Removes what the queue's store keeps of finished jobs: completed jobs (and their ids, which until then
 * de-duplicate offers) older than `timeToLive` (default 30 days), and failed ones older than `failedTimeToLive`
 * (default: kept). Run it now and then from one process of a deployment, e.g. with `Effect.repeat` on a schedule.
 *
 * **Gotchas**
 *
 * The PostgreSQL and memory stores clean every queue they hold at once; the Redis store cleans this queue's keys.
 *
 * @category operations
 * @since 0.1.0
 */
export const cleanup = <I, A, E>(
  queue: DurableQueue<I, A, E>,
  options?: {
    readonly timeToLive?: Duration.Input | undefined
    readonly failedTimeToLive?: Duration.Input | undefined
  }
): Effect.Effect<void, InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.gen(function*() {
    if (queue.invalid !== undefined) return yield* queue.invalid
    const age = (option: string, input: Duration.Input | undefined) => {
      if (input === undefined) return Effect.succeed(undefined)
      const decoded = decodeDuration(input)
      return Option.isSome(decoded) && !Duration.isNegative(decoded.value)
        ? Effect.succeed(decoded.value)
        : Effect.fail(
          new InvalidQueueOptions({ queue: queue.name, option, value: input, reason: "a duration of 0 or more" })
        )
    }
    const timeToLive = (yield* age("timeToLive", options?.timeToLive)) ?? Duration.days(30)
    const failedTimeToLive = yield* age("failedTimeToLive", options?.failedTimeToLive)
    const backend = yield* DurableQueueStore
    const store = yield* backend.store(queue.name)
    yield* store.cleanup({ timeToLive, failedTimeToLive }).pipe(
      Effect.mapError((error) => storeError(queue, "cleanup", error))
    )
  })

/**
 * Removes a failed job from the failed-jobs record, with its kept error, and forgets its id (it can be offered
 * again). Returns `false` when the record holds no failed job with that id.
 *
 * @category operations
 * @since 0.1.0
 */
export const remove = <I, A, E>(
  queue: DurableQueue<I, A, E>,
  id: string
): Effect.Effect<boolean, InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.scoped(Effect.gen(function*() {
    const invalid = queue.invalid ?? invalidId(queue, id)
    if (invalid !== undefined) return yield* invalid
    const backend = yield* DurableQueueStore
    const removed = yield* backend.remove(queue.name, id)
    if (removed) {
      const results = yield* backend.persistence.make({ storeId: backend.resultsStoreId(queue.name) })
      yield* results.remove(queue.outcome(id)).pipe(Effect.mapError((error) => storeError(queue, "remove", error)))
    }
    return removed
  }))

/**
 * How many jobs the queue holds in each state (see `Counts`), read from its store in one request.
 *
 * @category operations
 * @since 0.1.0
 */
export const counts = <I, A, E>(
  queue: DurableQueue<I, A, E>
): Effect.Effect<Counts, InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.gen(function*() {
    if (queue.invalid !== undefined) return yield* queue.invalid
    const backend = yield* DurableQueueStore
    return yield* backend.counts(queue.name)
  })

/**
 * The queue's consumers in every process, as its store last heard of them (see `ConsumerInfo`), oldest first.
 *
 * @category operations
 * @since 0.1.0
 */
export const consumers = <I, A, E>(
  queue: DurableQueue<I, A, E>
): Effect.Effect<ReadonlyArray<ConsumerInfo>, InvalidQueueOptions | DurableQueueError, DurableQueueStore> =>
  Effect.gen(function*() {
    if (queue.invalid !== undefined) return yield* queue.invalid
    const backend = yield* DurableQueueStore
    return yield* backend.consumers(queue.name)
  })

/** How often a consumer tells its store it is alive, and how long the store remembers it without news. */
const heartbeatInterval = Duration.seconds(5)
const heartbeatTimeToLive = Duration.seconds(15)

/**
 * Tells the store, now and every `heartbeatInterval` until the scope closes, that this consumer is alive and how it
 * fares; on close, that it left. A store that cannot be reached does not stop the consumer: the next beat tries
 * again. Nothing here runs on a job's path.
 */
const heartbeat = (
  backend: DurableQueueStore["Service"],
  queue: { readonly name: string },
  pool: { readonly stats: Effect.Effect<WorkerPool.Stats> },
  concurrency: number,
  scope: Scope.Scope
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const id = SecureRandom.uuidV4Unsafe()
    const startedAt = yield* Clock.currentTimeMillis
    const beat = Effect.flatMap(pool.stats, (stats) =>
      backend.heartbeat(queue.name, {
        id,
        name: stats.name,
        concurrency,
        startedAt,
        running: stats.running,
        succeeded: stats.succeeded,
        failed: stats.failed + stats.defects + stats.timedOut
      }, heartbeatTimeToLive)).pipe(
        Effect.catch((error) => Effect.logDebug(`durable queue "${queue.name}": heartbeat not recorded`, error))
      )
    yield* Scope.addFinalizer(scope, Effect.ignore(backend.leave(queue.name, id)))
    // forked from the first beat on: a store slow to answer never holds up the consumer
    yield* Effect.forkIn(Effect.forever(Effect.andThen(beat, Effect.sleep(heartbeatInterval))), scope)
  })

/**
 * The in-memory store: `PersistedQueue`'s memory store and `Persistence`'s memory backing, for one process. Jobs
 * and outcomes are lost with the process; use it for development, tests and in-process work.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<DurableQueueStore> = Layer.effect(
  DurableQueueStore,
  Effect.gen(function*() {
    const inner = yield* PersistedQueue.PersistedQueueStore
    const persistence = yield* Persistence.Persistence
    const clock = yield* Clock.Clock
    // The memory store keeps its failed jobs out of reach, so the record is kept beside it.
    const failedRecords = new Map<string, Map<string, FailedRecord>>()
    const recordsOf = (queue: string) => {
      let records = failedRecords.get(queue)
      if (records === undefined) {
        records = new Map()
        failedRecords.set(queue, records)
      }
      return records
    }
    const store = PersistedQueue.PersistedQueueStore.of({
      offer: (options) =>
        Effect.suspend(() => recordsOf(options.name).has(options.id) ? Effect.void : inner.offer(options)),
      take: (options) =>
        Effect.tap(inner.take(options), (item) =>
          Effect.addFinalizer((exit) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return
              const deadLetter = deadLetterReason(exit.cause)
              if (deadLetter === undefined && item.attempts < options.maxAttempts) return
              recordsOf(options.name).set(item.id, {
                id: item.id,
                element: item.element,
                attempts: item.attempts,
                reason: deadLetter ?? Cause.pretty(exit.cause),
                failedAt: clock.currentTimeMillisUnsafe()
              })
            })
          )),
      cleanup: (options) =>
        Effect.andThen(
          inner.cleanup(options),
          Effect.sync(() => {
            if (options.failedTimeToLive === undefined) return
            const cutoff = clock.currentTimeMillisUnsafe() - Duration.toMillis(options.failedTimeToLive)
            for (const records of failedRecords.values()) {
              for (const [id, record] of records) {
                if (record.failedAt !== undefined && record.failedAt <= cutoff) records.delete(id)
              }
            }
          })
        )
    })
    const resultsStoreId = (queue: string) => `effect-worker-pool/${queue}`
    const publicRecord = ({ attempts, element, failedAt, id, reason }: FailedRecord): FailedRecord => ({
      id,
      element,
      attempts,
      reason,
      failedAt
    })
    const consumersOf = new Map<string, Map<string, { readonly info: ConsumerInfo; readonly until: number }>>()
    const liveConsumers = (queue: string) => {
      const now = clock.currentTimeMillisUnsafe()
      const byId = consumersOf.get(queue)
      if (byId === undefined) return []
      for (const [id, entry] of byId) {
        if (entry.until <= now) byId.delete(id)
      }
      return Array.from(byId.values(), (entry) => entry.info)
    }
    return DurableQueueStore.of({
      kind: "memory",
      store: () => Effect.succeed(store),
      consumerStore: () => Effect.succeed(store),
      persistence,
      resultsStoreId,
      failed: (queue) => Effect.sync(() => Array.from(recordsOf(queue).values(), publicRecord)),
      failedJob: (queue, id) =>
        Effect.sync(() => {
          const record = recordsOf(queue).get(id)
          return record === undefined ? undefined : publicRecord(record)
        }),
      remove: (queue, id) =>
        Effect.gen(function*() {
          const records = recordsOf(queue)
          if (!records.delete(id)) return false
          yield* inner.cleanup({ timeToLive: Duration.infinity, failedTimeToLive: Duration.zero })
          return true
        }).pipe(Effect.mapError((error) => storeError({ name: queue }, "remove", error))),
      counts: (queue) =>
        Effect.sync(() => ({
          waiting: undefined,
          delayed: undefined,
          running: undefined,
          failed: recordsOf(queue).size,
          oldestWaitingMillis: undefined
        })),
      heartbeat: (queue, beat, timeToLive) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          let byId = consumersOf.get(queue)
          if (byId === undefined) {
            byId = new Map()
            consumersOf.set(queue, byId)
          }
          const info: ConsumerInfo = { ...beat, host: undefined, pid: undefined, seenAt: now }
          byId.set(beat.id, { info, until: now + Duration.toMillis(timeToLive) })
        }),
      leave: (queue, id) =>
        Effect.sync(() => {
          consumersOf.get(queue)?.delete(id)
        }),
      consumers: (queue) => Effect.sync(() => liveConsumers(queue)),
      requeue: (queue, id) =>
        Effect.gen(function*() {
          const records = recordsOf(queue)
          const record = records.get(id)
          if (record === undefined) return false
          records.delete(id)
          // every step here is synchronous: no run of the job can write an outcome in between
          const results = yield* persistence.make({ storeId: resultsStoreId(queue) })
          yield* results.remove(new OutcomeKey({ id }))
          // The memory store forgets failed ids only through cleanup; the ids still failed stay de-duplicated by
          // the record above.
          yield* inner.cleanup({ timeToLive: Duration.infinity, failedTimeToLive: Duration.zero })
          yield* inner.offer({ name: queue, id, element: record.element, isCustomId: true })
          return true
        }).pipe(Effect.scoped, Effect.mapError((error) => storeError({ name: queue }, "requeue", error)))
    })
  })
).pipe(Layer.provide([PersistedQueue.layerStoreMemory, Persistence.layerMemory]))

/** The key of an outcome, for removing it whatever its schemas: only its primary key (the job's id) is used. */
class OutcomeKey extends Persistable.Class<{ payload: { readonly id: string } }>()(
  "effect-worker-pool/DurableQueue/Outcome",
  { primaryKey: (payload) => payload.id }
) {}

interface Delivered<I> {
  readonly input: I
  readonly metadata: JobMetadata
  readonly taker: Taker
}

interface Taker {
  running: boolean
  fiber: Fiber.Fiber<void> | undefined
  /** the pool's worker fiber that runs (or last ran) the taker's job */
  worker: Fiber.Fiber<unknown, unknown> | undefined
  /** its job's handler closed the consumer: an interruption of the taker no longer waits for the job */
  abandoned: boolean
}

type StoreService = PersistedQueue.PersistedQueueStore["Service"]

/** The stores of this process's open consumers, by backend and queue. */
const localConsumers = new WeakMap<DurableQueueStore["Service"], Map<string, Set<StoreService>>>()

const register = (
  backend: DurableQueueStore["Service"],
  queue: string,
  store: StoreService,
  scope: Scope.Scope
): Effect.Effect<void> =>
  Effect.suspend(() => {
    let byQueue = localConsumers.get(backend)
    if (byQueue === undefined) {
      byQueue = new Map()
      localConsumers.set(backend, byQueue)
    }
    let stores = byQueue.get(queue)
    if (stores === undefined) {
      stores = new Set()
      byQueue.set(queue, stores)
    }
    const registered = stores
    registered.add(store)
    return Scope.addFinalizer(scope, Effect.sync(() => registered.delete(store)))
  })

const defaultRetrySchedule: Schedule.Schedule<any, number> = Schedule.min([
  Schedule.exponential("1 second"),
  Schedule.spaced("5 minutes")
])

const deadLetterReason = (cause: Cause.Cause<unknown>): string | undefined => {
  const decode = deadLetterCause(cause)
  if (decode === undefined) return undefined
  const failure = Cause.findErrorOption(decode)
  return Option.isSome(failure) && failure.value instanceof Error ? failure.value.message : Cause.pretty(decode)
}

const isShutdown = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.findErrorOption(cause)
  return Option.isSome(failure) && (failure.value as { readonly _tag?: unknown })._tag === "PoolShutdown"
}

const isStoreFailure = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.findErrorOption(cause)
  return Option.isSome(failure) && (failure.value as { readonly _tag?: unknown })._tag === "PersistedQueueError"
}

const storeError = (
  queue: { readonly name: string },
  operation: DurableQueueError["operation"],
  error: unknown
): DurableQueueError =>
  new DurableQueueError({
    queue: queue.name,
    operation,
    reason: describeError(error)
  })

const describeError = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const own = (error as { readonly message?: unknown }).message
  const cause = (error as { readonly cause?: unknown }).cause
  const base = typeof own === "string" && own.length > 0 ? own : String(error)
  if (cause === undefined) return base
  if (Cause.isCause(cause)) return `${base}: ${Cause.pretty(cause)}`
  return `${base}: ${describeError(cause)}`
}
