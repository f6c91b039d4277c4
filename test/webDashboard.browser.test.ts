/**
 * The web dashboard in a real browser: headless Chromium (Debian's `chromium` package, `scripts/ensure-chromium.sh`
 * installs it) driven by `playwright-core`. The page loads, its figures follow the jobs, a failed job appears, an
 * action without the token is refused, requeue moves the job back and it completes, a payload holding markup shows
 * as text. Screenshots are saved in `test/screenshots/` for a person to look at.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as Os from "node:os"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import * as PgDurableQueue from "../layers/PgDurableQueue.ts"
import * as WebDashboard from "../layers/WebDashboard.ts"
import { DurableQueue, WorkerPool } from "../src/index.ts"
import { eventually } from "./utils/durable.ts"
import { pgConfig, runId } from "./utils/servers.ts"

// the page's globals, in the functions evaluated in it (this project compiles without the DOM's types)
declare const document: {
  readonly querySelector: (
    selector: string
  ) => { readonly textContent: string | null; readonly getAttribute: (name: string) => string | null } | null
  readonly querySelectorAll: (selector: string) => { readonly length: number }
}
declare const window: { readonly hacked?: boolean }

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const SCREENSHOTS = path.resolve(import.meta.dirname, "screenshots")
const TOKEN = "browser-test-token"
const XSS = `<script>window.hacked = true</script><img src=x onerror="window.hacked = true">`

class Boom extends Schema.TaggedError<Boom>("test/Boom")("Boom", { text: Schema.String }) {}

const Mails = DurableQueue.define({
  name: "mails",
  input: Schema.Struct({ subject: Schema.String }),
  success: Schema.String,
  error: Boom,
  maxAttempts: 1,
  resultTimeToLive: "1 minute"
})

const browser = Effect.acquireRelease(
  Effect.promise((): Promise<Browser> => {
    if (!fs.existsSync(CHROMIUM)) {
      return Promise.reject(new Error(`no Chromium at ${CHROMIUM}: run scripts/ensure-chromium.sh`))
    }
    return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] })
  }),
  (browser) => Effect.promise(() => browser.close())
)

/** A new page on the dashboard, with its script errors collected. */
const open = () =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const port = (server.address as { readonly port: number }).port
    const b = yield* browser
    const page = yield* Effect.promise(() => b.newPage({ viewport: { width: 1280, height: 900 } }))
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    page.on("dialog", (dialog) => {
      errors.push(`unexpected dialog: ${dialog.message()}`)
      dialog.dismiss()
    })
    yield* Effect.promise(() => page.goto(`http://127.0.0.1:${port}/dashboard/`))
    return { page, errors }
  })

const step = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Waits until the text of the first element matching `selector` satisfies `pattern`. */
const waitForText = (page: Page, selector: string, pattern: RegExp) =>
  step(() =>
    page.waitForFunction(
      ([selector, source]) => new RegExp(source).test(document.querySelector(selector)?.textContent ?? ""),
      [selector, pattern.source] as const,
      { timeout: 20_000 }
    )
  ).pipe(Effect.asVoid)

const screenshot = (page: Page, name: string) =>
  step(() => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true })
    return page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })
  }).pipe(Effect.asVoid)

const failedIds = Effect.map(DurableQueue.failed(Mails), (jobs) => jobs.map((job) => job.id).sort())

