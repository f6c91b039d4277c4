/**
 * A web dashboard for the pools of this process and for durable queues: a page that shows every pool's figures
 * (read from its `WorkerPoolMetrics` series) and each durable queue's jobs by state and failed-jobs record, and lets
 * an operator requeue or remove failed jobs. It is served by `effect`'s `HttpRouter`: `layerRoutes` mounts it into
 * an app's router, `layer` serves it on a port of its own with `@effect/platform-node`'s HTTP server.
 *
 * Nothing is read while no one looks: every figure is read from the metric registry and the queues' store when a
 * request asks for it, so the dashboard costs the pools nothing on the job path. The page polls the JSON endpoints
 * and keeps the recent history of its charts itself.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Path from "effect/Path"
import type { PlatformError } from "effect/PlatformError"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Http from "node:http"
import * as DurableQueue from "../src/DurableQueue.ts"
import { isJobId, jobIdRule } from "../src/internal/durableOptions.ts"
import type * as WorkerPool from "../src/WorkerPool.ts"
import { DurableQueueError, InvalidQueueOptions, JobSchemaError, JobTimeout } from "../src/WorkerPoolError.ts"
import * as WorkerPoolMetrics from "../src/WorkerPoolMetrics.ts"

/**
 * What the dashboard shows and who may act on it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The durable queues to show, by their definitions. They need a `DurableQueueStore`. Default: none. */
  readonly queues?: ReadonlyArray<DurableQueue.DurableQueue<any, any, any>> | undefined
  /**
   * Pools whose `stats` add their state (`open`, `draining`, ...) and pause to their metrics. Every pool with
   * metrics is shown whether listed here or not. Default: none.
   */
  readonly pools?: ReadonlyArray<{ readonly stats: Effect.Effect<WorkerPool.Stats> }> | undefined
  /** A token that actions must carry as `Authorization: Bearer <token>`. */
  readonly token?: string | Redacted.Redacted<string> | undefined
  /**
   * Decides whether a request may act (requeue, remove). With `token` too, an action needs both. Without either,
   * every action is refused.
   */
  readonly authorize?: ((request: HttpServerRequest.HttpServerRequest) => Effect.Effect<boolean>) | undefined
  /** Refuses every action, whoever asks. Default `false`. */
  readonly readOnly?: boolean | undefined
  /** How often the page asks for new figures. Default `"1 second"`. */
  readonly refreshInterval?: Duration.Input | undefined
}

/**
 * An option of the dashboard is invalid, or it shows durable queues and no `DurableQueueStore` is provided.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidDashboardOptions extends Schema.TaggedError<InvalidDashboardOptions>(
  "effect-worker-pool/InvalidDashboardOptions"
)("InvalidDashboardOptions", {
  option: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid option "${this.option}" of the web dashboard: ${this.reason}`
  }
}

/**
 * A pool as `GET /api/pools` shows it. Durations are in milliseconds; percentiles are interpolated within the
 * histogram's buckets.
 *
 * @category models
 * @since 0.1.0
 */
export interface PoolView {
  readonly name: string
  /** From the pool's `stats` when it was given in `pools`; `null` otherwise. */
  readonly state: WorkerPool.Stats["state"] | null
  readonly paused: boolean | null
  readonly workers: number
  readonly busy: number
  readonly queued: number
  readonly waiting: number
  readonly submitted: number
  readonly started: number
  readonly rejected: number
  readonly retried: number
  /** Jobs that reached an outcome: the sum of `outcomes`. */
  readonly completed: number
  readonly outcomes: Readonly<Record<WorkerPoolMetrics.Outcome, number>>
  readonly waitTime: Percentiles
  readonly runTime: Percentiles
}

/**
 * A distribution of durations in milliseconds (`null` before the first attempt).
 *
 * @category models
 * @since 0.1.0
 */
export interface Percentiles {
  readonly count: number
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
  readonly max: number | null
}

/**
 * A durable queue as `GET /api/queues` shows it.
 *
 * @category models
 * @since 0.1.0
 */
