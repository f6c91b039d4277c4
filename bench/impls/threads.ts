/**
 * Pools of threads: this library's `NodeThreadPool`, piscina and tinypool, and the main thread with no pool. Each
 * thread runs the same job functions (`bench/threads/jobs.ts`), from an entry file of its library
 * (`bench/threads/*.worker.ts`). Every module is imported when the implementation is loaded, before any timing, so
 * that a peer's process never loads `effect` and the start-up case times the start of the pool alone.
 *
 * What "ready" means, for the start-up case:
 *
 * - `thread-pool`: `NodeThreadPool.make` returns, which it does once every thread has loaded its entry file and
 *   answered a first message (a ping).
 * - `piscina` and `tinypool`: every thread has posted the "ready" message its library's thread sends once it has
 *   loaded the task's module (`{ _WORKER_READY: true }` for piscina, `{ ready: true }` for tinypool). Neither
 *   library waits for that message itself: a pool is usable as soon as it is constructed, and tasks posted before a
 *   thread is ready wait in its port. The threads are listened to from the pool's `threads` list, right after the
 *   constructor has spawned them (it does so synchronously, with `minThreads` equal to `maxThreads`), before any of
 *   them can have posted.
 *
 * How jobs are submitted (`runAll`): all at once. The peers: `Promise.all(inputs.map((n) => pool.run(n)))`. The
 * pool: one fiber submits every job (`pool.submit`), then awaits each handle in turn (`--driver=submit`, the
 * default); `--driver=forEach` runs `Effect.forEach(inputs, (n) => pool.execute(n), { concurrency: "unbounded" })`
 * instead, a fiber per job. The peers' queues are unbounded by default; the pool has no unbounded queue, so its
 * `capacity` is set above any batch of the cases, so that no job waits for room.
 */
import type * as EffectModule from "effect/Effect"
import { args } from "../harness.ts"
import type { Implementation, ThreadJob, Threads } from "./contract.ts"

const entryOf = (job: ThreadJob, library: "ours" | "peer"): URL =>
  new URL(`../threads/${job}.${library}.worker.ts`, import.meta.url)

/** Above any batch of the thread cases: the pool's queue never makes a submitter wait. */
const capacity = 1_000_000

// -----------------------------------------------------------------------------
// this library
// -----------------------------------------------------------------------------

export const threadPool: Implementation = {
  threads: async () => {
    const [Effect, Exit, Scope, NodeThreadPool, { Cpu, Tiny }] = await Promise.all([
      import("effect/Effect"),
      import("effect/Exit"),
      import("effect/Scope"),
      import("../../layers/NodeThreadPool.ts"),
      import("../threads/definitions.ts")
    ])
    const driver = args.driver ?? "submit"
    if (driver !== "submit" && driver !== "forEach") throw new Error("--driver must be submit or forEach")
    return async (job, threads) => {
      const scope = Effect.runSync(Scope.make())
      const pool = await Effect.runPromise(
        Scope.provide(
          NodeThreadPool.make(job === "cpu" ? Cpu : Tiny, {
            entry: entryOf(job, "ours"),
            concurrency: threads,
            capacity
          }),
          scope
        )
      )
      const all = (inputs: ReadonlyArray<number>): EffectModule.Effect<ReadonlyArray<number>, unknown> =>
        driver === "submit"
          ? Effect.flatMap(
            Effect.forEach(inputs, (n) => pool.submit(n)),
            (handles) => Effect.forEach(handles, (handle) => handle.await)
          )
          : Effect.forEach(inputs, (n) => pool.execute(n), { concurrency: "unbounded" })
      return {
        runAll: (inputs) => Effect.runPromise(all(inputs)),
        close: () => Effect.runPromise(Scope.close(scope, Exit.void))
      }
    }
  }
}

// -----------------------------------------------------------------------------
// the peers
// -----------------------------------------------------------------------------

/** The threads of a peer, each listened to for the message it posts once it has loaded the task's module. */
interface Listenable {
  readonly on: (event: "message", listener: (message: unknown) => void) => unknown
}

const allReady = (threads: ReadonlyArray<Listenable>, count: number, isReady: (message: unknown) => boolean) => {
  if (threads.length !== count) throw new Error(`expected ${count} threads at construction, found ${threads.length}`)
  return Promise.all(threads.map((thread) =>
    new Promise<void>((resolve) => {
      thread.on("message", (message) => {
        if (isReady(message)) resolve()
      })
    })
  ))
}

const field = (message: unknown, key: string): unknown =>
  typeof message === "object" && message !== null ? (message as Record<string, unknown>)[key] : undefined

export const piscina: Implementation = {
  threads: async () => {
    const { Piscina } = await import("piscina")
    return async (job, threads) => {
      const pool = new Piscina<number, number>({
        filename: entryOf(job, "peer").href,
        minThreads: threads,
        maxThreads: threads
      })
      await allReady(pool.threads, threads, (message) => field(message, "_WORKER_READY") === true)
      return {
        runAll: (inputs) => Promise.all(inputs.map((n) => pool.run(n))),
        close: () => pool.destroy()
      }
    }
  }
}

export const tinypool: Implementation = {
  threads: async () => {
    const { Tinypool } = await import("tinypool")
    return async (job, threads) => {
      const pool = new Tinypool({ filename: entryOf(job, "peer").href, minThreads: threads, maxThreads: threads })
      // `threads` lists tinypool's wrappers of its `Worker`s, which forward `on` to them
      await allReady(
        pool.threads as unknown as ReadonlyArray<Listenable>,
        threads,
        (message) => field(message, "ready") === true
      )
      return {
        runAll: (inputs) => Promise.all(inputs.map((n): Promise<number> => pool.run(n))),
        close: () => pool.destroy()
      }
    }
  }
}

// -----------------------------------------------------------------------------
// no pool
// -----------------------------------------------------------------------------

/** The jobs one after the other on the main thread: what the pools are there to beat. */
export const mainThread: Implementation = {
  threads: async () => {
    const { cpuJob, tinyJob } = await import("../threads/jobs.ts")
    return async (job, threads) => {
      if (threads !== 1) throw new Error("the main thread is one thread")
      const run = job === "cpu" ? (n: number) => cpuJob(n) : tinyJob
      const pool: Threads = { runAll: async (inputs) => inputs.map(run), close: async () => {} }
      return pool
    }
  }
}
