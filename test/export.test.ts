/**
 * The pool's metrics and spans, exported over OTLP/HTTP (JSON) by `effect/observability`: through the
 * `otlp-export` example, run as a child process (with its own receiver, and with `OTEL_EXPORTER_OTLP_ENDPOINT`
 * pointing at one of the test's), and in-process, with assertions on the decoded OTLP JSON.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { FetchHttpClient } from "effect/http"
import * as Metric from "effect/Metric"
import { Otlp, OtlpExporter } from "effect/observability"
import * as Schema from "effect/Schema"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { WorkerPool, WorkerPoolMetrics } from "../src/index.ts"
import { assertSucceeded, lines, run, single } from "./utils/process.ts"

/** Runs `examples/otlp-export.ts` to its end with `env` and checks that it succeeded. */
const runExample = (env: NodeJS.ProcessEnv) =>
  Effect.tap(run("otlp-export", env), (ended) => Effect.sync(() => assertSucceeded(ended)))

/** The environment without an OTLP endpoint, so that the example uses its own receiver. */
const withoutEndpoint = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  delete env.OTEL_EXPORTER_OTLP_ENDPOINT
  return env
}

// -----------------------------------------------------------------------------
// a receiver, and the parts of OTLP/JSON the tests read
// -----------------------------------------------------------------------------

interface AnyValue {
  readonly stringValue?: string
  readonly intValue?: number | string
}

interface KeyValue {
  readonly key: string
  readonly value: AnyValue
}

interface NumberPoint {
  readonly attributes: ReadonlyArray<KeyValue>
  readonly asDouble?: number
}

interface HistogramPoint {
  readonly attributes: ReadonlyArray<KeyValue>
  readonly count: number
  readonly sum: number
  readonly min: number
  readonly max: number
  readonly bucketCounts: ReadonlyArray<number>
  readonly explicitBounds: ReadonlyArray<number>
}

interface OtlpMetric {
  readonly name: string
  readonly sum?: {
    readonly aggregationTemporality: number
    readonly isMonotonic: boolean
    readonly dataPoints: ReadonlyArray<NumberPoint>
  }
  readonly gauge?: { readonly dataPoints: ReadonlyArray<NumberPoint> }
  readonly histogram?: { readonly aggregationTemporality: number; readonly dataPoints: ReadonlyArray<HistogramPoint> }
}

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes: ReadonlyArray<KeyValue>
  readonly status: { readonly code: number }
}

interface Received {
  readonly url: string
  /** The body of each POST to /v1/metrics, in arrival order. */
  readonly metrics: Array<
    {
      readonly resourceMetrics: ReadonlyArray<
        { readonly scopeMetrics: ReadonlyArray<{ readonly metrics: Array<OtlpMetric> }> }
      >
    }
  >
  readonly traces: Array<
    {
      readonly resourceSpans: ReadonlyArray<{ readonly scopeSpans: ReadonlyArray<{ readonly spans: Array<OtlpSpan> }> }>
    }
  >
}

/** An OTLP/HTTP receiver on a free port of 127.0.0.1, closed with the scope. */
const receiver = Effect.acquireRelease(
  Effect.callback<readonly [Received, http.Server]>((resume) => {
    const received: Received = { url: "", metrics: [], traces: [] }
    const server = http.createServer((request, response) => {
      let body = ""
      request.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk
      })
      request.on("end", () => {
        if (request.url === "/v1/metrics") received.metrics.push(JSON.parse(body))
        if (request.url === "/v1/traces") received.traces.push(JSON.parse(body))
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.once("error", (error) => resume(Effect.die(error)))
    server.listen(0, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      resume(Effect.succeed([{ ...received, url }, server]))
    })
  }),
  ([, server]) =>
    Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(([received]) => received))

const metricsOf = (body: Received["metrics"][number]): Array<OtlpMetric> =>
  body.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))

const spansOf = (received: Received): Array<OtlpSpan> =>
  received.traces.flatMap((body) => body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))

const attribute = (item: { readonly attributes: ReadonlyArray<KeyValue> }, key: string): AnyValue | undefined =>
  item.attributes.find((a) => a.key === key)?.value

