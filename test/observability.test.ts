import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import * as Tracer from "effect/Tracer"
import { WorkerPool, WorkerPoolMetrics } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"

class Refused extends Schema.TaggedError<Refused>()("Refused", { job: Schema.String }) {}

type Kind = "ok" | "fail" | "die" | "overrun" | "flaky"

interface Work {
  readonly kind: Kind
  readonly millis: number
}

const work = (kind: Kind, millis = 10): Work => ({ kind, millis })

const handler = (input: Work, job: WorkerPool.JobInfo) =>
  Effect.gen(function*() {
    yield* Effect.sleep(input.kind === "overrun" ? 10_000 : input.millis)
    if (input.kind === "fail" || (input.kind === "flaky" && job.attempt === 1)) {
      return yield* new Refused({ job: job.id })
    }
    if (input.kind === "die") return yield* Effect.die("boom")
    return job.id
  })

/** Every test gets a registry of its own. */
const isolated = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.provideService(self, Metric.MetricRegistry, new Map())

const counter = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const gauge = (metric: Metric.Gauge<number>, pool: string) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, { pool })), (state) => state.value)

const seriesOf = (pool: string) =>
  Effect.map(
    Metric.snapshot,
    (all) => all.filter((s) => s.id.startsWith("worker_pool_") && s.attributes?.pool === pool)
  )