export interface QueueView {
  readonly name: string
  readonly maxAttempts: number
  /** Jobs by state; `null` where the store cannot tell (the memory store counts only failed jobs). */
  readonly counts: {
    readonly waiting: number | null
    readonly delayed: number | null
    readonly running: number | null
    readonly failed: number | null
  }
  /**
   * How long, in milliseconds, the job first in line has been ready to run; `null` when none waits or the store
   * cannot tell.
   */
  readonly oldestWaitingMillis: number | null
  /** This process's consumer of the queue (the pool named after it), when there is one. */
  readonly consumer: PoolView | null
  /** The queue's consumers in every process, as the store last heard of them (every 5 seconds). */
  readonly consumers: ReadonlyArray<ConsumerView>
  /** Why the counts could not be read, when they could not. */
  readonly error: string | null
}

/**
 * A consumer of a durable queue, in any process, as `GET /api/queues` shows it.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerView {
  readonly id: string
  readonly name: string
  readonly host: string | null
  readonly pid: number | null
  readonly concurrency: number
  readonly running: number
  readonly succeeded: number
  readonly failed: number
  /** When it started (ISO 8601). */
  readonly startedAt: string
  /** When the store last heard of it (ISO 8601, by the store's clock): its figures are as of then. */
  readonly seenAt: string
  /** How long ago, in milliseconds, the store last heard of it. */
  readonly seenMillisAgo: number
}

/**
 * A job of the failed-jobs record, as `GET /api/queues/:name/failed` lists it.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailedJobView {
  readonly id: string
  readonly attempts: number
  /** The first line of the store's account of the last failure. */
  readonly error: string
  /** When it was recorded as failed (ISO 8601); `null` where the store did not keep the time. */
  readonly failedAt: string | null
}

/**
 * A failed job, as `GET /api/queues/:name/failed/:id` shows it.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailedJobDetail {
  readonly id: string
  readonly attempts: number
  /** Its input as stored: schema-encoded JSON. */
  readonly payload: unknown
  /** Whether the payload still decodes with the queue's input schema. */
  readonly decodes: boolean
  /** The last typed error, encoded by the queue's error schema, while it is kept; `null` otherwise. */
  readonly error: unknown
  /** The store's account of the last failure: the pretty-printed cause. */
  readonly reason: string
  /** When it was recorded as failed (ISO 8601); `null` where the store did not keep the time. */
  readonly failedAt: string | null
}

