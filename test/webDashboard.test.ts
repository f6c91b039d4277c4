/**
 * The web dashboard's HTTP endpoints, called directly over a real server: the page's files, the JSON of pools and
 * queues, the failed-jobs record, the actions and who may take them, and bad requests.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Net from "node:net"
import * as WebDashboard from "../layers/WebDashboard.ts"
import { DurableQueue, WorkerPool } from "../src/index.ts"
import { eventually } from "./utils/durable.ts"

class Boom extends Schema.TaggedError<Boom>("test/Boom")("Boom", { text: Schema.String }) {}

const Jobs = DurableQueue.define({
  name: "jobs",
  input: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  error: Boom,
  maxAttempts: 1,
  resultTimeToLive: "1 minute"
})

const TOKEN = "s3cret-token-for-tests"
const XSS = "<script>window.hacked = true</script><img src=x onerror=alert(1)>"

interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

/** The server's base URL. */
const base = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address as { readonly port: number }
  return `http://127.0.0.1:${address.port}`
})

const call = (
  method: "GET" | "POST",
  path: string,
  options: { readonly headers?: Record<string, string>; readonly body?: string } = {}
): Effect.Effect<Reply, never, HttpServer.HttpServer> =>
  Effect.flatMap(base, (url) =>
    Effect.promise(async () => {
      const response = await fetch(`${url}${path}`, {
        method,
        redirect: "manual",
        ...(options.headers === undefined ? {} : { headers: options.headers }),
        ...(options.body === undefined ? {} : { body: options.body })
      })
      const text = await response.text()
      let json: unknown = undefined
      if ((response.headers.get("content-type") ?? "").startsWith("application/json")) json = JSON.parse(text)
      return { status: response.status, headers: response.headers, text, json }
    }))

const get = (path: string, headers?: Record<string, string>) => call("GET", path, headers ? { headers } : {})
const post = (path: string, options: { readonly headers?: Record<string, string>; readonly body?: string } = {}) =>
  call("POST", path, options)
const authorized = { authorization: `Bearer ${TOKEN}` }

