/**
 * Exporting a pool's metrics and traces over OTLP (JSON over HTTP) with `effect/observability`.
 *
 * The pool needs no exporter of its own: its metric series live in Effect's metric registry and its job spans go
 * to the current tracer, so providing `Otlp.layerJson` is all it takes. Each job below is submitted inside a
 * `request` span; the pool runs it in a `WorkerPool.job` span, a child of that request span, on whichever worker
 * takes it, so the trace crosses the queue.
 *
 * With no collector configured, the program starts a small OTLP/HTTP receiver of its own on 127.0.0.1, exports to
 * it, and prints what arrived: the latest data point of every `worker_pool_*` series, and how the job spans relate
 * to the request spans.
 *
 * Run: npm run example -- otlp-export
 *
 * To export to a real collector instead, set the standard endpoint variable (the program then only reports where
 * it sent the data). For example Jaeger, which takes OTLP/HTTP on port 4318 and shows traces on port 16686:
 *
 *   docker run --rm -p 4318:4318 -p 16686:16686 jaegertracing/all-in-one
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npm run example -- otlp-export
 *
 * or an OpenTelemetry Collector with an `otlp` receiver (`protocols: { http: }`) on the same port.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, Console, Effect, Option, References, Result, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpExporter } from "effect/observability"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { WorkerPool } from "../src/index.ts"

// -----------------------------------------------------------------------------
// the pool and its traffic
// -----------------------------------------------------------------------------

class CorruptImage extends Schema.TaggedError<CorruptImage>()("CorruptImage", { image: Schema.String }) {}

const images = Array.from({ length: 20 }, (_, i) => `img-${String(i + 1).padStart(2, "0")}.jpg`)

/** Takes 5 to 20 ms; every fifth image is corrupt. */
const thumbnail = (image: string) =>
  Effect.gen(function*() {
    const n = Number(image.slice(4, 6))
    yield* Effect.sleep(5 + (n % 4) * 5)
    if (n % 5 === 0) return yield* new CorruptImage({ image })
    return `${image} -> 128px`
  })

/** Runs the 20 jobs, each inside a `request` span, then exports everything while the pool is still open. */
const runJobs = Effect.gen(function*() {
  const pool = yield* WorkerPool.make({ handler: thumbnail, name: "thumbnails", concurrency: 4 })
  const results = yield* Effect.forEach(
    images,
    (image) => pool.execute(image).pipe(Effect.withSpan("request", { attributes: { image } }), Effect.result),
    { concurrency: "unbounded" }
  )
  const failed = results.filter(Result.isFailure).length
  yield* Console.log(
    `Ran ${results.length} jobs on pool "${pool.name}": ${results.length - failed} succeeded, ${failed} failed`
  )
  // The pool's series leave the registry when its scope closes, which happens before the exporters' own final
  // export (the pool is built inside the OTLP layer, since its workers need the tracer). So flush now.
  const flusher = yield* OtlpExporter.Flusher
  yield* Effect.timeoutOption(flusher.flush, "5 seconds")
})

/**
 * Runs the jobs with OTLP export to `baseUrl`; closing the layer sends what is left and stops the exporters.
 *
 * An export that fails (after up to 3 retries of a transient error) is dropped and its exporter pauses for 60
 * seconds, saying so only in a Debug log, which the default log level hides: this part of the program lets Debug
 * logs through (the pool itself logs nothing).
 */
const runExportingTo = (baseUrl: string) =>
  Effect.scoped(runJobs).pipe(
    Effect.provide(Otlp.layerJson({ baseUrl, resource: { serviceName: "otlp-export-example" } })),
    Effect.provide(FetchHttpClient.layer),
    Effect.provideService(References.MinimumLogLevel, "Debug")
  )

// -----------------------------------------------------------------------------
// a minimal OTLP/HTTP receiver
// -----------------------------------------------------------------------------

/** The parts of the OTLP/JSON bodies read here. */
interface KeyValue {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: number | string; readonly doubleValue?: number }
}

interface NumberPoint {
  readonly attributes: ReadonlyArray<KeyValue>
  readonly timeUnixNano: string
  readonly asDouble?: number
  readonly asInt?: number | string
}

interface HistogramPoint extends NumberPoint {
  readonly count: number
  readonly sum: number
  readonly min?: number
  readonly max?: number
  readonly bucketCounts: ReadonlyArray<number>
  readonly explicitBounds: ReadonlyArray<number>
}

interface OtlpMetric {
  readonly name: string
  readonly sum?: { readonly dataPoints: ReadonlyArray<NumberPoint> }
  readonly gauge?: { readonly dataPoints: ReadonlyArray<NumberPoint> }
  readonly histogram?: { readonly dataPoints: ReadonlyArray<HistogramPoint> }
}

interface MetricsRequest {
  readonly resourceMetrics: ReadonlyArray<{
    readonly scopeMetrics: ReadonlyArray<{ readonly metrics: ReadonlyArray<OtlpMetric> }>
  }>
}

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes: ReadonlyArray<KeyValue>
  readonly status: { readonly code: number }
}

interface TracesRequest {
  readonly resourceSpans: ReadonlyArray<
    { readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<OtlpSpan> }> }
  >
}

interface Receiver {
  readonly url: string
  readonly metrics: Array<MetricsRequest>
  readonly traces: Array<TracesRequest>
}

