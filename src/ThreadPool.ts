/**
 * The same pool on threads, for CPU-bound jobs. A job definition carries the schemas of its input, its success
 * value and its typed error; an entry file serves a handler for it on each thread (`serve`); and `make` builds a
 * `WorkerPool` whose workers each own one thread. Queue, overflow, priorities, keys, retry, rate limit, elastic
 * sizing, stats, metrics and spans are the core pool's: a thread pool is a core pool whose handler hands the job
 * to its worker's thread.
 *
 * A thread runs one job at a time. A job that is stopped while it runs (a timeout, a cancellation, a shutdown)
 * stops for real: a synchronous loop cannot be interrupted, so its thread is terminated, and the job settles once
 * the thread has exited. A thread that crashes fails only the job it was running, with `ThreadCrashed`. Either way
 * a fresh thread takes the slot at once, and the slot's next job waits until it is ready.
 *
 * This module is platform-free, on `effect/workers`: a platform binding (such as `NodeThreadPool`) provides the
 * `WorkerPlatform`, and says how to spawn and how to terminate one thread.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Transferable from "effect/workers/Transferable"
import * as Worker from "effect/workers/Worker"
import type { WorkerError } from "effect/workers/WorkerError"
import * as WorkerRunner from "effect/workers/WorkerRunner"
import { counter, gauge, series } from "./internal/metrics.ts"
import { SlotEvents } from "./internal/pool.ts"
import * as WorkerPool from "./WorkerPool.ts"
import {
  InvalidPoolOptions,
  JobSchemaError,
  ThreadCrashed,
  type ThreadError,
  ThreadStartFailed
} from "./WorkerPoolError.ts"
import * as WorkerPoolMetrics from "./WorkerPoolMetrics.ts"

// -----------------------------------------------------------------------------
// type id
// -----------------------------------------------------------------------------

/**
 * @category type id
 * @since 0.1.0
 */
export const TypeId: TypeId = "~effect-worker-pool/ThreadPool/Definition"

/**
 * @category type id
 * @since 0.1.0
 */
export type TypeId = "~effect-worker-pool/ThreadPool/Definition"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The ways a job on threads can end besides its own result and the core pool's errors (see `WorkerPoolError`).
 *
 * @category models
 * @since 0.1.0
 */
export type { ThreadError } from "./WorkerPoolError.ts"

/**
 * A job that can run on a thread: the schemas that carry its input, its success value and its typed error across
 * the thread boundary. Import the same definition in the app and in the entry file.
 *
 * **Details**
 *
 * Encoded values cross by structured clone. A schema built with `Transferable.schema` (from
 * `effect/workers/Transferable`) moves the buffers it names instead of copying them. The error schema is usually
 * the union of the handler's tagged error classes: a job's typed error arrives as an instance of the class the
 * handler raised.
 *
 * @category models
 * @since 0.1.0
 */
export interface Definition<I, A, E> {
  readonly [TypeId]: TypeId
  readonly input: Schema.Codec<I, any>
  readonly success: Schema.Codec<A, any>
  readonly error: Schema.Codec<E, any>
}

/**
 * A pool whose workers each own a thread: a `WorkerPool` with its threads' own counters beside `stats`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ThreadPool<I, A, E> extends WorkerPool.WorkerPool<I, A, E | ThreadError> {
  /** A snapshot of the pool's threads. */
  readonly threads: Effect.Effect<ThreadStats>
}

/**
 * The threads of a pool at one instant.
 *
 * @category models
 * @since 0.1.0
 */
export interface ThreadStats {
  /** Threads alive: starting, ready or running a job. */
  readonly live: number
  /** Threads started but not yet ready. */
  readonly starting: number
  /** Threads started since the pool was built, replacements included. */
  readonly started: number
  /** Threads terminated because their job was stopped while it ran (timeout, cancellation, shutdown). */
  readonly terminated: number
  /** Threads that crashed while running a job. */
  readonly crashed: number
  /** Threads started to replace a terminated or crashed one. */
  readonly replaced: number
}