/**
 * Mounts the dashboard into the app's `HttpRouter` under `prefix` (default `"/dashboard"`): the page at
 * `<prefix>/` and the JSON endpoints under `<prefix>/api/`.
 *
 * **Details**
 *
 * `GET <prefix>/api/pools`, `GET <prefix>/api/queues`, `GET <prefix>/api/queues/:name/failed?offset&limit`,
 * `GET <prefix>/api/queues/:name/failed/:id`; actions: `POST <prefix>/api/queues/:name/failed/:id/requeue`,
 * `POST <prefix>/api/queues/:name/failed/:id/remove`, `POST <prefix>/api/queues/:name/requeue-all` (a JSON body
 * `{ "ids": [...] }` limits it to those jobs). Errors are `{ "error": message }`: 400 for a bad request, 401 for an
 * action without the token, 403 for an action refused (read-only, `authorize` said no, another origin), 404 for an
 * unknown queue or job, 503 when the store fails.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRoutes = (
  options: Options & { readonly prefix?: string | undefined } = {}
): Layer.Layer<
  never,
  InvalidDashboardOptions | PlatformError,
  HttpRouter.HttpRouter | FileSystem.FileSystem | Path.Path
> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const resolved = yield* resolve(options, options.prefix ?? "/dashboard")
    const router = yield* HttpRouter.HttpRouter
    const assets = yield* readAssets
    yield* router.addAll(routes(resolved, assets))
  }))

/**
 * Serves the dashboard on a port of its own (`host` default `"127.0.0.1"`), at `/`, with `@effect/platform-node`'s
 * HTTP server. The server closes with the layer's scope.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options & { readonly port: number; readonly host?: string | undefined }
): Layer.Layer<never, InvalidDashboardOptions | PlatformError | HttpServerError.ServeError> =>
  HttpRouter.serve(layerRoutes({ ...options, prefix: "" }), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(NodeHttpServer.layer(Http.createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
  )

// -----------------------------------------------------------------------------
// Internal
// -----------------------------------------------------------------------------

interface Resolved {
  readonly prefix: string
  readonly queues: ReadonlyMap<string, DurableQueue.DurableQueue<any, any, any>>
  readonly pools: ReadonlyArray<{ readonly stats: Effect.Effect<WorkerPool.Stats> }>
  readonly store: DurableQueue.DurableQueueStore["Service"] | undefined
  readonly registry: Metric.MetricRegistry
  readonly token: Redacted.Redacted<string> | undefined
  readonly authorize: ((request: HttpServerRequest.HttpServerRequest) => Effect.Effect<boolean>) | undefined
  readonly readOnly: boolean
  readonly refreshMillis: number
}

const resolve = (
  options: Options,
  prefix: string
): Effect.Effect<Resolved, InvalidDashboardOptions> =>
  Effect.gen(function*() {
    const invalid = (option: string, reason: string) => Effect.fail(new InvalidDashboardOptions({ option, reason }))
    if (typeof prefix !== "string" || (prefix !== "" && !/^\/[A-Za-z0-9._~\-/]*[^/]$/.test(prefix))) {
      return yield* invalid("prefix", `"" or a path that starts with / and does not end with / (got ${prefix})`)
    }
    const queues = new Map<string, DurableQueue.DurableQueue<any, any, any>>()
    for (const queue of options.queues ?? []) {
      if (typeof queue !== "object" || queue === null || queue[DurableQueue.TypeId] !== DurableQueue.TypeId) {
        return yield* invalid("queues", "definitions made with DurableQueue.define")
      }
      if (queues.has(queue.name)) return yield* invalid("queues", `the queue "${queue.name}" is listed twice`)
      queues.set(queue.name, queue)
    }
    const store = Option.getOrUndefined(yield* Effect.serviceOption(DurableQueue.DurableQueueStore))
    if (queues.size > 0 && store === undefined) {
      return yield* invalid("queues", "showing durable queues needs a DurableQueueStore (provide its layer)")
    }
    const token = options.token === undefined
      ? undefined
      : Redacted.isRedacted(options.token)
      ? options.token
      : Redacted.make(options.token)
    if (token !== undefined && (typeof Redacted.value(token) !== "string" || Redacted.value(token).length < 8)) {
      return yield* invalid("token", "a string of at least 8 characters")
    }
    if (options.authorize !== undefined && typeof options.authorize !== "function") {
      return yield* invalid("authorize", "a function from the request to an Effect of a boolean")
    }
    const refresh = Option.getOrUndefined(Duration.fromInput(options.refreshInterval ?? "1 second"))
    if (
      refresh === undefined || Duration.toMillis(refresh) < 100 || Duration.toMillis(refresh) > 60_000
    ) {
      return yield* invalid("refreshInterval", "a duration from 100 milliseconds to 1 minute")
    }
    return {
      prefix,
      queues,
      pools: options.pools ?? [],
      store,
      registry: yield* Metric.MetricRegistry,
      token,
      authorize: options.authorize,
      readOnly: options.readOnly === true,
      refreshMillis: Duration.toMillis(refresh)
    }
  })

interface Assets {
  readonly "index.html": string
  readonly "app.js": string
  readonly "style.css": string
}

const contentTypes: Record<keyof Assets, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8"
}

/**
 * The page's files, read once when the layer is built. They sit beside this module in `dashboard/`; from the
 * compiled module (`dist/layers/`) they are found in the package's `layers/dashboard/`.
 */
