/**
 * This library's pool, and `Effect.forEach` with a concurrency limit as the Effect baseline.
 *
 * How the pool is driven, and why:
 *
 * - `pool-execute`: a fixed set of submitter fibers, each looping `pool.execute` until the shared job count is
 *   used up. There are `concurrency + min(concurrency, capacity / 2)` of them: enough to keep every worker busy
 *   and jobs queued (a worker that finishes a job always finds the next one waiting), while the queue stays below
 *   its capacity, so no submitter waits for room. This is how a service whose requests call `execute` loads a
 *   pool, minus the cost of forking a fiber per request, which belongs to the caller, not to the pool.
 * - `pool-execute-backpressure`: the same with `2 x concurrency + capacity` submitters, so that the queue is always
 *   full and `concurrency` submitters always wait for room: the cost of the default overflow, `"suspend"`.
 * - `pool-execute-all`: the same shape in one call, `executeAll` of every input.
 * - `pool-execute-stream`: every input as a stream (`Stream.fromIterable`, one chunk) through `executeStream` with
 *   its default concurrency (the pool's workers), drained.
 * - `pool-submit`: the shape of the promise peers' "add everything, then wait" usage. One producer fiber
 *   `submit`s every job (waiting for room when the queue is full: the default capacity 1024 and overflow
 *   `"suspend"`), then awaits every handle in order.
 * - latency (`stream`): each job is a fiber started from plain JavaScript with `Effect.runCallback`, the way an
 *   HTTP server enters Effect once per request.
 * - memory (`backlog`): one worker blocked on a `Latch`, a capacity as large as the backlog, jobs queued with
 *   `submit` (the handles are dropped: the pool retains the job, not the handle).
 *
 * The handler of the no-op job is the same `Effect.promise` of an async no-op for the pool and `Effect.forEach`,
 * built once: an effect is a description, so reusing it costs nothing.
 *
 * The cost-of-options case builds the pool with the options under test (`timeout`, `retry`, `rateLimit`) in
 * `makePool`, and gives every job its options (`priority`, `key`) from a cycle built before the measurement,
 * through the same `execute` loop as the throughput cases.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as MutableList from "effect/MutableList"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as EffectStream from "effect/Stream"
import * as path from "node:path"
import type * as WorkerPoolModule from "../../src/WorkerPool.ts"
import { args } from "../harness.ts"
import type { Backlog, Batch, BatchOptions, Implementation, JobKind, Stream } from "./contract.ts"

/** The pool under test: this checkout's, or with `--src=<dir>` the `src/` of another commit (see `--baseline`). */
const WorkerPool: typeof WorkerPoolModule = await import(
  args.src === undefined ? "../../src/WorkerPool.ts" : path.resolve(args.src, "WorkerPool.ts")
)

const asyncNoop = async (): Promise<void> => {}

const jobEffect = (job: JobKind): Effect.Effect<void> =>
  job.kind === "noop" ? Effect.promise(asyncNoop) : Effect.sleep(Duration.millis(job.millis))

/** The pool's default capacity: submitters beyond `concurrency + capacity` would wait for room. */
const defaultCapacity = 1024

/** Runs `effect` and returns the milliseconds it took. */
const timed = <E>(effect: Effect.Effect<unknown, E>): Effect.Effect<number, E> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.map(effect, () => performance.now() - start)
  })

const makePool = ({ concurrency, job, metrics, rateLimit, retry, timeout }: BatchOptions) => {
  const handle = jobEffect(job)
  // The pool validates its options: a malformed timeout or rate limit fails the run with InvalidPoolOptions.
  return WorkerPool.make({
    handler: (_: void) => handle,
    concurrency,
    timeout: timeout as Duration.Input | undefined,
    retry: retry === undefined ? undefined : Schedule.recurs(retry),
    rateLimit: rateLimit === undefined
      ? undefined
      : { limit: rateLimit.limit, interval: rateLimit.interval as Duration.Input },
    metrics
  })
}

/**
 * The options of the jobs, taken in turn, one per job (`undefined`: the jobs have none): priorities cycling through
 * `1..priorities`, keys through `keys` distinct strings. Built before the measurement, so that submitting a job
 * allocates nothing for its options.
 */
const jobOptionsCycle = (
  { keys, priorities }: BatchOptions
): ReadonlyArray<WorkerPoolModule.JobOptions> | undefined => {
  if (keys === undefined && priorities === undefined) return undefined
  return Array.from({ length: (keys ?? 1) * (priorities ?? 1) }, (_, i) => ({
    ...(priorities === undefined ? {} : { priority: 1 + (i % priorities) }),
    ...(keys === undefined ? {} : { key: `key-${i % keys}` })
  }))
}

