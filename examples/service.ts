/**
 * The pool as a service: dependency injection with `WorkerPool.layer` and `WorkerPool.layerExecutor`.
 *
 * 1. `Thumbnails` is a pool service. Its handler needs `Storage`; the layer that builds the pool is given
 *    `Storage`, so the program that uses `Thumbnails` never sees `Storage` (its type says so). The handler's own
 *    typed error, `ImageNotFound`, reaches the caller as it is, and `catchTag` handles it.
 * 2. `Outbound` is an executor: a pool of arbitrary effects, the p-limit / `Submit(func)` use case. Effects of
 *    different types, from different call sites, share one concurrency budget; each keeps its own success type,
 *    error type and services (which come from the caller: here `Mailer`, provided where the effects are run).
 *
 * Run: npm run example -- service
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Context, Effect, Layer, Schema } from "effect"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"

// -----------------------------------------------------------------------------
// Thumbnails: a pool whose handler needs Storage
// -----------------------------------------------------------------------------

class ImageNotFound extends Schema.TaggedError<ImageNotFound>()("ImageNotFound", { path: Schema.String }) {}

class Storage extends Context.Service<Storage, {
  readonly read: (path: string) => Effect.Effect<Uint8Array, ImageNotFound>
}>()("app/Storage") {
  /** An in-memory store: file name -> size in bytes. */
  static readonly layerMemory = (files: Readonly<Record<string, number>>) =>
    Layer.succeed(Storage, {
      read: (path) =>
        path in files
          ? Effect.succeed(new Uint8Array(files[path]!))
          : Effect.fail(new ImageNotFound({ path }))
    })
}

interface Resize {
  readonly path: string
  readonly width: number
}

interface Thumbnail {
  readonly path: string
  readonly width: number
  readonly bytes: number
  readonly worker: number
}

/** The handler: reads the image from Storage and "resizes" it. Its requirements: Storage. */
const resize = (request: Resize, job: WorkerPool.JobInfo): Effect.Effect<Thumbnail, ImageNotFound, Storage> =>
  Effect.gen(function*() {
    const storage = yield* Storage
    const image = yield* storage.read(request.path)
    yield* Effect.sleep(20) // the work
    const bytes = Math.ceil(image.length * (request.width / 1024) ** 2)
    return { path: request.path, width: request.width, bytes, worker: job.worker }
  })

class Thumbnails extends Context.Service<Thumbnails, WorkerPool.WorkerPool<Resize, Thumbnail, ImageNotFound>>()(
  "app/Thumbnails"
) {
  /** `Layer<Thumbnails, InvalidPoolOptions, Storage>`: the handler's requirements are the layer's. */
  static readonly layer = WorkerPool.layer(Thumbnails, {
    handler: resize,
    concurrency: 2,
    capacity: 16,
    name: "thumbnails"
  })
}

/** Sees only `Thumbnails`: no `Storage` in its type. The handler's `ImageNotFound` is in its error type, unwrapped. */
const makeThumbnails: Effect.Effect<
  void,
  ImageNotFound | WorkerPoolError.JobError | WorkerPoolError.SubmitError,
  Thumbnails
> = Effect
  .gen(function*() {
    const thumbnails = yield* Thumbnails
    const requests: ReadonlyArray<Resize> = [
      { path: "cat.png", width: 128 },
      { path: "dog.png", width: 128 },
      { path: "bird.png", width: 64 }
    ]
    const results = yield* Effect.forEach(requests, (request) => thumbnails.execute(request), {
      concurrency: "unbounded"
    })
    for (const t of results) {
      yield* Console.log(`thumbnail: ${t.path} -> ${t.width}px, ${t.bytes} bytes (worker ${t.worker})`)
    }
    // The handler's own error keeps its type: catch it by its tag.
    const missing = yield* thumbnails.execute({ path: "missing.png", width: 128 }).pipe(
      Effect.map((t) => `unexpected thumbnail of ${t.bytes} bytes`),
      Effect.catchTag("ImageNotFound", (error) => Effect.succeed(`caught ImageNotFound: ${error.path}`))
    )
    yield* Console.log(missing)
  })