/**
 * How a platform runs one thread: `spawn` starts it from the entry file, `terminate` stops it at once, whatever
 * it is doing. `entry` names the entry file in errors. `notify`, when given, is called after each job is posted to
 * a thread: a platform whose idle threads wait for work outside their event loop wakes them there.
 *
 * @category models
 * @since 0.1.0
 */
export interface Platform<W> {
  readonly entry: string
  readonly spawn: (id: number) => W
  readonly terminate: (thread: W) => void
  readonly notify?: ((thread: W) => void) | undefined
}

/**
 * The options of a thread pool: every setting of a core pool, the retry policy, and how long a thread may take to
 * report ready.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<E> extends WorkerPool.Settings {
  /** How failed jobs are retried, unless a job says otherwise (see `WorkerPool.Retry`). Default: no retry. */
  readonly retry?: WorkerPool.Retry<E | ThreadError> | undefined
  /** How long a thread may take from spawn to ready before it counts as failed to start. Default `"30 seconds"`. */
  readonly startTimeout?: Duration.Input | undefined
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Defines a job that can run on a thread. `error` defaults to `Schema.Never` (a handler that cannot fail).
 *
 * @category constructors
 * @since 0.1.0
 */
export const define = <I, A, E = never>(options: {
  readonly input: Schema.Codec<I, any>
  readonly success: Schema.Codec<A, any>
  readonly error?: Schema.Codec<E, any> | undefined
}): Definition<I, A, E> => ({
  [TypeId]: TypeId,
  input: options.input,
  success: options.success,
  error: options.error ?? (Schema.Never as unknown as Schema.Codec<E, any>)
})

/**
 * Builds a pool of threads in the current scope. It is ready once every first thread has reported ready; a thread
 * that does not start fails the build with `ThreadStartFailed`. Closing the scope drains the pool as a core pool
 * does (bounded by `shutdownTimeout`), then terminates every thread: no thread outlives the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <I, A, E, W>(
  definition: Definition<I, A, E>,
  platform: Platform<W>,
  options: Options<E> = {}
): Effect.Effect<
  ThreadPool<I, A, E>,
  InvalidPoolOptions | ThreadStartFailed,
  Scope.Scope | Worker.WorkerPlatform
> =>
  Effect.gen(function*() {
    const startTimeout = yield* resolveStartTimeout(options.startTimeout)
    const workers = yield* Worker.WorkerPlatform
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const name = options.name ?? "worker-pool"
    const self: Threads<I, A, E, W> = {
      name,
      definition,
      platform,
      workers,
      startTimeout,
      fork: yield* FiberSet.runtime(fibers)<never>(),
      slots: [],
      live: new Set(),
      open: true,
      seq: 0,
      started: 0,
      terminated: 0,
      crashed: 0,
      replaced: { terminated: 0, crashed: 0 },
      encodeInput: Schema.encodeUnknownEffect(definition.input),
      decodeSuccess: Schema.decodeUnknownEffect(definition.success),
      decodeError: Schema.decodeUnknownEffect(definition.error)
    }
    // Registered before the core pool, so that it runs after the pool has drained: then every thread goes.
    yield* Effect.addFinalizer(() => stopAll(self))
    if (options.metrics !== false) {
      const { add, remove } = series(yield* Effect.context<never>())
      add(WorkerPoolMetrics.threads, { pool: name }, gauge(() => threadStats(self).live))
      for (const reason of ["terminated", "crashed"] as const) {
        add(WorkerPoolMetrics.threadsReplaced, { pool: name, reason }, counter(() => self.replaced[reason]))
      }
      yield* Effect.addFinalizer(() => Effect.sync(remove))
    }
    const { retry, startTimeout: _, ...settings } = options
    const pool = yield* WorkerPool.make<I, A, E | ThreadError, never>({
      ...settings,
      ...(retry === undefined ? {} : { retry }),
      handler: (input, job) => runOnThread(self, input, job)
    }).pipe(Effect.provideService(SlotEvents, {
      released: (index) => retire(self, index),
      gate: (index) => gate(self, index)
    }))
    const stats = yield* pool.stats
    for (let index = 1; index <= stats.minWorkers; index++) {
      if (self.slots[index] === undefined) startThread(self, index, undefined)
    }
    yield* Effect.forEach(self.live, (thread) => Deferred.await(thread.ready), { discard: true })
    return Object.assign(pool, { threads: Effect.sync(() => threadStats(self)) }) as ThreadPool<I, A, E>
  })

// -----------------------------------------------------------------------------
// the thread side
// -----------------------------------------------------------------------------

/**
 * Serves a definition's handler on this thread: the body of an entry file. It reports ready, then runs each job
 * the pool sends, one at a time, and ends when the pool closes the thread. A handler's typed error crosses as its
 * schema encodes it; a defect crosses as an error with the thread's message and stack.
 *
 * @category constructors
 * @since 0.1.0
 */
