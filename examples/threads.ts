/**
 * The same CPU-bound job on fibers and on threads: 24 generated images of 1024x1024 pixels, each downscaled to
 * 512x512 by a 2x2 box filter, once on a fiber pool and once on a thread pool, each with one worker per core.
 *
 * The fiber pool (`WorkerPool.make`) runs the handler in this process: its fibers take turns on the one JavaScript
 * thread, and a synchronous job holds that thread until it ends, so the jobs run one after another however many
 * workers the pool has. The thread pool (`NodeThreadPool.make`) runs the same handler on one thread per worker (its
 * entry file, `pixels.worker.ts`, serves it), so the jobs run side by side. The job's definition (`pixels.ts`)
 * carries the schemas of the image and of the thumbnail; their pixel buffers are moved to the thread and back
 * (`Transferable.Uint8Array`), not copied.
 *
 * Both pools must produce the same thumbnails: each run prints a checksum of its output. The images are generated
 * (from a fixed seed) before either run, and the threads' start-up is timed apart: a pool pays it once, not per job.
 *
 * Run: npm run example -- threads
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect } from "effect"
import * as Os from "node:os"
import * as NodeThreadPool from "../layers/NodeThreadPool.ts"
import { WorkerPool } from "../src/index.ts"
import * as Pixels from "./pixels.ts"

const IMAGES = 24
const SIZE = 1024
const CORES = Os.availableParallelism()

/** Runs every image through `pool`, in parallel as far as the pool allows: the thumbnails and the seconds it took. */
const downscaleAll = (
  pool: WorkerPool.WorkerPool<Pixels.Image, Pixels.Thumbnail, unknown>,
  images: ReadonlyArray<Pixels.Image>
) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const thumbnails = yield* Effect.forEach(images, (image) => pool.execute(image), { concurrency: "unbounded" })
    return { thumbnails, seconds: ((yield* Clock.currentTimeMillis) - start) / 1000 }
  })

const program = Effect.gen(function*() {
  const images = Array.from(
    { length: IMAGES },
    (_, i) => Pixels.generate(`img-${String(i + 1).padStart(2, "0")}.raw`, i + 1, SIZE, SIZE)
  )
  yield* Console.log(
    `Downscaling ${IMAGES} images of ${SIZE}x${SIZE} to ${SIZE / 2}x${SIZE / 2} (2x2 box filter), ` +
      `${CORES} workers (one per core)`
  )

  // The fiber pool: the handler runs on this thread.
  const fibers = yield* Effect.scoped(Effect.gen(function*() {
    const pool = yield* WorkerPool.make({ name: "fibers", handler: Pixels.downscale, concurrency: CORES })
    return yield* downscaleAll(pool, images)
  }))
  const fiberSum = Pixels.checksum(fibers.thumbnails)
  yield* Console.log(
    `fiber pool:  ${fibers.seconds.toFixed(3)} s, checksum ${fiberSum} ` +
      `(${CORES} fibers taking turns on the main thread)`
  )

  // The thread pool: the same handler on CORES threads. The images move to the threads (this run is their last use).
  const threads = yield* Effect.scoped(Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const pool = yield* NodeThreadPool.make(Pixels.Downscale, {
      name: "threads",
      entry: new URL("./pixels.worker.ts", import.meta.url),
      concurrency: CORES
    })
    const startup = ((yield* Clock.currentTimeMillis) - start) / 1000
    return { ...yield* downscaleAll(pool, images), startup }
  }))
  const threadSum = Pixels.checksum(threads.thumbnails)
  yield* Console.log(
    `thread pool: ${threads.seconds.toFixed(3)} s, checksum ${threadSum} ` +
      `(${CORES} threads, started in ${threads.startup.toFixed(2)} s before the run)`
  )

  yield* Console.log(`Speed-up: ${(fibers.seconds / threads.seconds).toFixed(2)}x on ${CORES} threads`)
  if (threadSum !== fiberSum) {
    return yield* Effect.die(
      new Error(`the thumbnails differ: checksum ${fiberSum} on fibers, ${threadSum} on threads`)
    )
  }
  yield* Console.log(`Same thumbnails from both pools: ${IMAGES} of ${SIZE / 2}x${SIZE / 2}, checksum ${threadSum}`)
})

NodeRuntime.runMain(program)