/** An HTTP server on a free port of 127.0.0.1 that keeps the body of every POST to /v1/metrics and /v1/traces. */
const receiver = Effect.acquireRelease(
  Effect.callback<readonly [Receiver, http.Server]>((resume) => {
    const metrics: Array<MetricsRequest> = []
    const traces: Array<TracesRequest> = []
    const server = http.createServer((request, response) => {
      let body = ""
      request.setEncoding("utf8")
      request.on("data", (chunk: string) => {
        body += chunk
      })
      request.on("end", () => {
        if (request.method === "POST" && request.url === "/v1/metrics") metrics.push(JSON.parse(body))
        if (request.method === "POST" && request.url === "/v1/traces") traces.push(JSON.parse(body))
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.once("error", (error) => resume(Effect.die(error)))
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed([{ url: `http://127.0.0.1:${port}`, metrics, traces }, server]))
    })
  }),
  ([, server]) =>
    Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(([receiver]) => receiver))

// -----------------------------------------------------------------------------
// what the receiver got
// -----------------------------------------------------------------------------

const valueOf = (value: KeyValue["value"]): string | number | undefined =>
  value.stringValue ?? (value.intValue === undefined ? value.doubleValue : Number(value.intValue))

const attributesOf = (point: { readonly attributes: ReadonlyArray<KeyValue> }): string =>
  point.attributes
    .map(({ key, value }) => `${key}=${JSON.stringify(valueOf(value))}`)
    .sort()
    .join(",")

/** `(0.005,0.01]=12`, for each bucket that holds something; bucketCounts are per bucket, not cumulative. */
const bucketsOf = (point: HistogramPoint): string =>
  point.bucketCounts
    .map((count, i) => [point.explicitBounds[i - 1] ?? "-Inf", point.explicitBounds[i] ?? "+Inf", count] as const)
    .filter(([, , count]) => count > 0)
    .map(([low, high, count]) => `(${low},${high}]=${count}`)
    .join(" ")

const formatPoint = (point: NumberPoint | HistogramPoint): string =>
  "bucketCounts" in point
    ? `count=${point.count} sum=${point.sum.toFixed(4)} min=${point.min} max=${point.max} buckets: ${bucketsOf(point)}`
    : String(point.asDouble ?? Number(point.asInt))

/**
 * One line per `worker_pool_*` series: its latest data point across all exports. Counters and histograms are
 * cumulative (the exporter's default temporality), so the latest point is the total.
 */
const metricLines = (requests: ReadonlyArray<MetricsRequest>): Array<string> => {
  const metrics = requests.flatMap((r) =>
    r.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
  )
  const latest = new Map<string, NumberPoint | HistogramPoint>()
  for (const metric of metrics.filter((m) => m.name.startsWith("worker_pool_"))) {
    for (const point of metric.sum?.dataPoints ?? metric.gauge?.dataPoints ?? metric.histogram?.dataPoints ?? []) {
      const series = `${metric.name}{${attributesOf(point)}}`
      const seen = latest.get(series)
      if (seen === undefined || BigInt(point.timeUnixNano) >= BigInt(seen.timeUnixNano)) latest.set(series, point)
    }
  }
  return [...latest].map(([series, point]) => `${series} ${formatPoint(point)}`)
}

/** `a=2, b=1`: how often each value occurs. */
const tally = (values: ReadonlyArray<unknown>): string => {
  const counts = new Map<string, number>()
  for (const value of values) counts.set(String(value), (counts.get(String(value)) ?? 0) + 1)
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([value, n]) => `${value}=${n}`).join(", ")
}

const spanLines = (requests: ReadonlyArray<TracesRequest>): Array<string> => {
  const spans = requests.flatMap((r) => r.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))
  const requestSpans = new Map(spans.filter((s) => s.name === "request").map((s) => [s.spanId, s]))
  const jobs = spans.filter((s) => s.name === "WorkerPool.job")
  const parented = jobs.filter((job) => {
    const parent = job.parentSpanId === undefined ? undefined : requestSpans.get(job.parentSpanId)
    return parent !== undefined && parent.traceId === job.traceId
  })
  const attribute = (span: OtlpSpan, key: string) => {
    const found = span.attributes.find((a) => a.key === key)
    return found === undefined ? undefined : valueOf(found.value)
  }
  const failedRequests = [...requestSpans.values()].filter((s) => s.status.code === 2).length
  return [
    `request spans: ${requestSpans.size}, ${failedRequests} of them with status error`,
    `WorkerPool.job spans: ${jobs.length}, ${parented.length} of them children of a request span in the same trace`,
    `job outcomes: ${tally(jobs.map((job) => attribute(job, "worker_pool.job.outcome")))}`,
    `jobs per worker: ${tally(jobs.map((job) => attribute(job, "worker_pool.worker")))}`
  ]
}

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const endpoint = yield* Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT"))
  if (Option.isSome(endpoint)) {
    yield* runExportingTo(endpoint.value)
    yield* Console.log(
      `Sent metrics and spans to ${endpoint.value} as service "otlp-export-example" ` +
        "(an export that failed is logged above at DEBUG level)"
    )
    return
  }
  const collector = yield* receiver
  yield* runExportingTo(collector.url)
  const { metrics, traces, url } = collector
  yield* Console.log(`Receiver at ${url} got ${metrics.length} metrics exports, ${traces.length} traces exports`)
  yield* Console.log("Metrics (latest data point of each worker_pool_* series):")
  for (const line of metricLines(metrics)) yield* Console.log(`  ${line}`)
  yield* Console.log("Spans:")
  for (const line of spanLines(traces)) yield* Console.log(`  ${line}`)
})

NodeRuntime.runMain(Effect.scoped(program))