export const serve = <I, A, E, R>(
  definition: Definition<I, A, E>,
  handler: (input: I, job: WorkerPool.JobInfo) => Effect.Effect<A, E, R>
): Effect.Effect<void, WorkerError, R | WorkerRunner.WorkerRunnerPlatform> =>
  Effect.gen(function*() {
    const platform = yield* WorkerRunner.WorkerRunnerPlatform
    const runner = yield* platform.start<Reply, Request>()
    const decodeInput = Schema.decodeUnknownEffect(definition.input)
    const encodeSuccess = Schema.encodeUnknownEffect(definition.success)
    const encodeError = Schema.encodeUnknownEffect(definition.error)
    const collector = Transferable.makeCollectorUnsafe()
    // A reply that cannot be cloned becomes the job's schema error, so that the job still gets an answer.
    const reply = (port: number, message: Reply): Effect.Effect<void> =>
      Effect.try({
        try: () => runner.sendUnsafe(port, message, collector.clearUnsafe()),
        catch: (cause) => cause
      }).pipe(Effect.catch((cause) =>
        Effect.sync(() =>
          runner.sendUnsafe(port, [
            message[0],
            SchemaFailed,
            message[1] === Failed ? "error" : "success",
            "encode",
            `it could not be sent: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`
          ])
        )
      ))
    const encode = (
      seq: number,
      tag: typeof Succeeded | typeof Failed,
      encoder: (value: unknown) => Effect.Effect<unknown, Schema.SchemaError, unknown>,
      value: unknown
    ): Effect.Effect<Reply> =>
      encoder(value).pipe(
        Effect.provideService(Transferable.Collector, collector),
        Effect.map((encoded): Reply => [seq, tag, encoded]),
        Effect.catch((error) =>
          Effect.succeed<Reply>([
            seq,
            SchemaFailed,
            tag === Succeeded ? "success" : "error",
            "encode",
            error.message
          ])
        )
      ) as Effect.Effect<Reply>
    const runOne = (seq: number, encodedInput: unknown, job: WorkerPool.JobInfo): Effect.Effect<Reply, never, R> =>
      decodeInput(encodedInput).pipe(
        Effect.matchEffect({
          onFailure: (error) => Effect.succeed<Reply>([seq, SchemaFailed, "input", "decode", error.message]),
          onSuccess: (input) =>
            Effect.suspend(() => handler(input, job)).pipe(
              Effect.exit,
              Effect.flatMap((exit): Effect.Effect<Reply> => {
                if (Exit.isSuccess(exit)) return encode(seq, Succeeded, encodeSuccess, exit.value)
                const error = Cause.findErrorOption(exit.cause)
                if (error._tag === "Some") return encode(seq, Failed, encodeError, error.value)
                return Effect.succeed<Reply>(endedBy(seq, exit.cause))
              })
            )
        })
      ) as Effect.Effect<Reply, never, R>
    // Each job runs in a fiber of its own, whose end is observed: a value that is not an effect, deep in a handler,
    // ends a fiber at once, skipping its frames, and the job must still get its answer.
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const run = yield* FiberSet.runtime(fibers)<R>()
    yield* runner.run<void, never, never>((port, request) => {
      if (request.length === 1) {
        run(reply(port, [pingSeq, Succeeded, undefined]))
        return
      }
      const seq = request[0]
      const job: WorkerPool.JobInfo = {
        id: request[2],
        attempt: request[3],
        priority: request[4],
        key: request[5],
        startedAt: request[6],
        worker: request[7],
        pool: request[8]
      }
      // A fiber that ends before its reply was sent (see above) still gets one: its end is the reply.
      run(Effect.flatMap(runOne(seq, request[1], job), (message) => reply(port, message))).addObserver((exit) => {
        if (Exit.isFailure(exit)) run(reply(port, endedBy(seq, exit.cause)))
      })
    })
  }).pipe(Effect.scoped)

