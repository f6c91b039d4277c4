/**
 * A thumbnail pipeline on threads: 300 images downscaled on a thread pool, one thread per core, with live progress
 * and a summary. `npm start` runs it.
 *
 * Each image is read (here: generated from a seed, 256 to 512 pixels wide, one in ten 1024) and sent to a thread,
 * which checks it and halves it with a 2x2 box filter (`pixels.ts`): real CPU work, on all the cores at once, the
 * pixels moved to the thread and back rather than copied. A few images are corrupt (truncated): the thread fails
 * the job with the handler's own typed error, `CorruptImage`, which reaches the caller as itself. A few hang: their
 * handler loops forever, synchronously, where no interruption can reach it; at the pool's 300 ms timeout the pool
 * terminates the thread, the job settles with `JobTimeout`, and a fresh thread takes the slot. The workload is the
 * same on every run (it comes from a fixed seed).
 *
 * The reader submits one image after another, so only the images queued or running are in memory, never all 300.
 * When the threads are the slower side (on a few cores they are), the bounded queue (32) fills up and the reader
 * waits for room: the pool lets it in again once the queue has drained to half, and it refills the queue in one go.
 * The progress line shows jobs running, queued, and the reader waiting for room. Each job's outcome is awaited on a
 * fiber of its own, typed.
 *
 * A live dashboard (`dashboard.ts`) shows throughput, the queue, busy workers and outcome counts, read from the pool's
 * metrics. On a terminal it is redrawn in place; when stdout is not a terminal (a pipe, a CI log) it prints one line
 * per interval, and the whole panel at the end. While it runs, the rate is the last interval's; the final panel
 * gives the whole run's (jobs completed over the run's seconds), which the summary's images/s matches.
 *
 * Run: npm start   (or: npm run example -- flagship)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect, Fiber } from "effect"
import * as Os from "node:os"
import * as NodeThreadPool from "../layers/NodeThreadPool.ts"
import * as Dashboard from "./dashboard.ts"
import * as Pixels from "./pixels.ts"

const IMAGES = 300
const THREADS = Os.availableParallelism()
const CAPACITY = 32
const TIMEOUT_MILLIS = 300

const isTTY = process.stdout.isTTY === true
const VIEW_EVERY = isTTY ? "100 millis" : "250 millis"

/** A fixed pseudo-random number in [0, 1) for image `i` (so every run does the same work). */
const noise = (i: number, salt: number): number => {
  let x = Math.imul(i ^ Math.imul(salt, 0x2545f491), 0x9e3779b1)
  x ^= x >>> 15
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return (x >>> 0) / 2 ** 32
}

/**
 * Reads image `i` (1 to 300): 256 to 512 pixels wide, one in ten 1024, at 4:3; one in twenty is corrupt (half its
 * pixels are missing), and every 75th is one that the decoder gets stuck on.
 */
const read = (i: number): Pixels.Image => {
  const width = noise(i, 2) < 0.1 ? 1024 : 256 + 16 * Math.floor(noise(i, 3) * 17)
  const image = Pixels.generate(`img-${String(i).padStart(3, "0")}.jpg`, i, width, (width * 3) / 4)
  if (noise(i, 4) < 0.05) return { ...image, pixels: image.pixels.slice(0, image.pixels.length / 2) }
  return i % 75 === 0 ? { ...image, stuck: true } : image
}

const program = Effect.gen(function*() {
  const pool = yield* NodeThreadPool.make(Pixels.Downscale, {
    name: "thumbnails",
    entry: new URL("./pixels.worker.ts", import.meta.url),
    concurrency: THREADS,
    capacity: CAPACITY,
    timeout: `${TIMEOUT_MILLIS} millis`
  })
  const start = yield* Clock.currentTimeMillis
  yield* Console.log(
    `Thumbnailing ${IMAGES} images on ${THREADS} threads (queue ${CAPACITY}, timeout ${TIMEOUT_MILLIS} ms per image)`
  )

  const stopView = yield* Dashboard.live("thumbnails", {
    title: `thumbnails: ${IMAGES} images, ${THREADS} threads, queue ${CAPACITY}`,
    every: VIEW_EVERY,
    total: IMAGES
  })

  // Read and submit one image after another: `submit` waits while the queue is full. Each caller learns its
  // image's outcome, typed, on a fiber of its own.
  const corrupt: Array<string> = []
  const timedOut: Array<string> = []
  const outcomes = yield* Effect.forEach(
    Array.from({ length: IMAGES }, (_, i) => i + 1),
    (i) =>
      Effect.gen(function*() {
        const image = read(i)
        const { file } = image
        const handle = yield* pool.submit(image)
        return yield* Effect.forkChild(
          handle.await.pipe(
            Effect.asVoid,
            Effect.catchTags({
              CorruptImage: (error) => Effect.sync(() => corrupt.push(error.file)),
              JobTimeout: () => Effect.sync(() => timedOut.push(file))
            })
          ),
          { startImmediately: true }
        )
      })
  )
  yield* Fiber.joinAll(outcomes)

  yield* stopView // draws the final state

  const s = yield* pool.stats
  const threads = yield* pool.threads
  const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
  const speedup = s.totalDurationMillis / 1000 / seconds
  yield* Console.log("")
  yield* Console.log(
    `Summary: ${s.submitted} images in ${seconds.toFixed(2)}s: ${s.succeeded} succeeded, ` +
      `${s.failed} failed (CorruptImage), ${s.timedOut} timed out (JobTimeout)`
  )
  yield* Console.log(
    `  ${(s.submitted / seconds).toFixed(0)} images/s; average job ${s.averageDurationMillis.toFixed(1)} ms; ` +
      `${(s.totalDurationMillis / 1000).toFixed(1)}s of work on ${s.concurrency} threads (${speedup.toFixed(1)}x)`
  )
  yield* Console.log(
    `  threads:   ${threads.started} started, ${threads.terminated} terminated (a job stopped while it ran), ` +
      `${threads.crashed} crashed, ${threads.replaced} replaced`
  )
  yield* Console.log(`  corrupt:   ${corrupt.sort().join(", ")}`)
  yield* Console.log(`  timed out: ${timedOut.sort().join(", ")}`)
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