const readAssets: Effect.Effect<Assets, PlatformError, FileSystem.FileSystem | Path.Path> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const candidates = [new URL("./dashboard/", import.meta.url), new URL("../../layers/dashboard/", import.meta.url)]
  // our own file URLs: they cannot fail to convert
  const toPath = (url: URL) => Effect.orDie(path.fromFileUrl(url))
  let directory = yield* toPath(candidates[0])
  for (const candidate of candidates) {
    const resolved = yield* toPath(candidate)
    if (yield* fs.exists(path.join(resolved, "index.html"))) {
      directory = resolved
      break
    }
  }
  const read = (file: keyof Assets) => fs.readFileString(path.join(directory, file))
  return {
    "index.html": yield* read("index.html"),
    "app.js": yield* read("app.js"),
    "style.css": yield* read("style.css")
  }
})

/** Defence in depth: even a payload that reached the page as markup could not run a script. */
const pageHeaders = {
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

type Handler = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | HttpServerRequest.ParsedSearchParams
>

const routes = (self: Resolved, assets: Assets): ReadonlyArray<HttpRouter.Route<never, HttpRouter.Provided>> => {
  const p = self.prefix
  const asset = (file: keyof Assets) =>
    HttpServerResponse.text(assets[file], { contentType: contentTypes[file], headers: pageHeaders })
  const get = (path: `/${string}`, handler: Handler) => HttpRouter.route("GET", `${p}${path}` as `/${string}`, handler)
  return [
    // the page's files are relative to it: `<prefix>` alone is sent to `<prefix>/`
    get(
      "/",
      Effect.map(
        HttpServerRequest.HttpServerRequest,
        (request) =>
          p !== "" && !request.url.split("?", 1)[0].endsWith("/")
            ? HttpServerResponse.redirect(`${p}/`)
            : asset("index.html")
      )
    ),
    get("/app.js", Effect.succeed(asset("app.js"))),
    get("/style.css", Effect.succeed(asset("style.css"))),
    get("/api/pools", Effect.map(readPools(self), (pools) => ok({ pools }))),
    // `/api/queues` and everything under it: queue names and job ids are read from the path here, since the
    // router's path parameters are limited to 100 characters and ids may have 255
    get("/api/queues/*", answer(Effect.flatMap(queuePath, (path) => getQueues(self, path)))),
    HttpRouter.route(
      "POST",
      `${p}/api/queues/*` as `/${string}`,
      answer(Effect.flatMap(queuePath, (path) => postQueues(self, path)))
    )
  ]
}

/** The percent-decoded segments of the path after `/api/queues`. */
const queuePath: Effect.Effect<ReadonlyArray<string>, Refused, HttpServerRequest.HttpServerRequest> = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) => {
    const path = request.url.split("?", 1)[0]
    const at = path.lastIndexOf("/api/queues")
    const rest = path.slice(at + "/api/queues".length).replace(/^\/+/, "").replace(/\/+$/, "")
    if (rest === "") return Effect.succeed([])
    const segments: Array<string> = []
    for (const raw of rest.split("/")) {
      const decoded = Option.liftThrowable(decodeURIComponent)(raw)
      if (Option.isNone(decoded)) return refuse(400, "the path is not percent-encoded correctly")
      segments.push(decoded.value)
    }
    return Effect.succeed(segments)
  }
)

const isAction = (path: ReadonlyArray<string>): boolean =>
  (path.length === 4 && path[1] === "failed" && (path[3] === "requeue" || path[3] === "remove")) ||
  (path.length === 2 && path[1] === "requeue-all")

const getQueues = (
  self: Resolved,
  path: ReadonlyArray<string>
): Effect.Effect<HttpServerResponse.HttpServerResponse, Refused, HttpServerRequest.ParsedSearchParams> => {
  if (path.length === 0) return queuesView(self)
  // a GET on an action changes nothing: it is answered 405
  if (isAction(path)) return refuse(405, "this action needs a POST request", { allow: "POST" })
  if (path[1] !== "failed") return refuse(404, "no such endpoint of the dashboard")
  if (path.length === 2) return Effect.flatMap(findQueue(self, path[0]), (queue) => failedList(self, queue))
  if (path.length === 3) {
    return Effect.flatMap(
      Effect.all([findQueue(self, path[0]), checkId(path[2])]),
      ([queue, id]) => failedDetail(self, queue, id)
    )
  }
  return refuse(404, "no such endpoint of the dashboard")
}