// -----------------------------------------------------------------------------
// internals
// -----------------------------------------------------------------------------

/**
 * A job sent to a thread: its sequence number, its encoded input and the fields of its `JobInfo`, flat (an array of
 * plain values is cloned faster than an object), or the ping.
 */
type Request =
  | readonly [
    seq: number,
    input: unknown,
    id: string,
    attempt: number,
    priority: number,
    key: string | undefined,
    startedAt: number,
    worker: number,
    pool: string
  ]
  | readonly [seq: typeof pingSeq]

/** The first message to a thread, before any job: its answer says the thread is ready. */
const pingSeq = 0
const ping: Request = [pingSeq]

const Succeeded = 0
const Failed = 1
const Died = 2
const SchemaFailed = 3
const Interrupted = 4

/** A thread's answer to a job. */
type Reply =
  | readonly [seq: number, tag: typeof Succeeded | typeof Failed, value: unknown]
  | readonly [seq: number, tag: typeof Died, defect: Defect]
  | readonly [seq: number, tag: typeof Interrupted]
  | readonly [
    seq: number,
    tag: typeof SchemaFailed,
    side: "input" | "success" | "error",
    stage: "encode" | "decode",
    reason: string
  ]

interface Defect {
  readonly name: string
  readonly message: string
  readonly stack: string | undefined
}

/** The reply of a job that ended without a success or a typed error: interrupted (by itself), or a defect. */
const endedBy = (seq: number, cause: Cause.Cause<unknown>): Reply => {
  if (Cause.hasInterruptsOnly(cause)) return [seq, Interrupted]
  const defect = Cause.squash(cause)
  return [
    seq,
    Died,
    defect instanceof Error
      ? { name: defect.name, message: defect.message, stack: defect.stack }
      : { name: "Error", message: String(defect), stack: undefined }
  ]
}

/** Rebuilds a defect that crossed from a thread: an `Error` with the thread's name, message and stack. */
const errorOf = (defect: Defect): Error => {
  const error = new Error(defect.message)
  error.name = defect.name
  if (defect.stack !== undefined) error.stack = defect.stack
  return error
}

interface Threads<I, A, E, W> {
  readonly name: string
  readonly definition: Definition<I, A, E>
  readonly platform: Platform<W>
  readonly workers: Worker.WorkerPlatform["Service"]
  readonly startTimeout: number
  readonly fork: <X, Y>(effect: Effect.Effect<X, Y>) => Fiber.Fiber<X, Y>
  /** each worker slot's thread, by slot index */
  readonly slots: Array<Thread<W> | undefined>
  /** every thread not yet exited, whether or not a slot still holds it */
  readonly live: Set<Thread<W>>
  open: boolean
  seq: number
  started: number
  terminated: number
  crashed: number
  readonly replaced: Record<WorkerPoolMetrics.ReplacedBecause, number>
  readonly encodeInput: (input: unknown) => Effect.Effect<unknown, Schema.SchemaError, unknown>
  readonly decodeSuccess: (value: unknown) => Effect.Effect<A, Schema.SchemaError, unknown>
  readonly decodeError: (value: unknown) => Effect.Effect<E, Schema.SchemaError, unknown>
}

/** One thread, from spawn to exit. A slot's thread is replaced by a fresh record, never restarted in place. */
interface Thread<W> {
  readonly index: number
  /** the platform's thread object, once spawned */
  raw: W | undefined
  worker: Worker.Worker<Reply, Request> | undefined
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** fails the start when the thread is not ready in time */
  timer: Fiber.Fiber<unknown, unknown> | undefined
  /** succeeds once the thread has reported ready */
  readonly ready: Deferred.Deferred<void, ThreadStartFailed>
  state: "starting" | "ready" | "busy" | "stopping" | "exited"
  /** the job it runs: its sequence number and where its reply goes */
  pending: Pending | undefined
}

