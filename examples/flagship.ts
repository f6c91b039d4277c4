/**
 * A thumbnail pipeline: 300 images on 8 workers, with live progress and a summary. `npm start` runs it.
 *
 * Each image is "decoded" and "resized" (simulated work of 10 to 200 ms). A few images are corrupt: their handler
 * fails with its own typed error, `CorruptImage`. A few hang: they run past the pool's 300 ms timeout, are
 * interrupted and settle with `JobTimeout`. The caller submits all 300 at once; the bounded queue (32) holds the
 * rest back, so the progress line shows jobs running, queued, and waiting for room. The workload is the same on
 * every run (it comes from a fixed seed).
 *
 * A live dashboard (`dashboard.ts`) shows throughput, the queue, busy workers and outcome counts, read from the pool's
 * metrics. On a terminal it is redrawn in place; when stdout is not a terminal (a pipe, a CI log) it prints one line
 * per interval, and the whole panel at the end. While it runs, the rate is the last interval's; the final panel
 * gives the whole run's (jobs completed over the run's seconds), which the summary's images/s matches.
 *
 * Run: npm start   (or: npm run example -- flagship)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect, Schema } from "effect"
import { WorkerPool } from "../src/index.ts"
import * as Dashboard from "./dashboard.ts"

const IMAGES = 300
const WORKERS = 8
const CAPACITY = 32
const TIMEOUT_MILLIS = 300

const isTTY = process.stdout.isTTY === true
const VIEW_EVERY = isTTY ? "100 millis" : "250 millis"

interface Image {
  readonly file: string
  readonly index: number
}

interface Thumb {
  readonly file: string
  readonly bytes: number
}

class CorruptImage extends Schema.TaggedError<CorruptImage>()("CorruptImage", {
  file: Schema.String,
  reason: Schema.String
}) {}

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

/** What image `i` costs: mostly 10-60 ms, one in ten 100-200 ms, and every 75th hangs (past the timeout). */
const plan = (i: number) => ({
  decodeMillis: 5 + Math.floor(noise(i, 1) * 20),
  resizeMillis: i % 75 === 0 ? 5_000 : noise(i, 2) < 0.1 ? 100 + Math.floor(noise(i, 3) * 100) : 5 +
    Math.floor(noise(i, 3) * 40),
  corrupt: noise(i, 4) < 0.05
})

/** The handler: decode (may find the image corrupt), then resize. */
const thumbnail = (image: Image): Effect.Effect<Thumb, CorruptImage> =>
  Effect.gen(function*() {
    const { corrupt, decodeMillis, resizeMillis } = plan(image.index)
    yield* Effect.sleep(decodeMillis)
    if (corrupt) return yield* new CorruptImage({ file: image.file, reason: "bad JPEG header" })
    yield* Effect.sleep(resizeMillis)
    return { file: image.file, bytes: 2_000 + Math.floor(noise(image.index, 5) * 30_000) }
  })

const program = Effect.gen(function*() {
  const pool = yield* WorkerPool.make({
    name: "thumbnails",
    handler: thumbnail,
    concurrency: WORKERS,
    capacity: CAPACITY,
    timeout: `${TIMEOUT_MILLIS} millis`
  })
  const images: ReadonlyArray<Image> = Array.from({ length: IMAGES }, (_, i) => ({
    file: `img-${String(i + 1).padStart(3, "0")}.jpg`,
    index: i + 1
  }))
  const start = yield* Clock.currentTimeMillis
  yield* Console.log(
    `Thumbnailing ${IMAGES} images on ${WORKERS} workers (queue ${CAPACITY}, timeout ${TIMEOUT_MILLIS} ms per image)`
  )

  const stopView = yield* Dashboard.live("thumbnails", {
    title: `thumbnails: ${IMAGES} images, ${WORKERS} workers, queue ${CAPACITY}`,
    every: VIEW_EVERY,
    total: IMAGES
  })

  // Submit everything at once; each caller learns its image's outcome, typed.
  const corrupt: Array<string> = []
  const timedOut: Array<string> = []
  yield* Effect.forEach(
    images,
    (image) =>
      pool.execute(image).pipe(
        Effect.asVoid,
        Effect.catchTags({
          CorruptImage: (error) => Effect.sync(() => corrupt.push(error.file)),
          JobTimeout: () => Effect.sync(() => timedOut.push(image.file))
        })
      ),
    { concurrency: "unbounded", discard: true }
  )

  yield* stopView // draws the final state

  const s = yield* pool.stats
  const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
  const speedup = s.totalDurationMillis / 1000 / seconds
  yield* Console.log("")
  yield* Console.log(
    `Summary: ${s.submitted} images in ${seconds.toFixed(2)}s: ${s.succeeded} succeeded, ` +
      `${s.failed} failed (CorruptImage), ${s.timedOut} timed out (JobTimeout)`
  )
  yield* Console.log(
    `  ${(s.submitted / seconds).toFixed(0)} images/s; average job ${s.averageDurationMillis.toFixed(1)} ms; ` +
      `${(s.totalDurationMillis / 1000).toFixed(1)}s of work on ${s.concurrency} workers (${speedup.toFixed(1)}x)`
  )
  yield* Console.log(`  corrupt:   ${corrupt.sort().join(", ")}`)
  yield* Console.log(`  timed out: ${timedOut.sort().join(", ")}`)
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