const postQueues = (
  self: Resolved,
  path: ReadonlyArray<string>
): Effect.Effect<HttpServerResponse.HttpServerResponse, Refused, HttpServerRequest.HttpServerRequest> => {
  if (!isAction(path)) return refuse(404, "no such endpoint of the dashboard")
  return Effect.gen(function*() {
    yield* authorizeAction(self)
    const queue = yield* findQueue(self, path[0])
    if (path.length === 2) return yield* requeueAll(self, queue)
    const id = yield* checkId(path[2])
    return yield* jobAction(self, queue, id, path[3] as "requeue" | "remove")
  })
}

const ok = (body: unknown, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body, { status, headers: { "cache-control": "no-store" } })

const failure = (
  status: number,
  message: string,
  headers: Record<string, string> = {}
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe({ error: message }, { status, headers: { "cache-control": "no-store", ...headers } })

/** An answer other than the handler's own: a bad request, a refusal, a store failure. */
class Refused extends Data.TaggedError("Refused")<{ readonly response: HttpServerResponse.HttpServerResponse }> {}

const refused = (status: number, message: string, headers?: Record<string, string>): Refused =>
  new Refused({ response: failure(status, message, headers) })

const answer = <R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, Refused, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catch(effect, (refused) => Effect.succeed(refused.response))

const refuse = (status: number, message: string, headers?: Record<string, string>): Effect.Effect<never, Refused> =>
  Effect.fail(refused(status, message, headers))

const fromStore = <A>(
  effect: Effect.Effect<A, DurableQueueError | InvalidQueueOptions>
): Effect.Effect<A, Refused> =>
  Effect.mapError(effect, (error) =>
    error instanceof DurableQueueError
      ? refused(503, error.message)
      : refused(500, error instanceof InvalidQueueOptions ? error.message : String(error)))

// -- authorization ------------------------------------------------------------

const authorizeAction = (self: Resolved): Effect.Effect<void, Refused, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.gen(function*() {
      if (self.readOnly) return yield* refuse(403, "the dashboard is read-only: actions are turned off")
      // a page of another site could post here with the operator's cookies; the browser names its origin
      const origin = request.headers["origin"]
      if (origin !== undefined && origin !== "null" && !sameOrigin(origin, request.headers["host"])) {
        return yield* refuse(403, `an action from another origin (${origin}) is refused`)
      }
      if (self.token === undefined && self.authorize === undefined) {
        return yield* refuse(403, "actions are turned off: the dashboard was given no token and no authorize function")
      }
      if (self.token !== undefined) {
        const header = request.headers["authorization"]
        const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
        if (match === null) {
          return yield* refuse(401, "this action needs the dashboard's token (Authorization: Bearer <token>)", {
            "www-authenticate": "Bearer"
          })
        }
        if (!constantTimeEqual(match[1], Redacted.value(self.token))) {
          return yield* refuse(403, "the token is not the dashboard's token")
        }
      }
      if (self.authorize !== undefined) {
        const allowed = yield* Effect.exit(self.authorize(request))
        if (!Exit.isSuccess(allowed) || allowed.value !== true) {
          return yield* refuse(403, "not authorized to act on this dashboard")
        }
      }
    }))

const sameOrigin = (origin: string, host: string | undefined): boolean => {
  if (host === undefined) return false
  const parsed = Option.liftThrowable((input: string) => new URL(input))(origin)
  return Option.isSome(parsed) && parsed.value.host === host
}

const constantTimeEqual = (a: string, b: string): boolean => {
  let difference = a.length ^ b.length
  for (let i = 0; i < b.length; i++) difference |= (a.charCodeAt(i % Math.max(a.length, 1)) | 0) ^ b.charCodeAt(i)
  return difference === 0
}

// -- pools ----------------------------------------------------------------------