/** The two passes of a batch on one instance (see `Batch`), for the implementations written as effects. */
const twoPasses = <E>(
  pass: (jobs: number) => Effect.Effect<number, E>,
  jobs: number,
  warmup: number,
  between: () => void
): Effect.Effect<number, E> =>
  Effect.gen(function*() {
    if (warmup > 0) yield* pass(warmup)
    between()
    return yield* pass(jobs)
  })

/** Builds a pool (or the hand-off floor) in a scope of its own, for callers outside Effect; `close` closes it. */
const openScoped = async <A>(
  make: Effect.Effect<A, unknown, Scope.Scope>
): Promise<{ readonly value: A; readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const value = await Effect.runPromise(Scope.provide(make, scope))
  return { value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The latency case's source: each job a fiber started from plain JavaScript, running `execute`. */
const streamOf = (execute: Effect.Effect<unknown, unknown>, close: () => Promise<void>): Stream => ({
  submit: (onDone) => {
    Effect.runCallback(execute, { onExit: (exit) => onDone(Exit.isFailure(exit)) })
  },
  close
})

// -----------------------------------------------------------------------------
// Effect.forEach
// -----------------------------------------------------------------------------

export const effectForEach: Implementation = {
  batch: ({ concurrency, job, jobs }, warmup, between) => {
    const run = jobEffect(job)
    return Effect.runPromise(
      twoPasses(
        (count) => timed(Effect.forEach(Array.from({ length: count }), () => run, { concurrency, discard: true })),
        jobs,
        warmup,
        between
      )
    )
  }
}

/**
 * `Effect.forEach` again, run by `run.ts` with V8's allocation-site pretenuring off: with it on (the default), V8
 * may decide early in a run to allocate the fibers' short-lived objects in the old generation, and the row then runs
 * at a fraction of its speed; off, the run is not left to that decision.
 */
export const effectForEachNoPretenuring: Implementation = effectForEach

// -----------------------------------------------------------------------------
// the pool
// -----------------------------------------------------------------------------

/** How a driver calls an implementation: once per job, with the job's options (`undefined`: it has none). */
type Execute = (jobOptions: WorkerPoolModule.JobOptions | undefined) => Effect.Effect<unknown, unknown>

/**
 * Drives an implementation's `execute` with `submitters(concurrency)` fibers, each looping it until the shared job
 * count is used up. `make` builds the implementation in the batch's scope.
 */
const executeBatch = <E>(
  make: (options: BatchOptions) => Effect.Effect<Execute, E, Scope.Scope>,
  submitters: (concurrency: number) => number
): Batch =>
(options, warmup, between) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const execute = yield* make(options)
    const cycle = jobOptionsCycle(options)
    let remaining = 0
    let next = 0 // the job's place in `cycle`
    const submitter = Effect.whileLoop({
      while: () => remaining > 0,
      body: cycle === undefined
        ? () => {
          remaining--
          return execute(undefined)
        }
        : () => {
          remaining--
          const jobOptions = cycle[next]
          next = next + 1 === cycle.length ? 0 : next + 1
          return execute(jobOptions)
        },
      step: () => {}
    })
    const fibers = Array.from({ length: submitters(options.concurrency) })
    const submitting = options.traced === true ? Effect.withSpan(submitter, "submitter") : submitter
    const pass = (count: number) =>
      Effect.suspend(() => {
        remaining = count
        return timed(Effect.forEach(fibers, () => submitting, { concurrency: "unbounded", discard: true }))
      })
    return yield* twoPasses(pass, options.jobs, warmup, between)
  })))

/** Enough submitters to keep every worker busy and jobs queued, never enough to fill the pool's queue. */
const busySubmitters = (concurrency: number): number => concurrency + Math.min(concurrency, defaultCapacity / 2)

const poolExecutor = (options: BatchOptions) =>
  Effect.map(
    makePool(options),
    (pool): Execute => (jobOptions) => jobOptions === undefined ? pool.execute() : pool.execute(undefined, jobOptions)
  )

export const poolExecute: Implementation = {
  batch: executeBatch(poolExecutor, busySubmitters),
  stream: async (concurrency): Promise<Stream> => {
    const { close, value: pool } = await openScoped(makePool({ concurrency, jobs: 0, job: { kind: "noop" } }))
    return streamOf(pool.execute(), close)
  }
}

/** `execute` past the queue's capacity: `concurrency` submitters always wait for room (overflow `"suspend"`). */
export const poolExecuteBackpressure: Implementation = {
  batch: executeBatch(poolExecutor, (concurrency) => 2 * concurrency + defaultCapacity)
}

