/**
 * A pool that grows from 2 to 6 workers under bursts of traffic and shrinks back when the bursts are over.
 *
 * This is the "Dynamic Worker Pool" program of the Go tutorial: a queue of 20, bursts of 10, 15 and 5 jobs with
 * pauses between them, jobs that work 50 to 250 ms. The Go version polls the queue length with a scaler and a
 * queue monitor, and never removes a worker (its "Scaling down" branch only logs). Here the pool is elastic,
 * `concurrency: { min: 2, max: 6, idleTimeout }`: it adds a worker whenever a job is queued and no worker is free,
 * up to 6, without polling, and a worker above 2 that has been idle for `idleTimeout` stops. After the last burst,
 * `pool.resize({ min: 1, max: 6 })` lowers the floor at runtime and the pool shrinks to 1 worker.
 *
 * A monitor prints a line whenever `stats.workers` changes (it checks every 10 ms, and after each submission so
 * that every added worker shows). The tutorial's times are shortened (an idle timeout of 400 ms; between bursts,
 * the traffic stops for 1 second once the burst is worked off, instead of 8 and 5 seconds), so it runs in a few
 * seconds.
 *
 * Run: npm run example -- dynamic
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Fiber, Schedule, Semaphore } from "effect"
import { WorkerPool } from "../src/index.ts"

const MIN_WORKERS = 2
const MAX_WORKERS = 6
const IDLE_TIMEOUT_MILLIS = 400
const CAPACITY = 20
const MONITOR_EVERY = "10 millis"
/** How long the traffic stops between bursts, once a burst is worked off: longer than the idle timeout. */
const QUIET_MILLIS = 1_000

/** How long job `n` works: 50 to 250 ms. */
const workMillis = (n: number): number => 50 + ((n * 89) % 201)

interface Job {
  readonly id: number
  readonly data: number
}

const program = Effect.gen(function*() {
  const pool = yield* WorkerPool.make({
    name: "dynamic",
    concurrency: { min: MIN_WORKERS, max: MAX_WORKERS, idleTimeout: IDLE_TIMEOUT_MILLIS },
    capacity: CAPACITY,
    handler: (job: Job, info) =>
      Effect.sleep(workMillis(job.id)).pipe(Effect.as({ output: job.data * 2, worker: info.worker }))
  })
  const started = yield* pool.stats
  yield* Console.log(
    `Pool started with ${started.workers} workers (min ${started.minWorkers}, max ${started.maxWorkers}, ` +
      `idle timeout ${IDLE_TIMEOUT_MILLIS} ms), queue capacity ${started.capacity}`
  )

  // The monitor: prints a line whenever the number of workers has changed since it last looked. The traffic
  // below also runs `report`, so it runs under a lock: one check at a time, lines in order.
  let workers = started.workers
  const lock = yield* Semaphore.make(1)
  const report = Semaphore.withPermit(
    lock,
    Effect.gen(function*() {
      const stats = yield* pool.stats
      if (stats.workers === workers) return
      yield* Console.log(`Workers: ${workers} -> ${stats.workers} (queued ${stats.queued}, running ${stats.running})`)
      workers = stats.workers
    })
  )
  const monitor = yield* Effect.forkChild(Effect.repeat(Effect.delay(report, MONITOR_EVERY), Schedule.forever))

  // The traffic: bursts of jobs. Each job's result is printed as it completes.
  const results: Array<Fiber.Fiber<void, unknown>> = []
  const burst = (n: number, from: number, to: number) =>
    Effect.gen(function*() {
      yield* report
      yield* Console.log(`Burst ${n}: jobs ${from}-${to} arrive (${workers} workers)`)
      for (let id = from; id <= to; id++) {
        const handle = yield* pool.submit({ id, data: id * 10 })
        yield* report
        results.push(
          yield* Effect.forkChild(
            Effect.flatMap(handle.await, ({ output, worker }) =>
              Console.log(`Job ${id} completed: ${output} (worker ${worker})`)),
            { startImmediately: true }
          )
        )
      }
      const stats = yield* pool.stats
      yield* Console.log(`Burst ${n} submitted: ${stats.running} running, ${stats.queued} queued`)
    })
  // Between bursts: the burst is worked off, then no traffic for a while; the extra workers time out.
  const pause = Effect.gen(function*() {
    yield* pool.awaitIdle
    yield* Console.log(`Burst worked off; quiet for ${QUIET_MILLIS} ms`)
    yield* Effect.sleep(QUIET_MILLIS)
  })

  yield* burst(1, 1, 10)
  yield* pause
  yield* burst(2, 11, 25)
  yield* pause
  yield* burst(3, 26, 30)
  yield* pause

  // Lower the floor at runtime: the workers above the new minimum time out as well.
  yield* report
  yield* Console.log(`Resizing to min 1, max ${MAX_WORKERS}`)
  yield* pool.resize({ min: 1, max: MAX_WORKERS })
  yield* pool.stats.pipe(
    Effect.repeat({ until: (stats) => stats.workers === stats.minWorkers, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutOption("5 seconds")
  )
  yield* report
  yield* Fiber.interrupt(monitor)

  yield* Fiber.joinAll(results)
  const stats = yield* pool.stats
  yield* Console.log(
    `Done: ${stats.succeeded} of ${stats.submitted} jobs completed; ${stats.workers} worker${
      stats.workers === 1 ? "" : "s"
    } ` +
      `(min ${stats.minWorkers}, max ${stats.maxWorkers})`
  )
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