interface Pending {
  readonly seq: number
  readonly jobId: string
  readonly reply: Deferred.Deferred<Reply, ThreadCrashed>
}

const resolveStartTimeout = (input: Duration.Input | undefined): Effect.Effect<number, InvalidPoolOptions> => {
  if (input === undefined) return Effect.succeed(30_000)
  const duration = Duration.fromInput(input)
  const millis = duration._tag === "Some" ? Duration.toMillis(duration.value) : NaN
  return Number.isNaN(millis) || millis <= 0
    ? Effect.fail(
      new InvalidPoolOptions({
        option: "startTimeout",
        value: input,
        reason: "must be a positive duration"
      })
    )
    : Effect.succeed(millis)
}

/** Spawns a thread for `index` and returns at once; `ready` says when it is ready, or why it did not start. */
const startThread = <W>(
  self: Threads<any, any, any, W>,
  index: number,
  replacing: WorkerPoolMetrics.ReplacedBecause | undefined
): Thread<W> => {
  const thread: Thread<W> = {
    index,
    raw: undefined,
    worker: undefined,
    fiber: undefined,
    timer: undefined,
    ready: Deferred.makeUnsafe(),
    state: "starting",
    pending: undefined
  }
  self.slots[index] = thread
  self.live.add(thread)
  self.started++
  if (replacing !== undefined) self.replaced[replacing]++
  const spawner: Worker.SpawnerFn = (id) => {
    thread.raw = self.platform.spawn(id)
    return thread.raw
  }
  // A thread that does not report ready in time is stopped, and fails to start.
  const timer = self.fork(Effect.andThen(
    Effect.sleep(self.startTimeout),
    Effect.sync(() => {
      if (thread.state !== "starting") return
      Deferred.doneUnsafe(
        thread.ready,
        Exit.fail(startFailed(self, `it did not report ready within ${self.startTimeout} ms`))
      )
      stop(self, thread)
    })
  ))
  thread.timer = timer
  const run = Effect.gen(function*() {
    const worker = yield* self.workers.spawn<Reply, Request>(index).pipe(
      Effect.provideService(Worker.Spawner, spawner)
    )
    thread.worker = worker
    // Once the thread has reported ready, a ping goes the whole way: the thread is ready when it answers, by which
    // time the platform sends straight to it (a message it buffered would fail its fiber if it could not be sent).
    return yield* worker.run((reply) => Effect.sync(() => received(thread, reply)), {
      onSpawn: Effect.orDie(worker.send(ping))
    })
  })
  const fiber = self.fork(run)
  thread.fiber = fiber
  fiber.addObserver((exit) => {
    thread.timer?.interruptUnsafe()
    exited(self, thread, exit)
  })
  return thread
}

const startFailed = (self: Threads<any, any, any, any>, reason: string): ThreadStartFailed =>
  new ThreadStartFailed({ pool: self.name, entry: self.platform.entry, reason })

/** A thread's reply to the job it runs: the job's attempt resumes with it. */
const received = (thread: Thread<any>, reply: Reply): void => {
  if (reply[0] === pingSeq) {
    thread.timer?.interruptUnsafe()
    if (thread.state === "starting") thread.state = "ready"
    Deferred.doneUnsafe(thread.ready, Exit.void)
    return
  }
  const pending = thread.pending
  if (pending === undefined || pending.seq !== reply[0]) return
  thread.pending = undefined
  if (thread.state === "busy") thread.state = "ready"
  Deferred.doneUnsafe(pending.reply, Exit.succeed(reply))
}

/**
 * A thread's fiber ended: it crashed, was stopped, or did not start. A job it was running fails with
 * `ThreadCrashed`, unless the job was stopped (then it settles as its stop says). A thread that was running or
 * ready is replaced at once while the pool is open; one that did not start is replaced when its slot next runs a
 * job, so that an entry file that cannot start does not spawn threads in a loop.
 */
