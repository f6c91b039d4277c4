/**
 * The thread pool on Node: each worker of the pool owns a `worker_threads` thread started from an entry file. Node
 * 24 runs a plain `.ts` entry file with no build step.
 *
 * ```ts
 * // resize.ts, imported by both sides
 * export const Resize = ThreadPool.define({ input: Image, success: Thumb, error: ResizeError })
 * // resize.worker.ts, the entry file
 * NodeThreadPool.serve(Resize, (image) => resize(image))
 * // the app
 * const pool = yield* NodeThreadPool.make(Resize, { entry: new URL("./resize.worker.ts", import.meta.url) })
 * ```
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { WorkerError, WorkerReceiveError, WorkerSpawnError } from "effect/workers/WorkerError"
import * as WorkerRunner from "effect/workers/WorkerRunner"
import * as Os from "node:os"
import * as Url from "node:url"
import * as WorkerThreads from "node:worker_threads"
import * as ThreadPool from "../src/ThreadPool.ts"
import type * as WorkerPool from "../src/WorkerPool.ts"
import type { InvalidPoolOptions, ThreadStartFailed } from "../src/WorkerPoolError.ts"

/**
 * The options of a thread pool on Node: a thread pool's options (every core setting, `retry`, `startTimeout`), the
 * entry file, and what each thread is started with.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<E> extends ThreadPool.Options<E> {
  /** The entry file each thread runs: it calls `serve` for the same definition. */
  readonly entry: string | URL
  /**
   * Threads, one per worker. Default: the number of cores available to the process
   * (`os.availableParallelism()`). `{ min, max, idleTimeout }` starts and stops threads with workers.
   */
  readonly concurrency?: number | WorkerPool.Concurrency | undefined
  /** Limits of each thread's heap and stack; a thread that runs out of memory crashes alone. */
  readonly resourceLimits?: WorkerThreads.ResourceLimits | undefined
  /** Node options of each thread (`execArgv`). Default: the process's own. */
  readonly execArgv?: ReadonlyArray<string> | undefined
}

/**
 * Builds a thread pool in the current scope; it is ready once every first thread has reported ready.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <I, A, E>(
  definition: ThreadPool.Definition<I, A, E>,
  options: Options<E>
): Effect.Effect<ThreadPool.ThreadPool<I, A, E>, InvalidPoolOptions | ThreadStartFailed, Scope.Scope> => {
  const { entry, resourceLimits, execArgv, ...settings } = options
  const file = typeof entry === "string" ? entry : Url.fileURLToPath(entry)
  const signals = new WeakMap<WorkerThreads.Worker, Int32Array>()
  const platform: ThreadPool.Platform<WorkerThreads.Worker> = {
    entry: file,
    spawn: () => {
      const signal = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT))
      const thread = new WorkerThreads.Worker(file, {
        workerData: { [signalKey]: signal },
        ...(resourceLimits === undefined ? {} : { resourceLimits }),
        ...(execArgv === undefined ? {} : { execArgv: [...execArgv] })
      })
      signals.set(thread, signal)
      return thread
    },
    notify: (thread) => {
      const signal = signals.get(thread)
      if (signal === undefined) return
      Atomics.add(signal, 0, 1)
      Atomics.notify(signal, 0, 1)
    },
    terminate: (thread) => {
      void thread.terminate()
    }
  }
  return ThreadPool.make(definition, platform, {
    ...settings,
    concurrency: settings.concurrency ?? Os.availableParallelism()
  }).pipe(Effect.provide(NodeWorker.layerPlatform))
}

/**
 * Provides a thread pool as the service `tag`, exactly as `WorkerPool.layer` provides a fiber pool: swap one for
 * the other to move a job between fibers and threads.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <Id, I, A, E>(
  tag: Context.Key<Id, WorkerPool.WorkerPool<I, A, E | ThreadPool.ThreadError>>,
  definition: ThreadPool.Definition<I, A, E>,
  options: Options<E>
): Layer.Layer<Id, InvalidPoolOptions | ThreadStartFailed> => Layer.effect(tag, make(definition, options))

/**
 * Serves a definition's handler on this thread: the whole of an entry file. `layer` provides what the handler
 * needs, built once per thread.
 *
 * **Gotchas**
 *
 * Between jobs a thread waits for its next one outside its event loop (`Atomics.wait`), for up to 10 ms at a time:
 * a wake-up through the event loop costs more than a short job. Work that a handler leaves running after its job
 * (a timer, a forked fiber) goes on when the thread is back in its event loop, at least every 10 ms.
 *
 * @category constructors
 * @since 0.1.0
 */
export const serve: {
  <I, A, E>(
    definition: ThreadPool.Definition<I, A, E>,
    handler: (input: I, job: WorkerPool.JobInfo) => Effect.Effect<A, E>
  ): void
  <I, A, E, R, LE>(
    definition: ThreadPool.Definition<I, A, E>,
    handler: (input: I, job: WorkerPool.JobInfo) => Effect.Effect<A, E, R>,
    layer: Layer.Layer<R, LE>
  ): void
} = <I, A, E, R, LE>(
  definition: ThreadPool.Definition<I, A, E>,
  handler: (input: I, job: WorkerPool.JobInfo) => Effect.Effect<A, E, R>,
  layer?: Layer.Layer<R, LE>
): void => {
  const served = ThreadPool.serve(definition, handler).pipe(Effect.provide(layerRunner))
  NodeRuntime.runMain(
    layer === undefined ? served as Effect.Effect<void, unknown> : Effect.provide(served, layer)
  )
}

// -----------------------------------------------------------------------------
// the thread side
// -----------------------------------------------------------------------------

/** The key of the thread's `workerData` entry that holds its wake-up counter. */
const signalKey = "effect-worker-pool/NodeThreadPool/signal"

