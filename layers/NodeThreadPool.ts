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
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
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
  const platform: ThreadPool.Platform<WorkerThreads.Worker> = {
    entry: file,
    spawn: () =>
      new WorkerThreads.Worker(file, {
        ...(resourceLimits === undefined ? {} : { resourceLimits }),
        ...(execArgv === undefined ? {} : { execArgv: [...execArgv] })
      }),
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
  const served = ThreadPool.serve(definition, handler).pipe(Effect.provide(NodeWorkerRunner.layer))
  NodeRuntime.runMain(
    layer === undefined ? served as Effect.Effect<void, unknown> : Effect.provide(served, layer)
  )
}