const readPools = (self: Resolved): Effect.Effect<Array<PoolView>> =>
  Effect.gen(function*() {
    const snapshot = yield* Effect.provideService(Metric.snapshot, Metric.MetricRegistry, self.registry)
    const byPool = new Map<string, Array<Metric.Metric.Snapshot>>()
    for (const entry of snapshot) {
      const pool = entry.attributes?.["pool"]
      if (pool === undefined || !entry.id.startsWith("worker_pool_")) continue
      let entries = byPool.get(pool)
      if (entries === undefined) {
        entries = []
        byPool.set(pool, entries)
      }
      entries.push(entry)
    }
    const stats = new Map<string, WorkerPool.Stats>()
    for (const pool of self.pools) {
      const exit = yield* Effect.exit(pool.stats)
      if (Exit.isSuccess(exit)) stats.set(exit.value.name, exit.value)
    }
    return Array.from(byPool, ([name, entries]) => poolView(name, entries, stats.get(name)))
      .sort((a, b) => a.name.localeCompare(b.name))
  })

const poolView = (
  name: string,
  entries: ReadonlyArray<Metric.Metric.Snapshot>,
  stats: WorkerPool.Stats | undefined
): PoolView => {
  const find = (id: string, extra?: Record<string, string>) =>
    entries.find((entry) =>
      entry.id === id &&
      (extra === undefined || Object.entries(extra).every(([key, value]) => entry.attributes?.[key] === value))
    )
  const number = (id: string, extra?: Record<string, string>): number => {
    const entry = find(id, extra)
    if (entry === undefined) return 0
    if (entry.type === "Counter") return Number(entry.state.count)
    if (entry.type === "Gauge") return Number(entry.state.value)
    return 0
  }
  const outcomes = {} as Record<WorkerPoolMetrics.Outcome, number>
  let completed = 0
  for (const outcome of WorkerPoolMetrics.outcomes) {
    outcomes[outcome] = number(WorkerPoolMetrics.jobsCompleted.id, { outcome })
    completed += outcomes[outcome]
  }
  const histogram = (id: string): Percentiles => {
    const entry = find(id)
    return entry?.type === "Histogram" ? percentiles(entry.state) : empty
  }
  return {
    name,
    state: stats?.state ?? null,
    paused: stats?.paused ?? null,
    workers: number(WorkerPoolMetrics.workers.id),
    busy: number(WorkerPoolMetrics.workersBusy.id),
    queued: number(WorkerPoolMetrics.queueDepth.id),
    waiting: number(WorkerPoolMetrics.submittersWaiting.id),
    submitted: number(WorkerPoolMetrics.jobsSubmitted.id),
    started: number(WorkerPoolMetrics.jobsStarted.id),
    rejected: number(WorkerPoolMetrics.jobsRejected.id),
    retried: number(WorkerPoolMetrics.jobsRetried.id),
    completed,
    outcomes,
    waitTime: histogram(WorkerPoolMetrics.jobWaitTime.id),
    runTime: histogram(WorkerPoolMetrics.jobRunTime.id)
  }
}

const empty: Percentiles = { count: 0, p50: null, p90: null, p99: null, max: null }

/** Percentiles in milliseconds from a histogram in seconds, interpolated within buckets (Prometheus' way). */
const percentiles = (state: Metric.HistogramState): Percentiles => {
  if (state.count === 0) return empty
  const max = state.max * 1000
  const quantile = (q: number): number => {
    const target = q * state.count
    let lower = 0
    let below = 0
    for (const [boundary, cumulated] of state.buckets) {
      if (cumulated >= target) {
        const within = cumulated - below
        const value = within === 0 ? boundary : lower + (boundary - lower) * ((target - below) / within)
        return round(Math.min(value * 1000, max))
      }
      lower = boundary
      below = cumulated
    }
    return round(max)
  }
  return { count: state.count, p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max: round(max) }
}

const round = (millis: number): number => Math.round(millis * 100) / 100

// -- queues ---------------------------------------------------------------------