/**
 * How long a thread waits for its next job outside its event loop, and how long it may run jobs that way before
 * it lets the event loop take a turn (timers, I/O, fibers scheduled by a handler).
 */
const parkMillis = 10

/**
 * The `WorkerRunnerPlatform` of a thread of the pool: `@effect/platform-node`'s `NodeWorkerRunner` (the same
 * messages on `parentPort`), plus a fast path for the next job. Every request of the pool gets one reply; once a
 * thread has replied to every request it has and nothing else waits to be written, it waits for the next message
 * with `Atomics.wait` on a counter that the pool increments after each message it posts (`notify`), and reads the
 * messages with `receiveMessageOnPort`: a wake-up through the event loop costs more than the tiny job it delivers.
 * It waits so for at most `parkMillis` at a time, then goes back to its event loop; a thread with no job in that
 * time waits for the next one in its event loop, as usual.
 */
const layerRunner = Layer.effect(
  WorkerRunner.WorkerRunnerPlatform,
  Effect.map(Clock.Clock, (clock) =>
    WorkerRunner.WorkerRunnerPlatform.of({
      start: <O, I>() =>
        Effect.suspend(() => {
          const port = WorkerThreads.parentPort
          if (port === null) {
            return Effect.fail(new WorkerError({ reason: new WorkerSpawnError({ message: "not in a worker thread" }) }))
          }
          return Effect.succeed(makeRunner<O, I>(port, signalOf(WorkerThreads.workerData), clock))
        })
    }))
)

const signalOf = (data: unknown): Int32Array | undefined => {
  const signal = typeof data === "object" && data !== null ? (data as Record<string, unknown>)[signalKey] : undefined
  return signal instanceof Int32Array ? signal : undefined
}

const makeRunner = <O, I>(
  port: WorkerThreads.MessagePort,
  signal: Int32Array | undefined,
  clock: Clock.Clock
): WorkerRunner.WorkerRunner<O, I> => {
  /** requests received and not yet replied to */
  let outstanding = 0
  /** the counter's value when the messages were last read */
  let seen = 0
  let parking = false
  let scheduled = false
  let closed = false
  let onMessage: (message: WorkerRunner.PlatformMessage<I>) => void = () => {}

  const park = (): void => {
    scheduled = false
    if (!mayPark()) return
    parking = true
    const until = clock.currentTimeMillisUnsafe() + parkMillis
    let handled = 0
    while (!closed && outstanding === 0) {
      const left = until - clock.currentTimeMillisUnsafe()
      if (left <= 0) break
      Atomics.wait(signal!, 0, seen, left)
      // read the counter before the messages: a message posted after this read also moves the counter
      seen = Atomics.load(signal!, 0)
      let entry = WorkerThreads.receiveMessageOnPort(port)
      while (entry !== undefined) {
        handled++
        onMessage(entry.message as WorkerRunner.PlatformMessage<I>)
        entry = closed ? undefined : WorkerThreads.receiveMessageOnPort(port)
      }
    }
    parking = false
    // a thread that ran jobs in this turn waits for the next one the same way after a turn of its event loop
    if (handled > 0) schedulePark()
  }
  const mayPark = (): boolean =>
    signal !== undefined && !closed && outstanding === 0 && process.stdout.writableLength === 0 &&
    process.stderr.writableLength === 0
  const schedulePark = (): void => {
    if (scheduled || parking || !mayPark()) return
    scheduled = true
    setImmediate(park)
  }

  const sendUnsafe = (_port: number, message: O, transfers?: ReadonlyArray<unknown>): void => {
    port.postMessage([1, message], transfers as Array<WorkerThreads.Transferable> | undefined)
    if (outstanding > 0) outstanding--
    schedulePark()
  }

  const run = <A, E, R>(
    handler: (portId: number, message: I) => Effect.Effect<A, E, R> | void
  ): Effect.Effect<void, WorkerError, R> =>
    Effect.scopedWith((scope) =>
      Effect.gen(function*() {
        const done = Deferred.makeUnsafe<void, WorkerError>()
        const track = Fiber.runIn(scope)
        const runFork = Effect.runForkWith(yield* Effect.context<R>())
        const onExit = (exit: Exit.Exit<unknown, unknown>): void => {
          if (exit._tag === "Failure" && !Cause.hasInterruptsOnly(exit.cause)) {
            runFork(Effect.logError("unhandled error in worker", exit.cause))
          }
        }
        onMessage = (message) => {
          if (message[0] === 0) {
            outstanding++
            const result = handler(0, message[1])
            if (Effect.isEffect(result)) {
              const fiber = runFork(result)
              fiber.addObserver(onExit)
              track(fiber)
            }
            return
          }
          closed = true
          port.close()
          Deferred.doneUnsafe(done, Exit.void)
        }
        const onEvent = (message: unknown) => onMessage(message as WorkerRunner.PlatformMessage<I>)
        const failed = (message: string) => (cause: unknown) =>
          Deferred.doneUnsafe(done, Exit.fail(new WorkerError({ reason: new WorkerReceiveError({ message, cause }) })))
        const onMessageError = failed("received messageerror event")
        const onError = failed("received error event")
        port.on("message", onEvent)
        port.on("messageerror", onMessageError)
        port.on("error", onError)
        yield* Scope.addFinalizer(
          scope,
          Effect.sync(() => {
            closed = true
            port.off("message", onEvent)
            port.off("messageerror", onMessageError)
            port.off("error", onError)
          })
        )
        port.postMessage([0])
        return yield* Deferred.await(done)
      })
    )

  return {
    run,
    sendUnsafe,
    send: (portId, message, transfers) => Effect.sync(() => sendUnsafe(portId, message, transfers))
  }
}