/** Every job span is a child of a `request` span, in its trace. */
const assertParented = (spans: ReadonlyArray<OtlpSpan>, jobs: number) => {
  const requests = new Map(spans.filter((s) => s.name === "request").map((s) => [s.spanId, s]))
  const jobSpans = spans.filter((s) => s.name === "WorkerPool.job")
  assert.strictEqual(requests.size, jobs)
  assert.strictEqual(jobSpans.length, jobs)
  for (const job of jobSpans) {
    const parent = requests.get(job.parentSpanId ?? "")
    assert.isDefined(parent, `job span ${job.spanId} has no request span as parent`)
    assert.strictEqual(job.traceId, parent!.traceId)
  }
  for (const request of requests.values()) assert.isUndefined(request.parentSpanId)
  return jobSpans
}

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("OTLP export", () => {
  it.live("otlp-export example: its receiver gets every pool series with its value, and every job span under its request", () =>
    Effect.gen(function*() {
      const { stdout, stderr } = yield* runExample(withoutEndpoint())
      assert.strictEqual(stderr, "")
      single(stdout, /^Ran 20 jobs on pool "thumbnails": 16 succeeded, 4 failed$/)
      single(stdout, /^Receiver at http:\/\/127\.0\.0\.1:\d+ got \d+ metrics exports, \d+ traces exports$/)

      // `name{attributes} value`, one line per series
      const series = new Map<string, string>()
      for (const line of lines(stdout)) {
        const match = line.match(/^ {2}(worker_pool_\w+\{[^}]*\}) (.+)$/)
        if (match !== null) series.set(match[1]!, match[2]!)
      }
      // submitted, started, 7 outcomes, rejected, retried, 4 gauges, 2 histograms
      assert.strictEqual(series.size, 17, stdout)
      const value = (name: string, attributes = "") =>
        Number(series.get(`worker_pool_${name}{${attributes}${attributes ? "," : ""}pool="thumbnails"}`))
      assert.strictEqual(value("jobs_submitted_total"), 20)
      assert.strictEqual(value("jobs_started_total"), 20)
      const completed = WorkerPoolMetrics.outcomes.map((outcome) =>
        value("jobs_completed_total", `outcome="${outcome}"`)
      )
      // succeeded, failed, then none of the other outcomes; together, every submitted job
      assert.deepStrictEqual(completed, [16, 4, 0, 0, 0, 0, 0])
      assert.strictEqual(completed.reduce((a, b) => a + b, 0), value("jobs_submitted_total"))
      assert.strictEqual(value("jobs_rejected_total"), 0)
      assert.strictEqual(value("jobs_retried_total"), 0)
      // gauges, read while the pool was still open and idle
      assert.strictEqual(value("queue_depth"), 0)
      assert.strictEqual(value("submitters_waiting"), 0)
      assert.strictEqual(value("workers_busy"), 0)
      assert.strictEqual(value("workers"), 4)
      for (const name of ["job_wait_seconds", "job_run_seconds"]) {
        const histogram = series.get(`worker_pool_${name}{pool="thumbnails"}`)
        const [, count, sum, buckets] =
          histogram?.match(/^count=(\d+) sum=([\d.]+) min=[\d.e-]+ max=[\d.e-]+ buckets: (.*)$/)
            ?? []
        assert.strictEqual(Number(count), 20, `${name}: ${histogram}`)
        const inBuckets = buckets!.split(" ").map((bucket) => Number(bucket.split("=")[1]))
        assert.strictEqual(inBuckets.reduce((a, b) => a + b, 0), 20, `${name}: ${histogram}`)
        // in seconds: the handlers sleep 250 ms in all (a timer may fire a little early, or late on a loaded machine)
        if (name === "job_run_seconds") assert.isTrue(Number(sum) > 0.1 && Number(sum) < 30, histogram)
      }

      single(stdout, /^ {2}request spans: 20, 4 of them with status error$/)
      single(stdout, /^ {2}WorkerPool\.job spans: 20, 20 of them children of a request span in the same trace$/)
      single(stdout, /^ {2}job outcomes: failed=4, succeeded=16$/)
      const [, perWorker] = single(stdout, /^ {2}jobs per worker: (.*)$/)
      const workers = perWorker!.split(", ").map((entry) => entry.split("=").map(Number))
      for (const [worker] of workers) assert.include([1, 2, 3, 4], worker)
      assert.strictEqual(workers.reduce((total, [, jobs]) => total + jobs!, 0), 20)
    }))

  it.live("otlp-export example: with OTEL_EXPORTER_OTLP_ENDPOINT set, it exports there instead", () =>
    Effect.gen(function*() {
      const collector = yield* receiver
      const { stdout, stderr } = yield* runExample({ ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url })
      assert.strictEqual(stderr, "")
      single(stdout, new RegExp(`^Sent metrics and spans to ${collector.url} as service "otlp-export-example" `))
      assert.notInclude(stdout, "Receiver at")

      const submitted = collector.metrics.flatMap(metricsOf).find((m) => m.name === "worker_pool_jobs_submitted_total")
      assert.strictEqual(submitted?.sum?.dataPoints[0]?.asDouble, 20)
      assertParented(spansOf(collector), 20)
    }))

  class Refused extends Schema.TaggedError<Refused>()("Refused", { n: Schema.Number }) {}

  it.live("in-process: counters, gauges and histograms arrive as cumulative OTLP data; job spans continue the request's trace", () =>
    Effect.gen(function*() {
      const collector = yield* receiver
      yield* Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            Effect.sleep(1).pipe(Effect.andThen(n % 3 === 0 ? Effect.fail(new Refused({ n })) : Effect.succeed(n))),
          name: "in-process",
          concurrency: 2
        })
        const exits = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i + 1),
          (n) => Effect.exit(pool.execute(n, { id: String(n) }).pipe(Effect.withSpan("request"))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(exits.filter(Exit.isFailure).length, 4)
        yield* (yield* OtlpExporter.Flusher).flush
      }).pipe(
        Effect.scoped,
        // no periodic export: only the flush and the exporters' final export
        Effect.provide(Otlp.layerJson({
          baseUrl: collector.url,
          resource: { serviceName: "export-test" },
          metricsExportInterval: "1 hour",
          tracerExportInterval: "1 hour"
        })),
        Effect.provide(FetchHttpClient.layer)
      )

      // the flush, then the exporter's own final export, sent after the pool closed: its series had left by then
      assert.strictEqual(collector.metrics.length, 2)
      assert.deepStrictEqual(metricsOf(collector.metrics[1]!).filter((m) => m.name.startsWith("worker_pool_")), [])
      const metrics = new Map(metricsOf(collector.metrics[0]!).map((m) => [m.name, m]))

      // a counter is a monotonic cumulative sum (temporality 2), its value a double, one data point per series
      const submitted = metrics.get("worker_pool_jobs_submitted_total")!.sum!
      assert.strictEqual(submitted.aggregationTemporality, 2)
      assert.isTrue(submitted.isMonotonic)
      assert.deepStrictEqual(submitted.dataPoints.map((p) => [p.attributes, p.asDouble]), [
        [[{ key: "pool", value: { stringValue: "in-process" } }], 12]
      ])
      const completed = metrics.get("worker_pool_jobs_completed_total")!.sum!.dataPoints
      assert.deepStrictEqual(
        completed.map((p) => [attribute(p, "outcome")?.stringValue, p.asDouble]),
        WorkerPoolMetrics.outcomes.map((outcome) => [
          outcome,
          outcome === "succeeded" ? 8 : outcome === "failed" ? 4 : 0
        ])
      )
      assert.strictEqual(metrics.get("worker_pool_workers")!.gauge!.dataPoints[0]!.asDouble, 2)
      assert.strictEqual(metrics.get("worker_pool_queue_depth")!.gauge!.dataPoints[0]!.asDouble, 0)

      // a histogram: explicit bounds without +Inf, one count per bucket (not cumulative) plus the overflow bucket
      for (const name of ["worker_pool_job_wait_seconds", "worker_pool_job_run_seconds"]) {
        const histogram = metrics.get(name)!.histogram!
        assert.strictEqual(histogram.aggregationTemporality, 2)
        const [point] = histogram.dataPoints
        assert.strictEqual(point!.count, 12)
        assert.deepStrictEqual(point!.explicitBounds, WorkerPoolMetrics.boundariesSeconds)
        assert.strictEqual(point!.bucketCounts.length, point!.explicitBounds.length + 1)
        assert.strictEqual(point!.bucketCounts.reduce((a, b) => a + b, 0), 12)
        assert.isAtMost(point!.min, point!.max)
      }

      const jobs = assertParented(spansOf(collector), 12)
      for (const job of jobs) {
        const outcome = attribute(job, "worker_pool.job.outcome")?.stringValue
        assert.strictEqual(attribute(job, "worker_pool.name")?.stringValue, "in-process")
        assert.strictEqual(attribute(job, "worker_pool.job.attempt")?.intValue, 1)
        assert.include([1, 2], attribute(job, "worker_pool.worker")?.intValue)
        // OTLP status: 1 = ok, 2 = error
        assert.strictEqual(job.status.code, outcome === "succeeded" ? 1 : 2)
        assert.strictEqual(
          outcome,
          Number(attribute(job, "worker_pool.job.id")?.stringValue) % 3 === 0 ? "failed" : "succeeded"
        )
      }
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