export const poolSubmit: Implementation = {
  batch: (options, warmup, between) =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const pool = yield* makePool(options)
      const cycle = jobOptionsCycle(options)
      const pass = (count: number) =>
        timed(Effect.gen(function*() {
          const handles: Array<WorkerPoolModule.JobHandle<void, unknown>> = []
          for (let i = 0; i < count; i++) {
            handles.push(yield* (cycle === undefined ? pool.submit() : pool.submit(undefined, cycle[i % cycle.length])))
          }
          for (let i = 0; i < count; i++) yield* handles[i].await
        }))
      return yield* twoPasses(pass, options.jobs, warmup, between)
    }))),
  backlog: async (capacity): Promise<Backlog> => {
    const latch = Latch.makeUnsafe(false)
    const { value: pool } = await openScoped(WorkerPool.make({
      handler: (blocking: boolean) => blocking ? Latch.await(latch) : Effect.void,
      capacity
    }))
    await Effect.runPromise(pool.submit(true))
    while (Effect.runSync(pool.stats).running === 0) await new Promise((resolve) => setImmediate(resolve))
    return {
      fill: (jobs) =>
        Effect.runPromise(Effect.gen(function*() {
          for (let i = 0; i < jobs; i++) yield* pool.submit(false)
        }))
    }
  }
}

/**
 * A batch that hands every input to the pool in one call (`run`), timed until it returns: the inputs are built before
 * the clock starts.
 */
const oneCallBatch = (
  run: (
    pool: WorkerPoolModule.WorkerPool<void, void, never>,
    inputs: ReadonlyArray<void>
  ) => Effect.Effect<unknown, unknown>
): Batch =>
(options, warmup, between) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const pool = yield* makePool(options)
    const pass = (count: number) =>
      Effect.suspend(() => {
        const inputs: Array<void> = new Array(count).fill(undefined)
        return timed(run(pool, inputs))
      })
    return yield* twoPasses(pass, options.jobs, warmup, between)
  })))

/** The seeds' shape in one call: `executeAll` of every input, which returns the results in input order. */
export const poolExecuteAll: Implementation = {
  batch: oneCallBatch((pool, inputs) => pool.executeAll(inputs))
}

// -----------------------------------------------------------------------------
// the hand-off floor
// -----------------------------------------------------------------------------

/**
 * A caller's job in the hand-off floor: how to resume the caller, and whether it gave the job up. It is also the
 * effect the caller runs if it is interrupted while it waits, which gives the job up: one object per job.
 */
class Handoff extends Effectable.Class<void> {
  readonly resume: (exit: Exit.Exit<void>) => void
  cancelled = false
  constructor(resume: (exit: Exit.Exit<void>) => void) {
    super()
    this.resume = resume
  }
  asEffect(): Effect.Effect<void> {
    this.cancelled = true
    return Effect.void
  }
}

/**
 * The least a pool of worker fibers can do: `concurrency` fibers take jobs from a `MutableList`, and a caller waits
 * in `Effect.callback` with a cancel effect that withdraws its job. A new job wakes the idle worker on top of a
 * stack, inline, as the pool does, and a worker's loop is built once, as the pool's is. No ids, clock, timeouts,
 * statistics, queue bound or shutdown: what the hand-off itself costs on Effect, measured with the pool's driver.
 */
const makeHandoff = ({ concurrency, job }: BatchOptions): Effect.Effect<Execute, never, Scope.Scope> =>
  Effect.gen(function*() {
    const handler = Effect.exit(jobEffect(job))
    const queue = MutableList.make<Handoff>()
    const idle: Array<(exit: Exit.Exit<void>) => void> = []
    const waitForJob = Effect.callback<void>((resume) => {
      idle.push(resume)
    })
    const worker = (): Effect.Effect<void> => {
      let current: Handoff | undefined
      const loop: Effect.Effect<void> = Effect.suspend(() => {
        let next = MutableList.take(queue)
        while (next !== MutableList.Empty && next.cancelled) next = MutableList.take(queue)
        if (next === MutableList.Empty) return idleThenLoop
        current = next
        return run
      })
      const run = Effect.flatMap(handler, (exit) => {
        current!.resume(exit)
        return loop
      })
      const idleThenLoop = Effect.andThen(waitForJob, loop)
      return loop
    }
    for (let i = 0; i < concurrency; i++) yield* Effect.forkScoped(worker())
    return () =>
      Effect.callback<void>((resume) => {
        const handoff = new Handoff(resume)
        MutableList.append(queue, handoff)
        idle.pop()?.(Exit.void)
        return handoff
      })
  })

export const effectHandoff: Implementation = {
  batch: executeBatch(makeHandoff, busySubmitters),
  stream: async (concurrency): Promise<Stream> => {
    const { close, value: execute } = await openScoped(makeHandoff({ concurrency, jobs: 0, job: { kind: "noop" } }))
    return streamOf(execute(undefined), close)
  }
}

/** Every input as a stream through `executeStream`, with its default concurrency, the results drained. */
export const poolExecuteStream: Implementation = {
  batch: oneCallBatch((pool, inputs) => EffectStream.runDrain(pool.executeStream(EffectStream.fromIterable(inputs))))
}
