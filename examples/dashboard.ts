/**
 * A live terminal view of a pool, read from its metrics (`WorkerPoolMetrics`, through `effect/Metric`): the same
 * series an OTLP or Prometheus exporter sends. `flagship.ts` shows it while it runs; `context-timeouts.ts` prints
 * its periodic report from the same reading.
 *
 * On a terminal the panel is redrawn in place; when stdout is not a terminal (a pipe, a CI log) one line is printed
 * per interval instead, and the panel once at the end.
 *
 * Not a program of its own: imported by the examples.
 */
import { Clock, Console, type Duration, Effect, Fiber, Metric, Schedule } from "effect"
import type * as Scope from "effect/Scope"
import { WorkerPoolMetrics } from "../src/index.ts"

/** What the view shows, read from the pool's metric series at one instant. */
export interface Reading {
  readonly at: number
  readonly submitted: number
  readonly started: number
  readonly outcomes: Readonly<Record<WorkerPoolMetrics.Outcome, number>>
  readonly rejected: number
  readonly retried: number
  readonly queued: number
  readonly waiting: number
  readonly busy: number
  readonly workers: number
  readonly runs: number
  readonly runSeconds: number
  readonly runBuckets: ReadonlyArray<readonly [number, number]>
}

/** Reads the series of the pool named `pool`. */
export const read = (pool: string): Effect.Effect<Reading> =>
  Effect.gen(function*() {
    const attributes = { pool }
    const count = (metric: Metric.Counter<number>, extra: Record<string, string> = {}) =>
      Effect.map(Metric.value(Metric.withAttributes(metric, { ...attributes, ...extra })), (s) => s.count)
    const value = (metric: Metric.Gauge<number>) =>
      Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.value)
    const outcomes = {} as Record<WorkerPoolMetrics.Outcome, number>
    for (const outcome of WorkerPoolMetrics.outcomes) {
      outcomes[outcome] = yield* count(WorkerPoolMetrics.jobsCompleted, { outcome })
    }
    const run = yield* Metric.value(Metric.withAttributes(WorkerPoolMetrics.jobRunTime, attributes))
    return {
      at: yield* Clock.currentTimeMillis,
      submitted: yield* count(WorkerPoolMetrics.jobsSubmitted),
      started: yield* count(WorkerPoolMetrics.jobsStarted),
      outcomes,
      rejected: yield* count(WorkerPoolMetrics.jobsRejected),
      retried: yield* count(WorkerPoolMetrics.jobsRetried),
      queued: yield* value(WorkerPoolMetrics.queueDepth),
      waiting: yield* value(WorkerPoolMetrics.submittersWaiting),
      busy: yield* value(WorkerPoolMetrics.workersBusy),
      workers: yield* value(WorkerPoolMetrics.workers),
      runs: run.count,
      runSeconds: run.sum,
      runBuckets: run.buckets
    }
  })

/** Jobs that reached an outcome. */
export const finished = (r: Reading): number => WorkerPoolMetrics.outcomes.reduce((n, o) => n + r.outcomes[o], 0)

/** Jobs per second that reached an outcome between two readings. */
export const throughput = (now: Reading, before: Reading): number => {
  if (now.at <= before.at) return 0
  return ((finished(now) - finished(before)) * 1000) / (now.at - before.at)
}

/**
 * What a rate covers: the interval since the previous frame (the live frames), or the whole run, since the view
 * started (the final frame). The label says which, so that a run's last, nearly idle interval is not read as its
 * throughput.
 */
export type Span = "interval" | "run"

/** The rate of jobs reaching an outcome since `before`, labelled with the span it covers. */
export const rate = (now: Reading, before: Reading, span: Span): string => {
  const seconds = ((now.at - before.at) / 1000).toFixed(2)
  return `${throughput(now, before).toFixed(0)} jobs/s ` +
    (span === "run" ? `(whole run, ${seconds} s)` : `(last ${seconds} s)`)
}