describe("metrics", () => {
  it.effect("every counter, gauge and histogram has its value after a known sequence of jobs", () =>
    isolated(Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler,
        name: "obs",
        concurrency: 1,
        capacity: 2,
        overflow: "dropping",
        timeout: "100 millis"
      })
      const completed = (outcome: WorkerPoolMetrics.Outcome) =>
        counter(WorkerPoolMetrics.jobsCompleted, { pool: "obs", outcome })

      const a = yield* pool.submit(work("ok")) // runs at once
      const b = yield* pool.submit(work("fail")) // queued
      const c = yield* pool.submit(work("die")) // queued
      const d = yield* pool.submit(work("ok")) // the queue is full: dropped
      const e = yield* Effect.exit(pool.trySubmit(work("ok"))) // rejected
      assert.isTrue(Exit.isFailure(e))
      // gauges while one job runs and two wait
      assert.strictEqual(yield* gauge(WorkerPoolMetrics.queueDepth, "obs"), 2)
      assert.strictEqual(yield* gauge(WorkerPoolMetrics.workersBusy, "obs"), 1)
      assert.strictEqual(yield* gauge(WorkerPoolMetrics.workers, "obs"), 1)
      assert.strictEqual(yield* gauge(WorkerPoolMetrics.submittersWaiting, "obs"), 0)
      yield* TestClock.adjust(30)
      for (const handle of [a, b, c, d]) yield* Effect.exit(handle.await)

      const f = yield* pool.submit(work("overrun")) // times out after 100 ms
      const g = yield* pool.submit(work("ok")) // cancelled while queued
      yield* g.interrupt
      yield* TestClock.adjust(100)
      yield* Effect.exit(f.await)
      const h = yield* pool.submit(work("flaky"), { retry: Schedule.recurs(1) }) // fails once, then succeeds
      yield* TestClock.adjust(20)
      assert.strictEqual(yield* h.await, "7")
      const i = yield* pool.submit(work("ok", 50)) // running when the pool shuts down
      const j = yield* pool.submit(work("ok")) // queued when the pool shuts down
      yield* TestClock.adjust(5)
      yield* pool.shutdown
      for (const handle of [i, j]) yield* Effect.exit(handle.await)

      assert.strictEqual(yield* counter(WorkerPoolMetrics.jobsSubmitted, { pool: "obs" }), 9)
      assert.strictEqual(yield* counter(WorkerPoolMetrics.jobsRejected, { pool: "obs" }), 1)
      assert.strictEqual(yield* counter(WorkerPoolMetrics.jobsRetried, { pool: "obs" }), 1)
      // a, b, c, f, h twice, i
      assert.strictEqual(yield* counter(WorkerPoolMetrics.jobsStarted, { pool: "obs" }), 7)
      assert.deepStrictEqual(
        yield* Effect.forEach(WorkerPoolMetrics.outcomes, completed),
        // succeeded (a, h), failed (b), defect (c), timed_out (f), cancelled (g), dropped (d), shutdown (i, j)
        [2, 1, 1, 1, 1, 1, 2]
      )
      assert.strictEqual(yield* gauge(WorkerPoolMetrics.queueDepth, "obs"), 0)
      assert.strictEqual(yield* gauge(WorkerPoolMetrics.workersBusy, "obs"), 0)

      // the stats agree with the metrics
      const stats = yield* pool.stats
      assert.deepStrictEqual(
        [stats.submitted, stats.started, stats.succeeded, stats.failed, stats.defects, stats.timedOut],
        [9, 7, 2, 1, 1, 1]
      )
      assert.deepStrictEqual([stats.cancelled, stats.dropped, stats.shutdown, stats.rejected], [1, 1, 2, 1])

      // run times, per attempt: a, b, c and both attempts of h ran 10 ms, f 100 ms, i 5 ms
      const run = yield* Metric.value(Metric.withAttributes(WorkerPoolMetrics.jobRunTime, { pool: "obs" }))
      assert.strictEqual(run.count, 7)
      assert.closeTo(run.sum, (5 * 10 + 100 + 5) / 1000, 1e-9)
      assert.strictEqual(run.min, 0.005)
      assert.strictEqual(run.max, 0.1)
      const bucket = (seconds: number) => run.buckets.find(([bound]) => bound === seconds)![1]
      assert.deepStrictEqual([bucket(0.0025), bucket(0.005), bucket(0.01), bucket(0.05), bucket(0.1)], [0, 1, 6, 6, 7])
      // wait times: b waited 10 ms behind a, c 20 ms; the others started at once
      const wait = yield* Metric.value(Metric.withAttributes(WorkerPoolMetrics.jobWaitTime, { pool: "obs" }))
      assert.strictEqual(wait.count, 7)
      assert.closeTo(wait.sum, 0.03, 1e-9)
      assert.strictEqual(wait.max, 0.02)
    })))

  it.effect("a pool's series carry its name, and leave the registry when its scope closes", () =>
    isolated(Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        const one = yield* WorkerPool.make({ handler, name: "one" })
        yield* WorkerPool.make({ handler, name: "two" })
        yield* one.execute(work("ok", 0))
        // submitted, started, 7 outcomes, rejected, retried, 4 gauges, 2 histograms
        assert.strictEqual((yield* seriesOf("one")).length, 17)
        assert.strictEqual((yield* seriesOf("two")).length, 17)
        assert.strictEqual(yield* counter(WorkerPoolMetrics.jobsSubmitted, { pool: "one" }), 1)
        assert.strictEqual(yield* counter(WorkerPoolMetrics.jobsSubmitted, { pool: "two" }), 0)
      }))
      assert.strictEqual((yield* seriesOf("one")).length, 0)
      assert.strictEqual((yield* seriesOf("two")).length, 0)
    })))

  it.effect("metrics: false registers nothing", () =>
    isolated(Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler, name: "quiet", metrics: false })
      yield* pool.execute(work("ok", 0))
      assert.strictEqual((yield* seriesOf("quiet")).length, 0)
      assert.strictEqual((yield* pool.stats).succeeded, 1)
    })))

  it.effect("stats give the average and percentiles of wait and run times", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({ handler, concurrency: 1, capacity: 100 })
      // run times 1, 2, ..., 100 ms, one after the other
      const handles = []
      for (let ms = 1; ms <= 100; ms++) handles.push(yield* pool.submit(work("ok", ms)))
      yield* TestClock.adjust(6000)
      for (const handle of handles) yield* handle.await
      const { runTime, waitTime } = yield* pool.stats
      assert.strictEqual(runTime.count, 100)
      assert.strictEqual(runTime.averageMillis, 50.5)
      assert.strictEqual(runTime.maxMillis, 100)
      // the buckets around 50, 90 and 99 ms are 50-100 ms wide: the percentiles are interpolated inside them
      assert.isTrue(runTime.p50Millis >= 25 && runTime.p50Millis <= 50, `p50 ${runTime.p50Millis}`)
      assert.isTrue(runTime.p90Millis >= 50 && runTime.p90Millis <= 100, `p90 ${runTime.p90Millis}`)
      assert.isTrue(runTime.p99Millis >= runTime.p90Millis && runTime.p99Millis <= 100, `p99 ${runTime.p99Millis}`)
      // job n waited for jobs 1 .. n-1: (n - 1) n / 2 ms; the last one 4950 ms
      assert.strictEqual(waitTime.maxMillis, 4950)
      assert.strictEqual(waitTime.count, 100)
    }))
})

/** A tracer that keeps every span it makes. */
const recording = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