const mounted = (options: WebDashboard.Options) =>
  HttpRouter.serve(WebDashboard.layerRoutes(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(Layer.mergeAll(NodeHttpServer.layerTest, Layer.fresh(DurableQueue.layerMemory)))
  )

/** A consumer of `Mails` that fails every job whose id is not healed. */
const consumeMails = (healed: Set<string>) =>
  DurableQueue.consume(Mails, {
    concurrency: 2,
    handler: (input, job) =>
      healed.has(job.id) ? Effect.succeed(`sent: ${input.subject}`) : Effect.fail(new Boom({ text: input.subject }))
  })

const pgSchema = `ewp_test_dashboard_${runId.replace(/-/g, "_")}`

/** The dashboard over a PostgreSQL store, in a schema of this run's own, dropped when the test ends. */
const onPostgres = (options: WebDashboard.Options) =>
  HttpRouter.serve(WebDashboard.layerRoutes(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(Layer.mergeAll(
      NodeHttpServer.layerTest,
      PgDurableQueue.layerStore({ pollInterval: "20 millis" }).pipe(
        Layer.provide(
          Layer.effectDiscard(Effect.acquireRelease(
            SqlClient.SqlClient.use((sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(pgSchema)}`),
            () =>
              SqlClient.SqlClient.use((sql) => sql`DROP SCHEMA IF EXISTS ${sql(pgSchema)} CASCADE`).pipe(Effect.orDie)
          )).pipe(
            Layer.provideMerge(PgClient.layer({ ...pgConfig, startupParameters: { search_path: pgSchema } }))
          )
        )
      )
    ))
  )

const Backlog = DurableQueue.define({ name: "backlog", input: Schema.Number, success: Schema.Number })

describe("WebDashboard in Chromium", () => {
  it.live(
    "on a shared store: every consumer with its host and process, the oldest waiting job's age, failure times",
    () =>
      Effect.gen(function*() {
        const startedAt = Date.now()
        yield* DurableQueue.offer(Backlog, 1)
        yield* consumeMails(new Set())
        yield* DurableQueue.consume(Mails, {
          name: "mails-second",
          handler: (input) => Effect.fail(new Boom({ text: input.subject }))
        })
        yield* DurableQueue.offer(Mails, { subject: "hello" }, { id: "mail-1" })
        yield* eventually(failedIds, (ids) => ids.length === 1)

        const { errors, page } = yield* open()
        const mails = `[data-queue="mails"]`
        const backlog = `[data-queue="backlog"]`
        yield* waitForText(page, `${mails} [data-field="seen"]`, /^2$/)
        const consumerRows = yield* step(() => page.locator(`${mails} tr[data-consumer]`).allTextContents())
        assert.strictEqual(consumerRows.length, 2)
        assert.isTrue(consumerRows.some((row) => row.startsWith("mails-second")))
        for (const row of consumerRows) assert.include(row, `${Os.hostname()} / ${process.pid}`)
        // the job nobody consumes has waited since it was offered: over a second by now
        yield* waitForText(page, `${backlog} [data-field="waiting"]`, /^1$/)
        yield* waitForText(page, `${backlog} [data-field="oldest"]`, /^\d+(\.\d)? s$/)
        yield* waitForText(page, `${backlog} [data-consumer], ${backlog} .consumers td.empty`, /No consumer/)
        // the failed job's time, as the page's locale writes it
        const failedAt = yield* step(() => page.textContent(`${mails} tr[data-job="mail-1"] [data-field="failed-at"]`))
        // every second from the offer to now, as the page's locale writes it (on a busy machine, more than two)
        const expected = yield* step(() =>
          page.evaluate(
            ([from, to]) => {
              const seconds: Array<string> = []
              for (let t = Math.floor(from / 1000) * 1000; t <= to; t += 1000) {
                seconds.push(new Date(t).toLocaleString("en-GB"))
              }
              return seconds
            },
            [
              startedAt,
              Date.now()
            ] as const
          )
        )
        assert.include(expected, failedAt, `${failedAt} within ${expected[0]} - ${expected[expected.length - 1]}`)
        // the queue's throughput over every consumer, from their beats (every 5 s): 10 more jobs between two beats
        for (let n = 2; n <= 11; n++) yield* DurableQueue.offer(Mails, { subject: "again" }, { id: `mail-${n}` })
        yield* waitForText(page, `${mails} [data-field="throughput"]`, /^[1-9][\d.]*\/s$/)
        yield* screenshot(page, "dashboard-shared-store")
        assert.deepStrictEqual(errors, [])
      }).pipe(Effect.scoped, Effect.provide(onPostgres({ queues: [Mails, Backlog], token: TOKEN }))),
    60_000
  )

  it.live("the page loads and its figures follow the jobs as they run", () =>
    Effect.gen(function*() {
      const gate = yield* Latch.make(false)
      const pool = yield* WorkerPool.make({
        name: "resize",
        concurrency: 2,
        handler: (n: number) => Effect.as(Latch.await(gate), n)
      })
      for (let n = 0; n < 5; n++) yield* Effect.forkScoped(pool.execute(n))
      yield* eventually(pool.stats, (stats) => stats.running === 2 && stats.queued === 3)

      const { errors, page } = yield* open()
      const card = `[data-pool="resize"]`
      yield* waitForText(page, "#connection", /^live$/)
      yield* waitForText(page, `${card} [data-field="busy"]`, /^2 \/ 2$/)
      yield* waitForText(page, `${card} [data-field="queued"]`, /^3$/)
      yield* waitForText(page, `${card} [data-field="submitted"]`, /^5$/)
      yield* waitForText(page, `${card} [data-field="completed"]`, /^0$/)
      yield* screenshot(page, "dashboard-jobs-running")

      yield* Latch.open(gate)
      yield* waitForText(page, `${card} [data-field="completed"]`, /^5$/)
      yield* waitForText(page, `${card} [data-field="busy"]`, /^0 \/ 2$/)
      yield* waitForText(page, `${card} [data-field="queued"]`, /^0$/)
      yield* waitForText(page, `${card} [data-field="outcomes"]`, /succeeded 5/)
      // the throughput chart draws a line (a point per refresh after the first)
      yield* step(() =>
        page.waitForFunction(
          (selector) => (document.querySelector(selector)?.getAttribute("points") ?? "").split(" ").length >= 2,
          `${card} [data-chart="throughput"] polyline`,
          { timeout: 20_000 }
        )
      )
      yield* screenshot(page, "dashboard-jobs-done")
      assert.deepStrictEqual(errors, [])
    }).pipe(Effect.provide(mounted({ queues: [Mails], token: TOKEN }))))

  it.live(
    "a failed job appears with its markup as text; requeue is refused without the token, and with it the job completes",
    () =>
      Effect.gen(function*() {
        const healed = new Set<string>()
        yield* consumeMails(healed)
        yield* DurableQueue.offer(Mails, { subject: `Hello ${XSS}` }, { id: "mail-1" })
        yield* eventually(failedIds, (ids) => ids.length === 1)

        const { errors, page } = yield* open()
        const row = `[data-queue="mails"] tr[data-job="mail-1"]`
        yield* waitForText(page, `[data-queue="mails"] [data-field="failed"]`, /^1$/)
        yield* waitForText(page, `${row} [data-field="error"]`, /Boom/)

        // the payload and the error are shown as text: no element was made from them, no script ran
        yield* step(() => page.click(`${row} button.details`))
        yield* waitForText(page, "#detail-payload", /<script>window\.hacked = true<\/script>/)
        const payload = yield* step(() => page.textContent("#detail-payload"))
        assert.include(payload, `"subject": "Hello <script>window.hacked = true</script>`)
        assert.include(yield* step(() => page.textContent("#detail-error")), "<img src=x onerror=")
        const injected = yield* step(() =>
          page.evaluate(() => ({
            hacked: window.hacked === true,
            scripts: document.querySelectorAll("main script, main img").length
          }))
        )
        assert.deepStrictEqual(injected, { hacked: false, scripts: 0 })
        yield* screenshot(page, "dashboard-failed-job-detail")

        // without the token the action is refused, and the job stays failed
        yield* step(() => page.click(`${row} button.requeue`))
        yield* waitForText(page, "#message", /^Not authorized: .*token/)
        assert.strictEqual(yield* step(() => page.getAttribute("#message", "class")), "error")
        assert.deepStrictEqual(yield* failedIds, ["mail-1"])
        yield* screenshot(page, "dashboard-action-refused")

        // with the token, requeue moves it back and it completes
        healed.add("mail-1")
        yield* step(() => page.fill("#token", TOKEN))
        yield* step(() => page.click("#token-form button"))
        yield* step(() => page.click(`${row} button.requeue`))
        yield* waitForText(page, "#message", /^Requeued "mail-1"/)
        assert.strictEqual(yield* DurableQueue.result(Mails, "mail-1"), `sent: Hello ${XSS}`)
        yield* step(() => page.waitForSelector(row, { state: "detached", timeout: 20_000 }))
        yield* waitForText(page, `[data-queue="mails"] [data-field="failed"]`, /^0$/)
        yield* waitForText(page, `[data-queue="mails"] [data-field="completed"]`, /^2$/)
        yield* screenshot(page, "dashboard-requeued")
        assert.deepStrictEqual(errors, [])
      }).pipe(Effect.provide(mounted({ queues: [Mails], token: TOKEN })))
  )

  it.live("requeue all asks for confirmation first", () =>
    Effect.gen(function*() {
      const healed = new Set<string>()
      yield* consumeMails(healed)
      for (const id of ["mail-1", "mail-2", "mail-3"]) {
        yield* DurableQueue.offer(Mails, { subject: `hello ${id}` }, { id })
      }
      yield* eventually(failedIds, (ids) => ids.length === 3)
      const { errors, page } = yield* open()
      yield* step(() => page.fill("#token", TOKEN))
      yield* step(() => page.click("#token-form button"))
      const card = `[data-queue="mails"]`
      yield* waitForText(page, `${card} [data-field="failed-total"]`, /^\(3\)$/)

      yield* step(() => page.click(`${card} button.requeue-all`))
      yield* waitForText(page, `${card} .confirm`, /Requeue all 3 failed jobs of "mails"\?/)
      yield* screenshot(page, "dashboard-requeue-all-confirm")
      yield* step(() => page.click(`${card} .confirm button.confirm-no`))
      assert.isTrue(yield* step(() => page.isHidden(`${card} .confirm`)))
      assert.deepStrictEqual(yield* failedIds, ["mail-1", "mail-2", "mail-3"])

      for (const id of ["mail-1", "mail-2", "mail-3"]) healed.add(id)
      yield* step(() => page.click(`${card} button.requeue-all`))
      yield* step(() => page.click(`${card} .confirm button.confirm-yes`))
      yield* waitForText(page, "#message", /^Requeued 3 jobs of "mails"\.$/)
      for (const id of ["mail-1", "mail-2", "mail-3"]) {
        assert.strictEqual(yield* DurableQueue.result(Mails, id), `sent: hello ${id}`)
      }
      yield* waitForText(page, `${card} [data-field="failed-total"]`, /^\(0\)$/)
      assert.deepStrictEqual(errors, [])
    }).pipe(Effect.provide(mounted({ queues: [Mails], token: TOKEN }))))

  it.live("read-only, the page offers no action", () =>
    Effect.gen(function*() {
      yield* consumeMails(new Set())
      yield* DurableQueue.offer(Mails, { subject: "hello" }, { id: "mail-1" })
      yield* eventually(failedIds, (ids) => ids.length === 1)
      const { errors, page } = yield* open()
      yield* waitForText(page, "#mode", /^read-only$/)
      yield* step(() => page.waitForSelector(`tr[data-job="mail-1"]`, { timeout: 20_000 }))
      assert.strictEqual(yield* step(() => page.locator("button.requeue, button.remove").count()), 0)
      assert.isTrue(yield* step(() => page.isHidden(`[data-queue="mails"] button.requeue-all`)))
      assert.isTrue(yield* step(() => page.isHidden("#token-form")))
      yield* screenshot(page, "dashboard-read-only")
      assert.deepStrictEqual(errors, [])
    }).pipe(Effect.provide(mounted({ queues: [Mails], token: TOKEN, readOnly: true }))))
})