// -----------------------------------------------------------------------------
// Outbound: one concurrency budget for arbitrary effects
// -----------------------------------------------------------------------------

class Outbound extends Context.Service<Outbound, WorkerPool.Executor>()("app/Outbound") {
  /** At most 2 outbound calls at a time, whoever makes them. */
  static readonly layer = WorkerPool.layerExecutor(Outbound, { concurrency: 2, capacity: 64, name: "outbound" })
}

class Mailer extends Context.Service<Mailer, {
  readonly send: (to: string, subject: string) => Effect.Effect<string>
}>()("app/Mailer") {}

class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { userId: Schema.String }) {}

interface Profile {
  readonly userId: string
  readonly name: string
}

/** Counts the effects running at once, to show the shared budget. */
let inFlight = 0
let peak = 0
const tracked = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      inFlight++
      peak = Math.max(peak, inFlight)
    }),
    () => effect,
    () => Effect.sync(() => inFlight--)
  )

const users: Readonly<Record<string, string>> = { "user-1": "Ada", "user-2": "Grace", "user-3": "Edsger" }

/** Call site 1: an HTTP-like lookup that can fail with its own error. */
const fetchProfile = (userId: string): Effect.Effect<Profile, UserNotFound> =>
  tracked(
    Effect.sleep(30).pipe(
      Effect.andThen(
        userId in users
          ? Effect.succeed({ userId, name: users[userId]! })
          : Effect.fail(new UserNotFound({ userId }))
      )
    )
  )

/** Call site 2: an effect that needs a service, `Mailer`, which its caller provides. */
const sendWelcome = (to: string): Effect.Effect<string, never, Mailer> =>
  tracked(Mailer.use((mailer) => mailer.send(to, "Welcome!")))

const callOutbound: Effect.Effect<void, WorkerPoolError.JobError | WorkerPoolError.SubmitError, Outbound | Mailer> =
  Effect.gen(function*() {
    const outbound = yield* Outbound
    // Two call sites, run at the same time, one budget of 2.
    const [profiles, receipts] = yield* Effect.all([
      Effect.forEach(["user-1", "user-2", "user-3", "user-9"], (id) =>
        outbound.execute(fetchProfile(id)).pipe(
          Effect.map((profile) => `profile: ${profile.userId} is ${profile.name}`),
          Effect.catchTag("UserNotFound", (error) => Effect.succeed(`caught UserNotFound: ${error.userId}`))
        ), { concurrency: "unbounded" }),
      Effect.forEach(
        ["ada@example.com", "grace@example.com", "edsger@example.com"],
        (to) => outbound.execute(sendWelcome(to)),
        { concurrency: "unbounded" }
      )
    ], { concurrency: "unbounded" })
    for (const line of [...profiles, ...receipts]) yield* Console.log(line)
    const stats = yield* outbound.stats
    yield* Console.log(
      `outbound: ${stats.submitted} effects from 2 call sites, at most ${peak} at once (budget ${stats.concurrency})`
    )
  })

// -----------------------------------------------------------------------------
// the app
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  yield* makeThumbnails
  // Mailer is the caller's service: the executor runs each effect with the services of whoever submitted it.
  yield* callOutbound.pipe(
    Effect.provideService(Mailer, {
      send: (to, subject) => Effect.sleep(30).pipe(Effect.as(`mail sent: "${subject}" to ${to}`))
    })
  )
})

const AppLayer = Layer.mergeAll(
  Thumbnails.layer.pipe(Layer.provide(Storage.layerMemory({ "cat.png": 4096, "dog.png": 8192, "bird.png": 2048 }))),
  Outbound.layer
)

NodeRuntime.runMain(program.pipe(Effect.provide(AppLayer)))