describe("tracing", () => {
  it.effect("a job runs in a span whose parent is its submitter's span, across the queue", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      yield* Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler, name: "traced", concurrency: 1, capacity: 10 })
        const first = yield* fork(pool.execute(work("ok"), { id: "first" }).pipe(Effect.withSpan("request-1")))
        const second = yield* fork(
          pool.submit(work("fail"), { id: "second" }).pipe(
            Effect.flatMap((handle) => Effect.exit(handle.await)),
            Effect.withSpan("request-2")
          )
        )
        yield* TestClock.adjust(20)
        yield* Fiber.join(first)
        yield* Fiber.join(second)
      }).pipe(Effect.withTracer(tracer))

      const byName = (name: string) => spans.filter((span) => span.name === name)
      const jobs = byName("WorkerPool.job")
      assert.strictEqual(jobs.length, 2)
      for (const [i, job] of jobs.entries()) {
        const request = byName(`request-${i + 1}`)[0]
        assert.strictEqual(Option.getOrUndefined(job.parent)?.spanId, request.spanId)
        assert.strictEqual(job.traceId, request.traceId)
        assert.strictEqual(job.status._tag, "Ended")
        assert.strictEqual(job.attributes.get("worker_pool.name"), "traced")
        assert.strictEqual(job.attributes.get("worker_pool.job.attempt"), 1)
        assert.strictEqual(job.attributes.get("worker_pool.worker"), 1)
      }
      assert.strictEqual(jobs[0].attributes.get("worker_pool.job.id"), "first")
      assert.strictEqual(jobs[0].attributes.get("worker_pool.job.outcome"), "succeeded")
      assert.strictEqual(jobs[1].attributes.get("worker_pool.job.id"), "second")
      assert.strictEqual(jobs[1].attributes.get("worker_pool.job.outcome"), "failed")
      // the second job waited 10 ms behind the first
      assert.strictEqual(jobs[1].attributes.get("worker_pool.job.wait_ms"), 10)
    }))

  it.effect("a submitter waiting for room still parents its job; each retry gets a span; a timeout is recorded", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      yield* Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler, concurrency: 1, capacity: 1, timeout: "50 millis" })
        yield* pool.submit(work("ok"))
        yield* pool.submit(work("ok"))
        // the queue is full: this submitter waits, and is admitted by the worker's fiber
        const waiting = yield* fork(
          pool.execute(work("flaky"), { retry: Schedule.recurs(1) }).pipe(Effect.withSpan("waiting"))
        )
        const late = yield* fork(Effect.exit(pool.execute(work("overrun"))).pipe(Effect.withSpan("late")))
        yield* TestClock.adjust(200)
        yield* Fiber.join(waiting)
        yield* Fiber.join(late)
      }).pipe(Effect.withTracer(tracer))

      const parentName = (span: Tracer.NativeSpan) =>
        spans.find((s) => s.spanId === Option.getOrUndefined(span.parent)?.spanId)?.name
      const jobs = spans.filter((span) => span.name === "WorkerPool.job")
      // the first two jobs were submitted outside any span: they run without one; the retry of the first traced
      // job re-entered the queue behind the second
      assert.deepStrictEqual(jobs.map(parentName), ["waiting", "late", "waiting"])
      assert.deepStrictEqual(jobs.map((span) => span.attributes.get("worker_pool.job.attempt")), [1, 1, 2])
      assert.deepStrictEqual(jobs.map((span) => span.attributes.get("worker_pool.job.outcome")), [
        "failed",
        "timed_out",
        "succeeded"
      ])
    }))

  it.effect("a stream's jobs are parented by the span the stream runs in, though most are submitted as others settle", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      yield* Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler, concurrency: 2 })
        // one at a time: each job after the first is submitted as the one before settles, on the worker's fiber
        const stream = yield* fork(
          Stream.runCollect(
            pool.executeStream(Stream.fromIterable([1, 2, 3, 4, 5]).pipe(Stream.map(() => work("ok"))), {
              concurrency: 1
            })
          ).pipe(Effect.withSpan("stream"))
        )
        const other = yield* fork(pool.execute(work("ok", 25)).pipe(Effect.withSpan("other")))
        yield* TestClock.adjust(100)
        assert.strictEqual((yield* Fiber.join(stream)).length, 5)
        yield* Fiber.join(other)
      }).pipe(Effect.withTracer(tracer))

      const parentName = (span: Tracer.NativeSpan) =>
        spans.find((s) => s.spanId === Option.getOrUndefined(span.parent)?.spanId)?.name
      const jobs = spans.filter((span) => span.name === "WorkerPool.job")
      assert.deepStrictEqual(jobs.map(parentName).sort(), ["other", "stream", "stream", "stream", "stream", "stream"])
    }))

  it.effect("tracing: false runs jobs without spans", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      yield* Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler, tracing: false })
        const done = yield* fork(pool.execute(work("ok")).pipe(Effect.withSpan("request")))
        yield* TestClock.adjust(10)
        yield* Fiber.join(done)
      }).pipe(Effect.withTracer(tracer))
      assert.deepStrictEqual(spans.map((span) => span.name), ["request"])
    }))
})
