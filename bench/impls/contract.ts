/**
 * What an implementation under test provides. Each case uses one of four shapes:
 *
 * - `batch`: run a fixed number of jobs at a given concurrency and report how long they took (throughput, timers,
 *   scale, the cost of options);
 * - `stream`: accept jobs one at a time from a steady source and call back when each one is done (latency);
 * - `backlog`: hold jobs queued behind a blocked worker (memory);
 * - `threads`: start a pool of threads and run jobs on them (the thread cases).
 *
 * The durable queue cases (`durable-*`) drive queues across processes instead (`durable.ts`, `loadDurable`).
 *
 * Implementations live in `promise.ts` (the peers), `effect.ts` (this library, `Effect.forEach` and the hand-off
 * floor) and `threads.ts` (this library's thread pool, piscina, tinypool and the main thread alone); a case process
 * loads only the module it needs, so a peer's process never loads `effect`.
 */
import type { DurableImplementation } from "./durable.ts"

/** The job every implementation runs: an async no-op, or a timer. */
export type JobKind =
  | { readonly kind: "noop" }
  | { readonly kind: "sleep"; readonly millis: number }

export interface BatchOptions {
  readonly jobs: number
  readonly concurrency: number
  readonly job: JobKind
  /**
   * The pool's default job timeout (a `Duration.Input` string such as `"1 minute"`). This and the fields below are
   * the options under test in the "cost of options" case; other implementations ignore them.
   */
  readonly timeout?: string | undefined
  /** The pool's `retry`: `Schedule.recurs(retry)`. The no-op jobs never fail, so nothing is ever retried. */
  readonly retry?: number | undefined
  /** Every job gets a `priority`, cycling through `1, 2, ..., priorities` in submission order. */
  readonly priorities?: number | undefined
  /** Every job gets a `key`, cycling through `keys` distinct keys in submission order. */
  readonly keys?: number | undefined
  /** The pool's `rateLimit` (`interval` a `Duration.Input` string such as `"1 millis"`). */
  readonly rateLimit?: { readonly limit: number; readonly interval: string } | undefined
  /** The pool's `metrics` (default `true`). */
  readonly metrics?: boolean | undefined
  /** Every submitter runs inside a span, so that every job runs in a span of its own (`WorkerPool.job`). */
  readonly traced?: boolean | undefined
}

/**
 * Makes one instance (a pool, a queue, a limiter), runs `warmup` jobs through it, calls `between` (the case collects
 * garbage there), then runs `jobs` jobs through the same instance at `concurrency`, as a service keeps one pool for
 * its lifetime. Resolves with the milliseconds the second pass took, set-up and tear-down excluded.
 */
export type Batch = (options: BatchOptions, warmup: number, between: () => void) => Promise<number>

/** The two passes of a batch on one instance: `pass(n)` runs `n` jobs and resolves with the milliseconds it took. */
export const warmThenMeasure = async (
  pass: (jobs: number) => Promise<number>,
  jobs: number,
  warmup: number,
  between: () => void
): Promise<number> => {
  if (warmup > 0) await pass(warmup)
  between()
  return pass(jobs)
}

/** A queue that takes jobs from plain JavaScript callers. */
export interface Stream {
  /** Submits one no-op job; `onDone` runs when its result reaches the caller (`failed` when it did not succeed). */
  readonly submit: (onDone: (failed: boolean) => void) => void
  readonly close: () => Promise<void>
}

export type MakeStream = (concurrency: number) => Promise<Stream>

/** A queue whose only worker is blocked, so that every job it is given stays queued. */
export interface Backlog {
  /** Queues `jobs` more jobs; resolves once they are all accepted (none can start). */
  readonly fill: (jobs: number) => Promise<void>
}

export type MakeBacklog = (capacity: number) => Promise<Backlog>

/** The job a pool of threads runs (`bench/threads/jobs.ts`): the CPU-bound one, or the tiny one (`n + 1`). */
export type ThreadJob = "cpu" | "tiny"

/** A pool of threads, ready to run jobs. */
export interface Threads {
  /**
   * Submits every input at once, each a job, and resolves with the results in input order once every job is done
   * (rejects if any failed).
   */
  readonly runAll: (inputs: ReadonlyArray<number>) => Promise<ReadonlyArray<number>>
  readonly close: () => Promise<void>
}

/**
 * Starts a pool of `threads` threads running `job` and resolves once it is ready, by the implementation's own
 * signal (see `threads.ts`).
 */
export type StartThreads = (job: ThreadJob, threads: number) => Promise<Threads>

/**
 * Imports what the implementation needs on this thread, then says how to start a pool: the start-up case times
 * the start, not the imports (a program has its modules loaded before it builds a pool).
 */
export type LoadThreads = () => Promise<StartThreads>

export interface Implementation {
  readonly batch?: Batch | undefined
  readonly stream?: MakeStream | undefined
  readonly backlog?: MakeBacklog | undefined
  readonly threads?: LoadThreads | undefined
}

/** Implementation names, as `run.ts` passes them with `--impl=`. */
export const implementations = {
  floor: "promise",
  semaphore: "promise",
  fastq: "promise",
  "p-limit": "promise",
  "p-queue": "promise",
  "fastq-each": "promise",
  "p-queue-each": "promise",
  "effect-forEach": "effect",
  "effect-forEach-no-pretenuring": "effect",
  "effect-handoff": "effect",
  "pool-execute": "effect",
  "pool-execute-backpressure": "effect",
  "pool-submit": "effect",
  "pool-execute-all": "effect",
  "pool-execute-stream": "effect",
  "thread-pool": "threads",
  piscina: "threads",
  tinypool: "threads",
  "main-thread": "threads",
  "durable-redis": "durable",
  "durable-redis-stock": "durable",
  "persisted-redis-ewp": "durable",
  "persisted-redis-stock": "durable",
  bullmq: "durable",
  "durable-pg": "durable",
  "persisted-pg": "durable"
} as const

export type ImplementationName = keyof typeof implementations

/** Loads one implementation, importing only its own module. */
export const load = async (name: string): Promise<Implementation> => {
  if (!(name in implementations)) throw new Error(`unknown implementation ${JSON.stringify(name)}`)
  const kind = implementations[name as ImplementationName]
  if (kind === "durable") throw new Error(`${name} is a durable queue: load it with loadDurable`)
  const module: Readonly<Record<string, Implementation>> = kind === "promise"
    ? await import("./promise.ts")
    : kind === "effect"
    ? await import("./effect.ts")
    : await import("./threads.ts")
  const implementation = module[camelCase(name)]
  if (implementation === undefined) throw new Error(`implementation ${name} is not exported`)
  return implementation
}

/** Loads one durable queue implementation (`durable.ts`); its own modules load when it makes a producer or consumer. */
export const loadDurable = async (name: string): Promise<DurableImplementation> => {
  if (implementations[name as ImplementationName] !== "durable") throw new Error(`${name} is not a durable queue`)
  const module = (await import("./durable.ts")) as unknown as Readonly<Record<string, DurableImplementation>>
  const implementation = module[camelCase(name)]
  if (implementation === undefined) throw new Error(`implementation ${name} is not exported`)
  return implementation
}

const camelCase = (name: string): string => name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())
