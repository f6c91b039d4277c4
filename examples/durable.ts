/**
 * A durable queue shared by processes: a producer offers 60 thumbnail jobs to a queue on Redis, and two consumer
 * processes run them, four at a time each, on a local pool with its live view (one line per second per
 * consumer, prefixed with its name). Some jobs fail once with a typed `Overloaded` and are retried by the queue;
 * one is corrupt and fails every attempt, so it ends in the failed-jobs record with its typed error. The producer
 * awaits every job's outcome by id, prints the record, then stops the consumers with SIGTERM: each finishes its
 * running jobs and releases anything it had claimed back to the queue.
 *
 * Delivery is at least once: a consumer killed mid-job loses nothing (its job runs again elsewhere once its lock
 * expires), so a handler must be idempotent: writing the same thumbnail twice must be harmless.
 *
 * With `--in-process`, the producer and both consumers run in this process on the memory store: no server needed.
 * Redis is read from `REDIS_URL` (default `redis://127.0.0.1:6379`); the run's keys are deleted at the end.
 *
 * Run: npm run example -- durable   (or: npm run example -- durable --in-process)
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Exit, Option, Schedule, Schema, Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as ChildProcess from "node:child_process"
import * as Readline from "node:readline"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import { DurableQueue } from "../src/index.ts"
import * as Dashboard from "./dashboard.ts"

const JOBS = 60
const CORRUPT = 13
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

class Overloaded extends Schema.TaggedError<Overloaded>("example/Overloaded")("Overloaded", {
  image: Schema.String
}) {
  override get message() {
    return `${this.image}: the resizer is overloaded`
  }
}

class CorruptImage extends Schema.TaggedError<CorruptImage>("example/CorruptImage")("CorruptImage", {
  image: Schema.String
}) {
  override get message() {
    return `${this.image}: corrupt image data`
  }
}

/** The queue: every process that offers to it or consumes it uses this same definition. */
const Thumbnails = DurableQueue.define({
  name: "thumbnails",
  input: Schema.Struct({ image: Schema.String, width: Schema.Number }),
  success: Schema.Struct({ thumbnail: Schema.String, bytes: Schema.Number }),
  error: Schema.Union([Overloaded, CorruptImage]),
  maxAttempts: 3,
  retrySchedule: Schedule.spaced("300 millis"),
  resultTimeToLive: "10 minutes"
})

/** One attempt: 40 to 120 ms of "resizing". Every seventh image is overloaded on its first attempt. */
const resize = (
  input: { readonly image: string; readonly width: number },
  job: DurableQueue.JobMetadata
) =>
  Effect.gen(function*() {
    const index = Number(input.image.slice(4, 7))
    yield* Effect.sleep(40 + (index * 37) % 80)
    if (index === CORRUPT) return yield* new CorruptImage({ image: input.image })
    if (index % 7 === 0 && job.attempts === 1) return yield* new Overloaded({ image: input.image })
    return { thumbnail: input.image.replace(".jpg", ".thumb.jpg"), bytes: Math.round(input.width * 0.75 * 96) }
  })

const images = Array.from({ length: JOBS }, (_, i) => `img-${String(i + 1).padStart(3, "0")}.jpg`)

/** Offers every image, awaits every outcome by id, and prints what came back and the failed-jobs record. */
const produce = Effect.gen(function*() {
  for (const image of images) {
    yield* DurableQueue.offer(Thumbnails, { image, width: 1024 }, { id: image })
  }
  yield* Console.log(`producer: offered ${JOBS} jobs to "${Thumbnails.name}"`)
  const outcomes = yield* Effect.forEach(
    images,
    (image) => Effect.exit(DurableQueue.result(Thumbnails, image, { pollInterval: "50 millis" })),
    { concurrency: 16 }
  )
  const succeeded = outcomes.filter(Exit.isSuccess).length
  yield* Console.log(`producer: ${succeeded} thumbnails made, ${JOBS - succeeded} failed`)
  for (const job of yield* DurableQueue.failed(Thumbnails)) {
    const error = Option.match(job.error, { onNone: () => "no typed error", onSome: (e) => `${e._tag}: ${e.message}` })
    yield* Console.log(`failed record: ${job.id} after ${job.attempts} attempts (${error})`)
  }
})

/** A consumer: four jobs at a time on a local pool named after it, with its live view. */
const consumer = (name: string) =>
  Effect.gen(function*() {
    yield* DurableQueue.consume(Thumbnails, { handler: resize, concurrency: 4, name: `consumer-${name}` })
    const stopView = yield* Dashboard.live(`consumer-${name}`, {
      title: `consumer ${name}: queue "${Thumbnails.name}", 4 at a time`,
      every: "1 second"
    })
    yield* Effect.addFinalizer(() => stopView)
  })

/** A child process: one consumer on Redis until SIGTERM. */
const consumerProcess = (name: string, prefix: string) =>
  Effect.andThen(consumer(name), Effect.never).pipe(
    Effect.scoped,
    Effect.provide(RedisDurableQueue.layer({ prefix, redis: { url: REDIS_URL } }))
  )

/** Starts `durable.ts consumer <name>` and copies its output, each line prefixed with its name. */
const spawnConsumer = (name: string, prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.spawn(process.execPath, [import.meta.filename, "consumer", name, prefix], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      Readline.createInterface({ input: child.stdout }).on("line", (line) => console.log(`[${name}] ${line}`))
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      return { child, exited }
    }),
    ({ child, exited }) =>
      Effect.promise(() => {
        child.kill("SIGTERM")
        return exited
      })
  )

/** Deletes the run's keys: every key of the queue starts with the prefix. */
const deleteKeys = (prefix: string) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const keys = yield* redis.send<Array<string>>("KEYS", `${prefix}*`)
    if (keys.length > 0) yield* redis.send("DEL", ...keys)
  }).pipe(Effect.provide(NodeRedis.layer({ url: REDIS_URL })), Effect.orDie)

const onRedis = Effect.gen(function*() {
  const prefix = `ewp-example-${process.pid}-`
  yield* Effect.addFinalizer(() => deleteKeys(prefix))
  yield* Console.log(`Redis at ${REDIS_URL}, keys under "${prefix}"; consumers a and b start`)
  const consumers = yield* Scope.make()
  yield* Effect.forEach(["a", "b"], (name) => spawnConsumer(name, prefix)).pipe(Scope.provide(consumers))
  yield* produce.pipe(
    Effect.provide(RedisDurableQueue.layer({ prefix, redis: { url: REDIS_URL } }))
  )
  yield* Console.log("producer: stopping the consumers (SIGTERM)")
  yield* Scope.close(consumers, Exit.void)
}).pipe(Effect.scoped)

const inProcess = Effect.gen(function*() {
  yield* Console.log("one process, memory store; consumers a and b start")
  yield* consumer("a")
  yield* consumer("b")
  yield* produce
}).pipe(Effect.scoped, Effect.provide(DurableQueue.layerMemory))

// `node examples/durable.ts [--in-process]`, `npm run example -- durable [--in-process]`, or a consumer child:
// `durable.ts consumer <name> <prefix>`.
const args = process.argv.slice(2)
const asConsumer = args.indexOf("consumer")

const main: Effect.Effect<void, unknown> = asConsumer !== -1
  ? consumerProcess(args[asConsumer + 1], args[asConsumer + 2])
  : args.includes("--in-process")
  ? inProcess
  : onRedis

NodeRuntime.runMain(main)