const exited = (self: Threads<any, any, any, any>, thread: Thread<any>, exit: Exit.Exit<unknown, unknown>): void => {
  const before = thread.state
  thread.state = "exited"
  self.live.delete(thread)
  if (before === "starting") {
    Deferred.doneUnsafe(thread.ready, Exit.fail(startFailed(self, reasonOf(exit).reason)))
    return
  }
  const pending = thread.pending
  thread.pending = undefined
  if (before !== "stopping") self.crashed++
  // The replacement comes first: failing the job may run its worker's next job at once, on this slot.
  if (self.open && self.slots[thread.index] === thread) {
    startThread(self, thread.index, before === "stopping" ? "terminated" : "crashed")
  }
  if (pending !== undefined) {
    const { exitCode, reason } = before === "stopping"
      ? { exitCode: undefined, reason: "the thread was terminated" }
      : reasonOf(exit)
    Deferred.doneUnsafe(
      pending.reply,
      Exit.fail(
        new ThreadCrashed({
          pool: self.name,
          jobId: pending.jobId,
          thread: thread.index,
          ...(exitCode === undefined ? {} : { exitCode }),
          reason
        })
      )
    )
  }
}

/** What a thread's end says: its exit code when the platform gave one, and the error or exit it reported. */
const reasonOf = (
  exit: Exit.Exit<unknown, unknown>
): { readonly exitCode: number | undefined; readonly reason: string } => {
  if (Exit.isSuccess(exit)) return { exitCode: undefined, reason: "the thread closed" }
  const failure = Cause.squash(exit.cause) as { readonly reason?: { message?: string; cause?: unknown } }
  const reported = failure?.reason
  const cause = reported?.cause
  const message = cause instanceof Error ? `${cause.name}: ${cause.message}` : reported?.message ?? String(failure)
  const code = /exited with code: (-?\d+)/.exec(reported?.message ?? "")
  return { exitCode: code === null ? undefined : Number(code[1]), reason: message }
}

/** Terminates a thread at once, whatever it is doing; its fiber ends once the thread has exited. */
const stop = (self: Threads<any, any, any, any>, thread: Thread<any>): Effect.Effect<void> => {
  if (thread.state !== "exited" && thread.state !== "stopping") {
    if (thread.state === "busy") self.terminated++
    thread.state = thread.state === "starting" ? "starting" : "stopping"
    if (thread.raw !== undefined) self.platform.terminate(thread.raw)
    thread.fiber?.interruptUnsafe()
  }
  return thread.fiber === undefined ? Effect.void : Effect.asVoid(Fiber.await(thread.fiber))
}

/**
 * What a worker waits for before it takes a job: a slot whose thread is starting (the first time, or to replace
 * one) is out of service until the thread is ready, so that no job's run time or timeout includes a thread's
 * start. A thread that fails to start opens the gate too: the slot's next job then starts a thread itself, and
 * fails with `ThreadStartFailed` if that one does not start either.
 */
const gate = (self: Threads<any, any, any, any>, index: number): Effect.Effect<void> | undefined => {
  if (!self.open) return undefined
  const thread = self.slots[index] ?? startThread(self, index, undefined)
  return thread.state === "starting" ? Effect.ignore(Deferred.await(thread.ready)) : undefined
}

/** A worker gave up its slot: its thread goes too. */
const retire = (self: Threads<any, any, any, any>, index: number): void => {
  const thread = self.slots[index]
  if (thread === undefined) return
  self.slots[index] = undefined
  stop(self, thread)
}

/** The pool has closed: every thread is terminated, and this waits until all have exited. */
const stopAll = (self: Threads<any, any, any, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    self.open = false
    return Effect.forEach(Array.from(self.live), (thread) => stop(self, thread), { discard: true })
  })

const threadStats = (self: Threads<any, any, any, any>): ThreadStats => {
  let live = 0
  let starting = 0
  for (const thread of self.live) {
    live++
    if (thread.state === "starting") starting++
  }
  return {
    live,
    starting,
    started: self.started,
    terminated: self.terminated,
    crashed: self.crashed,
    replaced: self.replaced.terminated + self.replaced.crashed
  }
}

/**
 * The core pool's handler: runs one attempt of a job on its worker's thread. The input is encoded here, the reply
 * decoded here. A stop of the attempt while the thread runs it terminates the thread, and the attempt ends once the
 * thread has exited: the slot is held until then.
 */