/** The dashboard mounted under /dashboard in an app's router, over a fresh memory store. */
const mounted = (options: WebDashboard.Options & { readonly prefix?: string }) =>
  HttpRouter.serve(WebDashboard.layerRoutes(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(Layer.mergeAll(NodeHttpServer.layerTest, Layer.fresh(DurableQueue.layerMemory)))
  )

/** A consumer of `Jobs` that fails the jobs whose text starts with "fail", until their id is healed. */
const consumeJobs = (healed: Set<string>) =>
  DurableQueue.consume(Jobs, {
    concurrency: 2,
    handler: (input, job) =>
      input.text.startsWith("fail") && !healed.has(job.id)
        ? Effect.fail(new Boom({ text: input.text }))
        : Effect.succeed(`done: ${input.text}`)
  })

/** Offers a job that fails and waits for it in the failed-jobs record. */
const failJob = (id: string, text = `fail ${id}`) =>
  Effect.gen(function*() {
    yield* DurableQueue.offer(Jobs, { text }, { id })
    yield* eventually(DurableQueue.failed(Jobs), (jobs) => jobs.some((job) => job.id === id))
  })

const failedIds = Effect.map(DurableQueue.failed(Jobs), (jobs) => jobs.map((job) => job.id).sort())

describe("WebDashboard", () => {
  describe("the page", () => {
    it.live("is served with its script and style, and a policy that runs no inline script", () =>
      Effect.gen(function*() {
        const page = yield* get("/dashboard/")
        assert.strictEqual(page.status, 200)
        assert.match(page.headers.get("content-type") ?? "", /^text\/html/)
        assert.include(page.text, `<script src="app.js" defer></script>`)
        const policy = page.headers.get("content-security-policy") ?? ""
        assert.include(policy, "script-src 'self'")
        assert.notInclude(policy, "unsafe-inline")
        const script = yield* get("/dashboard/app.js")
        assert.strictEqual(script.status, 200)
        assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/)
        assert.include(script.text, "textContent")
        assert.notInclude(script.text, "innerHTML")
        const style = yield* get("/dashboard/style.css")
        assert.match(style.headers.get("content-type") ?? "", /^text\/css/)
        // the page's files are relative to it
        const bare = yield* get("/dashboard")
        assert.strictEqual(bare.status, 302)
        assert.strictEqual(bare.headers.get("location"), "/dashboard/")
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("on a port of its own, it is served at /", () =>
      Effect.gen(function*() {
        const port = yield* freePort
        yield* Layer.build(WebDashboard.layer({ port }))
        const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/api/pools`))
        assert.strictEqual(response.status, 200)
        const body: unknown = yield* Effect.promise(() => response.json())
        assert.deepStrictEqual(Object.keys(body as object), ["pools"])
        const page = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()))
        assert.include(page, "Worker pools and durable queues")
      }))
  })

  describe("GET /api/pools", () => {
    it.live("shows every pool's figures from its metrics, with the state of the pools it was given", () =>
      Effect.gen(function*() {
        const squares = yield* WorkerPool.make({
          name: "squares",
          concurrency: 2,
          handler: (n: number) => n === 3 ? Effect.fail("three" as const) : Effect.succeed(n * n)
        })
        yield* Effect.forEach([1, 2, 3, 4, 5], (n) => Effect.exit(squares.execute(n)), { concurrency: "unbounded" })
        // the server is built after the pool, to be given it
        const server = yield* Layer.build(mounted({ queues: [Jobs], pools: [squares] }))
        yield* Effect.gen(function*() {
          yield* consumeJobs(new Set())
          const { json, status } = yield* get("/dashboard/api/pools")
          assert.strictEqual(status, 200)
          const pool = json.pools.find((pool: WebDashboard.PoolView) => pool.name === "squares")
          assert.isDefined(pool, JSON.stringify(json))
          assert.strictEqual(pool.state, "open")
          assert.strictEqual(pool.paused, false)
          assert.strictEqual(pool.workers, 2)
          assert.strictEqual(pool.busy, 0)
          assert.strictEqual(pool.queued, 0)
          assert.strictEqual(pool.submitted, 5)
          assert.strictEqual(pool.completed, 5)
          assert.deepStrictEqual(pool.outcomes, {
            succeeded: 4,
            failed: 1,
            defect: 0,
            timed_out: 0,
            cancelled: 0,
            dropped: 0,
            shutdown: 0
          })
          assert.strictEqual(pool.runTime.count, 5)
          assert.isNumber(pool.runTime.p50)
          assert.isAtMost(pool.runTime.p50, pool.runTime.p99)
          assert.deepStrictEqual(Object.keys(pool.waitTime).sort(), ["count", "max", "p50", "p90", "p99"])
          // a pool seen only through its metrics has no state
          const consumer = json.pools.find((pool: WebDashboard.PoolView) => pool.name === "jobs")
          assert.isDefined(consumer)
          assert.isNull(consumer.state)
          assert.strictEqual(consumer.workers, 2)
        }).pipe(Effect.provide(server))
      }))
  })

  describe("GET /api/queues and the failed-jobs record", () => {
    it.live("shows each queue's counts and consumer, its failed jobs, and a job's encoded payload and error", () =>
      Effect.gen(function*() {
        const startedAt = new Date()
        yield* consumeJobs(new Set())
        yield* DurableQueue.offer(Jobs, { text: "fine" }, { id: "ok-1" })
        yield* failJob("bad-1", `fail ${XSS}`)
        yield* failJob("bad-2")
        const failedBy = new Date()
        const within = (iso: string) => {
          const time = new Date(iso).getTime()
          assert.isAtLeast(time, startedAt.getTime())
          assert.isAtMost(time, failedBy.getTime())
        }

        const queues = yield* get("/dashboard/api/queues")
        assert.strictEqual(queues.status, 200)
        assert.strictEqual(queues.json.actions, "enabled")
        assert.strictEqual(queues.json.token, true)
        assert.strictEqual(queues.json.readOnly, false)
        const [queue] = queues.json.queues
        assert.strictEqual(queue.name, "jobs")
        assert.strictEqual(queue.maxAttempts, 1)
        assert.deepStrictEqual(queue.counts, { waiting: null, delayed: null, running: null, failed: 2 })
        assert.isNull(queue.error)
        assert.strictEqual(queue.consumer.name, "jobs")
        assert.strictEqual(queue.consumer.workers, 2)
        assert.isAtLeast(queue.consumer.completed, 3)
        assert.isNull(queue.oldestWaitingMillis, "the memory store cannot tell")
        assert.strictEqual(queue.consumers.length, 1)
        const [seen] = queue.consumers as ReadonlyArray<WebDashboard.ConsumerView>
        assert.deepStrictEqual([seen.name, seen.concurrency, seen.host, seen.pid], ["jobs", 2, null, null])
        within(seen.startedAt)
        assert.isAtLeast(seen.seenMillisAgo, 0)
        assert.isBelow(seen.seenMillisAgo, 5_100, "a consumer beats every 5 seconds")

        const list = yield* get("/dashboard/api/queues/jobs/failed")
        assert.strictEqual(list.status, 200)
        assert.strictEqual(list.json.total, 2)
        assert.deepStrictEqual(list.json.jobs.map((job: WebDashboard.FailedJobView) => job.id), ["bad-1", "bad-2"])
        assert.strictEqual(list.json.jobs[0].attempts, 1)
        assert.include(list.json.jobs[0].error, "Boom")
        within(list.json.jobs[0].failedAt)
        within(list.json.jobs[1].failedAt)
        const page = yield* get("/dashboard/api/queues/jobs/failed?offset=1&limit=1")
        assert.deepStrictEqual(page.json.jobs.map((job: WebDashboard.FailedJobView) => job.id), ["bad-2"])
        assert.strictEqual(page.json.total, 2)

        const detail = yield* get("/dashboard/api/queues/jobs/failed/bad-1")
        assert.strictEqual(detail.status, 200)
        assert.deepStrictEqual(detail.json.payload, { text: `fail ${XSS}` })
        assert.strictEqual(detail.json.decodes, true)
        assert.deepStrictEqual(detail.json.error, { _tag: "Boom", text: `fail ${XSS}` })
        assert.strictEqual(detail.json.attempts, 1)
        assert.include(detail.json.reason, "Boom")
        assert.strictEqual(detail.json.failedAt, list.json.jobs[0].failedAt)

        const unknownJob = yield* get("/dashboard/api/queues/jobs/failed/ok-1")
        assert.strictEqual(unknownJob.status, 404)
        assert.include(unknownJob.json.error, `no failed job "ok-1"`)
        const unknownQueue = yield* get("/dashboard/api/queues/nope/failed")
        assert.strictEqual(unknownQueue.status, 404)
        assert.include(unknownQueue.json.error, `no durable queue named "nope"`)
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("ids are taken from the path percent-decoded, up to the 255 characters an id may have", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        for (const id of ["a job/with ünïcode & spaces?", "l".repeat(255)]) {
          yield* failJob(id)
          const detail = yield* get(`/dashboard/api/queues/jobs/failed/${encodeURIComponent(id)}`)
          assert.strictEqual(detail.status, 200, detail.text)
          assert.strictEqual(detail.json.id, id)
          const removed = yield* post(`/dashboard/api/queues/jobs/failed/${encodeURIComponent(id)}/remove`, {
            headers: authorized
          })
          assert.strictEqual(removed.status, 200, removed.text)
        }
        assert.deepStrictEqual(yield* failedIds, [])
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("no GET changes anything, and a GET on an action is answered 405", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        yield* failJob("bad-1")
        const before = yield* failedIds
        for (
          const path of [
            "/dashboard/",
            "/dashboard/api/pools",
            "/dashboard/api/queues",
            "/dashboard/api/queues/jobs/failed",
            "/dashboard/api/queues/jobs/failed/bad-1"
          ]
        ) {
          assert.strictEqual((yield* get(path, authorized)).status, 200, path)
        }
        for (const path of ["failed/bad-1/requeue", "failed/bad-1/remove", "requeue-all"]) {
          const reply = yield* get(`/dashboard/api/queues/jobs/${path}`, authorized)
          assert.strictEqual(reply.status, 405, path)
          assert.strictEqual(reply.headers.get("allow"), "POST")
          assert.include(reply.json.error, "POST")
        }
        assert.deepStrictEqual(yield* failedIds, before)
        assert.deepStrictEqual(before, ["bad-1"])
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("bad requests are answered 400 with what is wrong", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        yield* failJob("bad-1")
        const bad = function*(reply: Reply, pattern: RegExp) {
          assert.strictEqual(reply.status, 400, reply.text)
          assert.match(reply.json.error, pattern)
        }
        yield* bad(yield* get("/dashboard/api/queues/jobs/failed?limit=abc"), /"limit" must be an integer from 1/)
        yield* bad(yield* get("/dashboard/api/queues/jobs/failed?limit=0"), /"limit" must be an integer from 1/)
        yield* bad(yield* get("/dashboard/api/queues/jobs/failed?limit=5000"), /to 1000/)
        yield* bad(yield* get("/dashboard/api/queues/jobs/failed?offset=-1"), /"offset" must be an integer/)
        const long = "x".repeat(256)
        yield* bad(yield* get(`/dashboard/api/queues/jobs/failed/${long}`), /at most 255 characters/)
        yield* bad(yield* post(`/dashboard/api/queues/jobs/failed/${long}/requeue`, { headers: authorized }), /255/)
        // a NUL no store can keep: refused as bad input, not an error of the server
        yield* bad(yield* get("/dashboard/api/queues/jobs/failed/nul%00id"), /without lone surrogates or NUL/)
        yield* bad(
          yield* post("/dashboard/api/queues/jobs/failed/nul%00id/requeue", { headers: authorized }),
          /without lone surrogates or NUL/
        )
        const requeueAll = "/dashboard/api/queues/jobs/requeue-all"
        yield* bad(yield* post(requeueAll, { headers: authorized, body: "{nope" }), /not JSON/)
        yield* bad(yield* post(requeueAll, { headers: authorized, body: `{"ids": 5}` }), /"ids"/)
        yield* bad(yield* post(requeueAll, { headers: authorized, body: `{"ids": [""]}` }), /non-empty/)
        // nothing moved
        assert.deepStrictEqual(yield* failedIds, ["bad-1"])
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))
  })

  describe("actions", () => {
    it.live("requeue needs the token: refused 401 without it, 403 with another; with it the job runs again", () =>
      Effect.gen(function*() {
        const healed = new Set<string>()
        yield* consumeJobs(healed)
        yield* failJob("bad-1")
        const path = "/dashboard/api/queues/jobs/failed/bad-1/requeue"

        const without = yield* post(path)
        assert.strictEqual(without.status, 401)
        assert.strictEqual(without.headers.get("www-authenticate"), "Bearer")
        assert.include(without.json.error, "token")
        const wrong = yield* post(path, { headers: { authorization: "Bearer not-the-token" } })
        assert.strictEqual(wrong.status, 403)
        const crossSite = yield* post(path, { headers: { ...authorized, origin: "https://evil.example" } })
        assert.strictEqual(crossSite.status, 403)
        assert.include(crossSite.json.error, "another origin")
        assert.deepStrictEqual(yield* failedIds, ["bad-1"])

        healed.add("bad-1")
        const done = yield* post(path, { headers: authorized })
        assert.strictEqual(done.status, 200, done.text)
        assert.deepStrictEqual(done.json, { requeued: true, id: "bad-1" })
        assert.strictEqual(yield* DurableQueue.result(Jobs, "bad-1"), "done: fail bad-1")
        assert.deepStrictEqual(yield* failedIds, [])
        const again = yield* post(path, { headers: authorized })
        assert.strictEqual(again.status, 404)
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("remove takes a failed job out of the record", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        yield* failJob("bad-1")
        yield* failJob("bad-2")
        const removed = yield* post("/dashboard/api/queues/jobs/failed/bad-1/remove", { headers: authorized })
        assert.strictEqual(removed.status, 200)
        assert.deepStrictEqual(removed.json, { removed: true, id: "bad-1" })
        assert.deepStrictEqual(yield* failedIds, ["bad-2"])
        const again = yield* post("/dashboard/api/queues/jobs/failed/bad-1/remove", { headers: authorized })
        assert.strictEqual(again.status, 404)
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("requeue-all moves every failed job back, or the ids given", () =>
      Effect.gen(function*() {
        const healed = new Set(["bad-1", "bad-2", "bad-3"])
        yield* consumeJobs(healed)
        healed.clear()
        for (const id of ["bad-1", "bad-2", "bad-3"]) yield* failJob(id)
        for (const id of ["bad-1", "bad-2", "bad-3"]) healed.add(id)
        const some = yield* post("/dashboard/api/queues/jobs/requeue-all", {
          headers: authorized,
          body: JSON.stringify({ ids: ["bad-2", "never-failed"] })
        })
        assert.strictEqual(some.status, 200, some.text)
        assert.deepStrictEqual(some.json, { requeued: 1, missing: ["never-failed"] })
        assert.strictEqual(yield* DurableQueue.result(Jobs, "bad-2"), "done: fail bad-2")
        assert.deepStrictEqual(yield* failedIds, ["bad-1", "bad-3"])
        const all = yield* post("/dashboard/api/queues/jobs/requeue-all", { headers: authorized })
        assert.deepStrictEqual(all.json, { requeued: 2, missing: [] })
        assert.strictEqual(yield* DurableQueue.result(Jobs, "bad-3"), "done: fail bad-3")
        assert.deepStrictEqual(yield* failedIds, [])
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN }))))

    it.live("read-only mode refuses every action, even with the token", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        yield* failJob("bad-1")
        assert.strictEqual((yield* get("/dashboard/api/queues")).json.actions, "read-only")
        for (const path of ["failed/bad-1/requeue", "failed/bad-1/remove", "requeue-all"]) {
          const reply = yield* post(`/dashboard/api/queues/jobs/${path}`, { headers: authorized })
          assert.strictEqual(reply.status, 403, path)
          assert.include(reply.json.error, "read-only")
        }
        assert.deepStrictEqual(yield* failedIds, ["bad-1"])
      }).pipe(Effect.provide(mounted({ queues: [Jobs], token: TOKEN, readOnly: true }))))

    it.live("without a token or an authorize function, actions are turned off", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        yield* failJob("bad-1")
        assert.strictEqual((yield* get("/dashboard/api/queues")).json.actions, "disabled")
        const reply = yield* post("/dashboard/api/queues/jobs/failed/bad-1/requeue", { headers: authorized })
        assert.strictEqual(reply.status, 403)
        assert.include(reply.json.error, "no token and no authorize function")
        assert.deepStrictEqual(yield* failedIds, ["bad-1"])
      }).pipe(Effect.provide(mounted({ queues: [Jobs] }))))

    it.live("an authorize function decides from the request", () =>
      Effect.gen(function*() {
        yield* consumeJobs(new Set())
        yield* failJob("bad-1")
        const path = "/dashboard/api/queues/jobs/failed/bad-1/remove"
        const refused = yield* post(path, { headers: { "x-user": "guest" } })
        assert.strictEqual(refused.status, 403)
        assert.include(refused.json.error, "not authorized")
        assert.deepStrictEqual(yield* failedIds, ["bad-1"])
        const allowed = yield* post(path, { headers: { "x-user": "admin" } })
        assert.strictEqual(allowed.status, 200)
        assert.deepStrictEqual(yield* failedIds, [])
      }).pipe(Effect.provide(mounted({
        queues: [Jobs],
        authorize: (request) => Effect.succeed(request.headers["x-user"] === "admin")
      }))))
  })

  describe("options", () => {
    it.live("are checked when the layer is built, with the option named", () =>
      Effect.gen(function*() {
        const build = (options: WebDashboard.Options & { readonly prefix?: string }) =>
          Effect.scoped(Layer.build(
            WebDashboard.layerRoutes(options).pipe(
              Layer.provide([HttpRouter.layer, NodeHttpServer.layerHttpServices])
            )
          )).pipe(Effect.flip)
        const short = yield* build({ token: "short" })
        assert.strictEqual(short._tag, "InvalidDashboardOptions")
        assert.include(short.message, `"token"`)
        const noStore = yield* build({ queues: [Jobs] })
        assert.include(noStore.message, "needs a DurableQueueStore")
        const prefix = yield* build({ prefix: "dashboard/" })
        assert.include(prefix.message, `"prefix"`)
        const refresh = yield* build({ refreshInterval: "1 millis" })
        assert.include(refresh.message, `"refreshInterval"`)
        const twice = yield* Effect.provide(build({ queues: [Jobs, Jobs] }), DurableQueue.layerMemory)
        assert.include(twice.message, "listed twice")
        const fine = yield* Effect.exit(Effect.scoped(Layer.build(
          WebDashboard.layerRoutes({ token: TOKEN }).pipe(
            Layer.provide([HttpRouter.layer, NodeHttpServer.layerHttpServices])
          )
        )))
        assert.isTrue(Exit.isSuccess(fine))
      }))
  })
})

const freePort = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})
