/**
 * A pool that scales between 2 and 6 active workers with the load, under bursts of traffic.
 *
 * This is the "Dynamic Worker Pool" program of the Go tutorial: bursts of 10, 15 and 5 jobs, a queue monitor, and
 * a scaler that adds a worker when more than half the queue's capacity is waiting and removes one when less than a
 * quarter is, with a cool-down between decisions. The tutorial's times are shortened (a scaler check every 150 ms
 * instead of 3 s, cool-downs of 0.5 s and 1 s instead of 5 s and 10 s), so it runs in a few seconds.
 *
 * **Gotcha**: the pool's `concurrency` is fixed when it is built (elastic workers, `concurrency: { min, max }`, are
 * planned, not there yet). Until then, this is how to get the same effect with the public API: build the pool with
 * the maximum number of workers and let a resizable `Semaphore` decide how many of them may work at once. A job
 * that a worker has taken but that waits for a permit counts as `running` in `pool.stats`, so the scaler counts
 * the jobs still waiting for an active worker itself. A per-job `timeout` would include that wait.
 *
 * Run: node examples/dynamic.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect, Fiber, Schedule, Semaphore } from "effect"
import { WorkerPool } from "../src/index.ts"

const MIN_WORKERS = 2
const MAX_WORKERS = 6
const CAPACITY = 20
const SCALE_UP_WAITING = CAPACITY / 2 // 10
const SCALE_DOWN_WAITING = CAPACITY / 4 // 5
const SCALE_UP_COOLDOWN_MILLIS = 500
const SCALE_DOWN_COOLDOWN_MILLIS = 1_000
const SCALER_EVERY = "150 millis"

/** How long job `n` works: 50 to 250 ms. */
const workMillis = (n: number): number => 50 + ((n * 89) % 201)

interface Job {
  readonly id: number
  readonly data: number
}

const program = Effect.gen(function*() {
  // How many workers may work at once: the "current workers" of the Go version.
  let workers = MIN_WORKERS
  const gate = yield* Semaphore.make(MIN_WORKERS)
  let working = 0

  const pool = yield* WorkerPool.make({
    name: "dynamic",
    concurrency: MAX_WORKERS,
    capacity: CAPACITY,
    handler: (job: Job) =>
      Effect.gen(function*() {
        working++
        const millis = workMillis(job.id)
        yield* Effect.sleep(millis)
        return { output: job.data * 2, millis }
      }).pipe(Effect.ensuring(Effect.sync(() => working--)), Semaphore.withPermit(gate))
  })
  yield* Console.log(`Pool started with ${workers} workers (min ${MIN_WORKERS}, max ${MAX_WORKERS})`)

  // The scaler: checks the backlog and adds or removes a worker, with a cool-down between changes.
  let lastScale = yield* Clock.currentTimeMillis
  const check = Effect.gen(function*() {
    const stats = yield* pool.stats
    const waiting = stats.queued + stats.running - working // jobs that wait for an active worker
    const now = yield* Clock.currentTimeMillis
    yield* Console.log(`Scaler check - Workers: ${workers}, Queue: ${waiting}`)
    if (workers < MAX_WORKERS && waiting > SCALE_UP_WAITING && now - lastScale > SCALE_UP_COOLDOWN_MILLIS) {
      yield* Console.log(`Scaling up: adding worker (current: ${workers})`)
      workers++
      lastScale = now
      yield* Semaphore.resize(gate, workers)
    } else if (
      workers > MIN_WORKERS && waiting < SCALE_DOWN_WAITING && now - lastScale > SCALE_DOWN_COOLDOWN_MILLIS
    ) {
      yield* Console.log(`Scaling down: removing worker (current: ${workers})`)
      workers--
      lastScale = now
      yield* Semaphore.resize(gate, workers) // a worker above the new limit stops after its current job
    }
  })
  const scaler = yield* Effect.forkChild(Effect.repeat(Effect.delay(check, SCALER_EVERY), Schedule.forever))

  // The traffic: three bursts. Each job's result is printed as it completes.
  const results: Array<Fiber.Fiber<void, unknown>> = []
  const burst = (from: number, to: number) =>
    Effect.gen(function*() {
      for (let id = from; id <= to; id++) {
        const handle = yield* pool.submit({ id, data: id * 10 })
        results.push(
          yield* Effect.forkChild(
            Effect.flatMap(handle.await, ({ millis, output }) =>
              Console.log(`Job ${id} completed: ${output} (${millis}ms, ${workers} workers)`)),
            { startImmediately: true }
          )
        )
      }
    })
  yield* burst(1, 10)
  yield* Effect.sleep("800 millis")
  yield* burst(11, 25)
  yield* Effect.sleep("500 millis")
  yield* burst(26, 30)

  yield* Fiber.joinAll(results)
  const stats = yield* pool.stats
  yield* Console.log(`All ${stats.succeeded} jobs completed with ${workers} workers; idle now`)
  // Idle: the scaler removes the extra workers, one per cool-down (for at most 3 seconds here).
  yield* Effect.sleep("100 millis").pipe(
    Effect.repeat({ until: () => workers === MIN_WORKERS }),
    Effect.timeoutOption("3 seconds")
  )
  yield* Fiber.interrupt(scaler)
  yield* Console.log(`Stopped with ${workers} workers`)
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
