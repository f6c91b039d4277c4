/**
 * The web dashboard (`WebDashboard`) over a pool and a durable queue under load, with failures to look at and act
 * on. A pool of 4 workers makes thumbnails from a bursty stream of submissions (some fail with a typed error, some
 * time out); a durable queue of e-mails is consumed 3 at a time, where a flaky server fails some attempts (the
 * queue retries them) and bounced addresses fail every attempt, so they land in the failed-jobs record. One of them
 * has a subject holding `<script>`: the page shows it as text.
 *
 * Open http://127.0.0.1:7420/ while it runs. Requeueing or removing a failed job needs the token the program
 * prints (`DASHBOARD_TOKEN` sets it). Ctrl-C stops it.
 *
 * Options: `--redis` keeps the queue on Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`; the run's keys are
 * deleted at the end) instead of in memory; `--port <n>` serves on another port; `--seconds <n>` stops after n seconds.
 *
 * Run: npm run example -- dashboard-web   (or: npm run example -- dashboard-web --redis)
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect, Layer, Random, Schedule, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisDurableQueue from "../layers/RedisDurableQueue.ts"
import * as WebDashboard from "../layers/WebDashboard.ts"
import { DurableQueue, WorkerPool } from "../src/index.ts"

const args = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const index = args.indexOf(name)
  return index === -1 ? undefined : args[index + 1]
}
const PORT = Number(option("--port") ?? 7420)
const SECONDS = option("--seconds") === undefined ? undefined : Number(option("--seconds"))
const TOKEN = process.env.DASHBOARD_TOKEN ?? "let-me-in-please"
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

class ResizeFailed extends Schema.TaggedError<ResizeFailed>("example/ResizeFailed")("ResizeFailed", {
  image: Schema.Number
}) {
  override get message() {
    return `image ${this.image}: unreadable`
  }
}

class SendFailed extends Schema.TaggedError<SendFailed>("example/SendFailed")("SendFailed", {
  to: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.to}: ${this.reason}`
  }
}

/** The durable queue of e-mails: three attempts, half a second apart. */
const Emails = DurableQueue.define({
  name: "emails",
  input: Schema.Struct({ to: Schema.String, subject: Schema.String }),
  success: Schema.Struct({ messageId: Schema.String }),
  error: SendFailed,
  maxAttempts: 3,
  retrySchedule: Schedule.spaced("500 millis")
})

/** One attempt at sending: 50 to 300 ms; a bounced address always fails, the server fails one attempt in five. */
const send = (email: { readonly to: string; readonly subject: string }, job: DurableQueue.JobMetadata) =>
  Effect.gen(function*() {
    yield* Effect.sleep(Duration.millis(yield* Random.nextBetween(50, 300)))
    if (email.to.startsWith("bounce")) {
      return yield* new SendFailed({ to: email.to, reason: "mailbox does not exist (550)" })
    }
    if ((yield* Random.next) < 0.2) return yield* new SendFailed({ to: email.to, reason: "server busy (421)" })
    return { messageId: `${job.id}@example.test` }
  })

/** Offers an e-mail every 100 ms or so; every 25th goes to a bounced address, one of them with markup in it. */
const offerEmails = Effect.gen(function*() {
  let n = 0
  while (true) {
    n++
    const bounced = n % 25 === 0
    const subject = n === 50 ? `<script>alert("not run")</script> <b>newsletter</b> #${n}` : `receipt #${n}`
    yield* DurableQueue.offer(
      Emails,
      { to: bounced ? `bounce-${n}@example.test` : `user-${n}@example.test`, subject },
      {
        id: `email-${n}`
      }
    )
    yield* Effect.sleep(Duration.millis(yield* Random.nextBetween(40, 160)))
  }
})

const program = Effect.gen(function*() {
  // thumbnails: 4 workers, jobs of 30 to 250 ms, a timeout of 220 ms, 1 in 12 fails
  const thumbnails = yield* WorkerPool.make({
    name: "thumbnails",
    concurrency: 4,
    capacity: 40,
    timeout: "220 millis",
    handler: (image: number) =>
      Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(yield* Random.nextBetween(30, 250)))
        if (image % 12 === 0) return yield* new ResizeFailed({ image })
        return image
      })
  })
  const consumer = yield* DurableQueue.consume(Emails, { handler: send, concurrency: 3 })
  // the dashboard, with both pools' stats (state, pause) beside their metrics
  yield* Layer.build(WebDashboard.layer({ port: PORT, queues: [Emails], pools: [thumbnails, consumer], token: TOKEN }))
  yield* Console.log(`Dashboard: http://127.0.0.1:${PORT}/  (token for actions: ${TOKEN})`)

  // bursts of submissions: 8 submitters, faster and slower by turns every 20 seconds
  let image = 0
  const submitter = Effect.gen(function*() {
    while (true) {
      const slow = Math.floor((yield* Effect.clockWith((clock) => clock.currentTimeMillis)) / 20_000) % 2 === 0
      yield* Effect.exit(thumbnails.execute(++image))
      yield* Effect.sleep(Duration.millis(yield* Random.nextBetween(slow ? 200 : 0, slow ? 600 : 80)))
    }
  })
  for (let i = 0; i < 8; i++) yield* Effect.forkScoped(submitter)
  yield* Effect.forkScoped(offerEmails)
  yield* (SECONDS === undefined ? Effect.never : Effect.sleep(Duration.seconds(SECONDS)))
}).pipe(Effect.scoped)

/** Deletes the run's keys: every key of the queue starts with the prefix. */
const deleteKeys = (prefix: string) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const keys = yield* redis.send<Array<string>>("KEYS", `${prefix}*`)
    if (keys.length > 0) yield* redis.send("DEL", ...keys)
  }).pipe(Effect.provide(NodeRedis.layer({ url: REDIS_URL })), Effect.orDie)

const onRedis = Effect.gen(function*() {
  const prefix = `ewp-dashboard-${process.pid}-`
  yield* Effect.addFinalizer(() => deleteKeys(prefix))
  yield* Console.log(`Redis at ${REDIS_URL}, keys under "${prefix}"`)
  yield* program.pipe(Effect.provide(RedisDurableQueue.layer({ prefix, redis: { url: REDIS_URL } })))
}).pipe(Effect.scoped)

const main: Effect.Effect<void, unknown> = args.includes("--redis")
  ? onRedis
  : program.pipe(Effect.provide(DurableQueue.layerMemory))

NodeRuntime.runMain(main)