const queuesView = (self: Resolved): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.gen(function*() {
    const pools = yield* readPools(self)
    const queues: Array<QueueView> = []
    const now = yield* Clock.currentTimeMillis
    for (const queue of self.queues.values()) {
      const counts = yield* Effect.exit(withStore(self, DurableQueue.counts(queue)))
      const consumers = yield* Effect.exit(withStore(self, DurableQueue.consumers(queue)))
      const failure = Exit.isFailure(counts) ? counts : Exit.isFailure(consumers) ? consumers : undefined
      queues.push({
        name: queue.name,
        maxAttempts: queue.maxAttempts,
        counts: Exit.isSuccess(counts)
          ? {
            waiting: counts.value.waiting ?? null,
            delayed: counts.value.delayed ?? null,
            running: counts.value.running ?? null,
            failed: counts.value.failed
          }
          : { waiting: null, delayed: null, running: null, failed: null },
        oldestWaitingMillis: Exit.isSuccess(counts) ? counts.value.oldestWaitingMillis ?? null : null,
        consumer: pools.find((pool) => pool.name === queue.name) ?? null,
        consumers: Exit.isSuccess(consumers) ? consumers.value.map((consumer) => consumerView(consumer, now)) : [],
        error: failure === undefined ? null : describeFailure(failure.cause)
      })
    }
    return ok({
      queues,
      readOnly: self.readOnly,
      actions: self.readOnly
        ? "read-only"
        : self.token === undefined && self.authorize === undefined
        ? "disabled"
        : "enabled",
      token: self.token !== undefined,
      refreshMillis: self.refreshMillis
    })
  })

const consumerView = (consumer: DurableQueue.ConsumerInfo, now: number): ConsumerView => ({
  id: consumer.id,
  name: consumer.name,
  host: consumer.host ?? null,
  pid: consumer.pid ?? null,
  concurrency: consumer.concurrency,
  running: consumer.running,
  succeeded: consumer.succeeded,
  failed: consumer.failed,
  startedAt: isoTime(consumer.startedAt) ?? "",
  seenAt: isoTime(consumer.seenAt) ?? "",
  seenMillisAgo: Math.max(0, now - consumer.seenAt)
})

const isoTime = (millis: number | undefined): string | null => {
  if (millis === undefined) return null
  const time = DateTime.make(millis)
  return Option.isSome(time) ? DateTime.formatIso(time.value) : null
}

const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const reason = cause.reasons.find((reason) => reason._tag === "Fail")
  return reason !== undefined && reason._tag === "Fail" && reason.error instanceof Error
    ? reason.error.message
    : "the store could not be read"
}

const withStore = <A, E>(
  self: Resolved,
  effect: Effect.Effect<A, E, DurableQueue.DurableQueueStore>
): Effect.Effect<A, E> => Effect.provideService(effect, DurableQueue.DurableQueueStore, self.store!)

const findQueue = (self: Resolved, name: string): Effect.Effect<DurableQueue.DurableQueue<any, any, any>, Refused> => {
  const queue = self.queues.get(name)
  return queue === undefined
    ? refuse(404, `no durable queue named "${truncate(name, 200)}" is shown on this dashboard`)
    : Effect.succeed(queue)
}

const checkId = (id: unknown): Effect.Effect<string, Refused> =>
  isJobId(id) ? Effect.succeed(id) : refuse(400, `a job id is ${jobIdRule}`)

const truncate = (text: string, length: number): string => text.length <= length ? text : `${text.slice(0, length)}...`

const firstLine = (text: string): string => truncate(text.split("\n", 1)[0] ?? "", 500)

const integerParam = (
  searchParams: HttpServerRequest.ParsedSearchParams["Service"],
  name: string,
  fallback: number,
  min: number,
  max: number
): Effect.Effect<number, Refused> => {
  const raw = searchParams[name]
  if (raw === undefined) return Effect.succeed(fallback)
  const value = typeof raw === "string" && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN
  return Number.isInteger(value) && value >= min && value <= max
    ? Effect.succeed(value)
    : refuse(400, `"${name}" must be an integer from ${min} to ${max} (got ${truncate(String(raw), 50)})`)
}