/** The run time (ms) under which a share `q` of the runs fell: the upper bound of the bucket that holds it. */
export const runQuantile = (r: Reading, q: number): number => {
  const bucket = r.runBuckets.find(([, cumulated]) => cumulated >= q * r.runs)
  return bucket === undefined ? Infinity : bucket[0] * 1000
}

const bar = (part: number, whole: number, width: number): string => {
  const full = whole === 0 ? 0 : Math.min(width, Math.round((part / whole) * width))
  return "#".repeat(full) + "-".repeat(width - full)
}

const ms = (millis: number): string =>
  millis === Infinity ? "> 300 s" : `${millis < 10 ? millis : Math.round(millis)} ms`

/**
 * The panel: one line per concern, with the rate since `before` over `span`. `total` is how many jobs the program
 * will submit, when it knows.
 */
export const panel = (title: string, now: Reading, before: Reading, span: Span, total?: number): Array<string> => {
  const done = finished(now)
  const o = now.outcomes
  return [
    `${title}`,
    `  progress   [${bar(done, total ?? now.submitted, 30)}] ${done}/${total ?? now.submitted} done` +
    `   ${rate(now, before, span)}`,
    `  workers    [${bar(now.busy, now.workers, 30)}] ${now.busy}/${now.workers} busy`,
    `  queue      ${now.queued} queued, ${now.waiting} submitters waiting for room, ${now.rejected} rejected`,
    `  outcomes   ok ${o.succeeded}  failed ${o.failed}  defect ${o.defect}  timed out ${o.timed_out}`,
    `             cancelled ${o.cancelled}  dropped ${o.dropped}  shutdown ${o.shutdown}  retried ${now.retried}`,
    `  run time   avg ${ms(now.runs === 0 ? 0 : (now.runSeconds * 1000) / now.runs)}, ` +
    `p50 <= ${ms(runQuantile(now, 0.5))}, p99 <= ${ms(runQuantile(now, 0.99))}`
  ]
}

/** A live frame on one line (for logs), with the rate over the last interval. */
export const line = (now: Reading, before: Reading, total?: number): string => {
  const o = now.outcomes
  return `${finished(now)}/${total ?? now.submitted} done, ${rate(now, before, "interval")} | ` +
    `busy ${now.busy}/${now.workers}, queued ${now.queued}, waiting ${now.waiting} | ` +
    `ok ${o.succeeded} failed ${o.failed} timed out ${o.timed_out} cancelled ${o.cancelled}`
}

/**
 * Shows the pool `pool` every `every` until the returned effect is run: it stops the view and draws the final
 * state as a panel. Each live frame shows the rate over its interval; the final panel shows the whole run's (the
 * jobs that reached an outcome since the view started, over the seconds since then). The view lives in the current
 * scope.
 */
export const live = (
  pool: string,
  options: { readonly title: string; readonly every: Duration.Input; readonly total?: number }
): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const tty = process.stdout.isTTY === true
    const first = yield* read(pool)
    let before = first
    let drawn = 0
    const draw = (last: boolean) =>
      Effect.gen(function*() {
        const now = yield* read(pool)
        if (tty || last) {
          const lines = last
            ? panel(options.title, now, first, "run", options.total)
            : panel(options.title, now, before, "interval", options.total)
          const width = (process.stdout.columns || 100) - 1
          // move up over the previous panel, then redraw it line by line
          if (tty) {
            const up = drawn > 0 ? `\x1b[${drawn}A` : ""
            yield* Effect.sync(() =>
              process.stdout.write(up + lines.map((l) => `\r${l.slice(0, width)}\x1b[K`).join("\n") + "\n")
            )
            drawn = lines.length
          } else {
            yield* Console.log(lines.join("\n"))
          }
        } else {
          yield* Console.log(line(now, before, options.total))
        }
        before = now
      })
    const fiber = yield* Effect.forkScoped(Effect.repeat(Effect.delay(draw(false), options.every), Schedule.forever))
    return Effect.andThen(Fiber.interrupt(fiber), draw(true))
  })