const runOnThread = <I, A, E, W>(
  self: Threads<I, A, E, W>,
  input: I,
  job: WorkerPool.JobInfo
): Effect.Effect<A, E | ThreadError> =>
  Effect.suspend(() => {
    let thread = self.slots[job.worker]
    if (thread === undefined || thread.state === "exited" || thread.state === "stopping") {
      thread = startThread(self, job.worker, undefined)
    }
    const ready = thread
    const send = Effect.flatMap(
      encodeInput(self, input, job),
      ([encoded, transfers]) => sendJob(self, ready, encoded, transfers, job)
    )
    // the usual case: the slot's thread is ready (a worker waits at its slot's gate while the thread starts)
    if (ready.state === "ready") return send
    return Effect.flatMap(Deferred.await(ready.ready), () =>
      ready.state === "exited"
        ? runOnThread(self, input, job)
        : send)
  })

const encodeInput = <I, A, E, W>(
  self: Threads<I, A, E, W>,
  input: I,
  job: WorkerPool.JobInfo
): Effect.Effect<readonly [unknown, Array<unknown>], JobSchemaError> => {
  const collector = Transferable.makeCollectorUnsafe()
  return self.encodeInput(input).pipe(
    Effect.provideService(Transferable.Collector, collector),
    Effect.map((encoded) => [encoded, collector.clearUnsafe()] as const),
    Effect.mapError((error) => schemaError(self, job, "input", "encode", error.message))
  ) as Effect.Effect<readonly [unknown, Array<unknown>], JobSchemaError>
}

const sendJob = <I, A, E, W>(
  self: Threads<I, A, E, W>,
  thread: Thread<W>,
  encoded: unknown,
  transfers: Array<unknown>,
  job: WorkerPool.JobInfo
): Effect.Effect<A, E | ThreadError> => {
  const seq = ++self.seq
  const reply = Deferred.makeUnsafe<Reply, ThreadCrashed>()
  thread.pending = { seq, jobId: job.id, reply }
  thread.state = "busy"
  const request: Request = [
    seq,
    encoded,
    job.id,
    job.attempt,
    job.priority,
    job.key,
    job.startedAt,
    job.worker,
    job.pool
  ]
  return thread.worker!.send(request, transfers).pipe(
    Effect.catch((error) => {
      // Nothing reached the thread (the input could not be cloned): the thread is as it was.
      thread.pending = undefined
      if (thread.state === "busy") thread.state = "ready"
      return Effect.fail(schemaError(self, job, "input", "encode", `it could not be sent: ${messageOf(error)}`))
    }),
    Effect.andThen(Effect.suspend(() => {
      if (self.platform.notify !== undefined) self.platform.notify(thread.raw!)
      return Deferred.await(reply)
    })),
    Effect.onInterrupt(() => thread.pending?.seq === seq ? stop(self, thread) : Effect.void),
    Effect.flatMap((reply) => decodeReply(self, job, reply))
  )
}

const messageOf = (error: WorkerError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : error.message
}

const decodeReply = <I, A, E, W>(
  self: Threads<I, A, E, W>,
  job: WorkerPool.JobInfo,
  reply: Reply
): Effect.Effect<A, E | ThreadError> => {
  switch (reply[1]) {
    case Succeeded:
      return Effect.mapError(
        self.decodeSuccess(reply[2]),
        (error) => schemaError(self, job, "success", "decode", error.message)
      ) as Effect.Effect<A, JobSchemaError>
    case Failed:
      return Effect.matchEffect(self.decodeError(reply[2]), {
        onFailure: (error) => Effect.fail(schemaError(self, job, "error", "decode", error.message)),
        onSuccess: (error) => Effect.fail(error)
      }) as Effect.Effect<never, E | JobSchemaError>
    case Died:
      return Effect.die(errorOf(reply[2]))
    case Interrupted:
      return Effect.interrupt
    case SchemaFailed:
      return Effect.fail(schemaError(self, job, reply[2], reply[3], reply[4]))
  }
}

const schemaError = (
  self: Threads<any, any, any, any>,
  job: WorkerPool.JobInfo,
  side: "input" | "success" | "error",
  stage: "encode" | "decode",
  reason: string
): JobSchemaError => new JobSchemaError({ pool: self.name, jobId: job.id, side, stage, reason })