const failedList = (self: Resolved, queue: DurableQueue.DurableQueue<any, any, any>) =>
  Effect.gen(function*() {
    const searchParams = yield* HttpServerRequest.ParsedSearchParams
    const offset = yield* integerParam(searchParams, "offset", 0, 0, 100_000_000)
    const limit = yield* integerParam(searchParams, "limit", 50, 1, 1000)
    const records = yield* fromStore(self.store!.failed(queue.name))
    const jobs: Array<FailedJobView> = records.slice(offset, offset + limit).map((record) => ({
      id: record.id,
      attempts: record.attempts,
      error: firstLine(record.reason),
      failedAt: isoTime(record.failedAt)
    }))
    return ok({ queue: queue.name, total: records.length, offset, limit, jobs })
  })

const failedDetail = (self: Resolved, queue: DurableQueue.DurableQueue<any, any, any>, id: string) =>
  Effect.gen(function*() {
    const record = yield* fromStore(self.store!.failedJob(queue.name, id))
    if (record === undefined) return yield* refuse(404, `no failed job "${truncate(id, 200)}" in "${queue.name}"`)
    // the typed error is kept beside the record, decoded by `failed`
    const jobs = yield* fromStore(withStore(self, DurableQueue.failed(queue)))
    const job = jobs.find((job) => job.id === id)
    const encodeError = Schema.encodeUnknownOption(
      Schema.toCodecJson(Schema.Union([queue.error, JobSchemaError, JobTimeout]))
    )
    const detail: FailedJobDetail = {
      id: record.id,
      attempts: record.attempts,
      payload: record.element,
      decodes: job !== undefined && Option.isSome(job.input),
      error: job === undefined || Option.isNone(job.error)
        ? null
        : Option.getOrElse(encodeError(job.error.value), () => String(job.error)),
      reason: record.reason,
      failedAt: isoTime(record.failedAt)
    }
    return ok(detail)
  })

const jobAction = (
  self: Resolved,
  queue: DurableQueue.DurableQueue<any, any, any>,
  id: string,
  action: "requeue" | "remove"
) =>
  Effect.gen(function*() {
    const done = yield* fromStore(
      withStore(self, action === "requeue" ? DurableQueue.requeue(queue, id) : DurableQueue.remove(queue, id))
    )
    if (!done) return yield* refuse(404, `no failed job "${truncate(id, 200)}" in "${queue.name}"`)
    return ok(action === "requeue" ? { requeued: true, id } : { removed: true, id })
  })

const RequeueAllBody = Schema.Struct({ ids: Schema.optional(Schema.Array(Schema.String)) })

const requeueAll = (self: Resolved, queue: DurableQueue.DurableQueue<any, any, any>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.mapError(request.text, () => refused(400, "the request body could not be read"))
    let ids: ReadonlyArray<string> | undefined
    if (text.trim() !== "") {
      const json = Option.liftThrowable((input: string): unknown => JSON.parse(input))(text)
      if (Option.isNone(json)) return yield* refuse(400, "the body is not JSON: send { \"ids\": [...] } or nothing")
      const body = Schema.decodeUnknownOption(RequeueAllBody)(json.value)
      if (Option.isNone(body)) {
        return yield* refuse(400, "the body must be { \"ids\": [\"<job id>\", ...] } (or empty for every failed job)")
      }
      if (body.value.ids !== undefined) {
        if (body.value.ids.length > 10_000) return yield* refuse(400, "at most 10,000 ids at once")
        for (const id of body.value.ids) yield* checkId(id)
        ids = body.value.ids
      }
    }
    const targets = ids ?? (yield* fromStore(self.store!.failed(queue.name))).map((record) => record.id)
    let requeued = 0
    const missing: Array<string> = []
    for (const id of targets) {
      if (yield* fromStore(withStore(self, DurableQueue.requeue(queue, id)))) requeued++
      else missing.push(id)
    }
    return ok({ requeued, missing })
  })
