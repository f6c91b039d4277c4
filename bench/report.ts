/**
 * Turns the runs into figures: min / median / max per case, the machine they ran on, the targets (ratios between
 * implementations in the same run) and the Markdown report.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Measurement } from "./harness.ts"
import type { ImplementationName } from "./impls/contract.ts"
import {
  baselineMarker,
  baselineOf,
  type Case,
  durableImplementations,
  durableLayerPairs,
  durableShapes,
  durableVariant,
  type Group,
  idealTimerMillis,
  label,
  latencyConcurrency,
  latencyScenarios,
  memoryLabel,
  optionBaseline,
  optionConcurrency,
  optionVariants,
  scaleConcurrency,
  threadCounts,
  threadVariant,
  throughputConcurrencies,
  timerConcurrency,
  timerMillis,
  warmConcurrencies
} from "./plan.ts"

const rootDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

export interface Summary {
  readonly min: number
  readonly median: number
  readonly max: number
}

export interface CaseResult extends Case {
  readonly label: string
  readonly measurements: Array<Measurement>
  readonly errors: Array<string>
  /** min / median / max of every numeric field over the successful runs (booleans count as 0 or 1) */
  summary: Record<string, Summary>
}

/** JSON has no Infinity: a field that was Infinity in a case (never caught up, a lost job) arrives as null. */
export const numeric = (value: number | boolean | string | null): number | undefined =>
  value === null ? Infinity : typeof value === "boolean" ? Number(value) : typeof value === "number" ? value : undefined

export const summarize = (measurements: ReadonlyArray<Measurement>): Record<string, Summary> => {
  const summary: Record<string, Summary> = {}
  const keys = new Set(measurements.flatMap((m) => Object.keys(m)))
  for (const key of keys) {
    const values = measurements
      .map((m) => numeric(m[key] as number | boolean | string | null))
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b)
    if (values.length === 0) continue
    const middle = values.length >> 1
    const median = values.length % 2 === 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    summary[key] = { min: values[0], median, max: values[values.length - 1] }
  }
  return summary
}

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGB: number
  readonly node: string
  readonly platform: string
  readonly packages: Readonly<Record<string, string>>
  readonly commit: string
  /** sha-256 of the library's sources (`src/`) at the start of the run: tells runs of a modified tree apart */
  readonly srcDigest: string
  /** 1-minute load average before the first case: other work on the machine skews every figure */
  readonly loadBefore: number
  /** microseconds a minor page fault took (see `pageFaultMicros`) */
  readonly pageFaultMicros: number
}

const packageVersion = (name: string): string => {
  try {
    const json = JSON.parse(readFileSync(path.join(rootDir, "node_modules", name, "package.json"), "utf8"))
    return String(json.version)
  } catch {
    return "?"
  }
}

const gitCommit = (): string => {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: rootDir, encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: rootDir, encoding: "utf8" })
    return dirty.trim().length > 0 ? `${commit} (src modified)` : commit
  } catch {
    return "?"
  }
}

/** A digest of every file under `src/`, so that a report says exactly which code it measured. */
export const srcDigest = (): string => {
  const hash = createHash("sha256")
  const srcDir = path.join(rootDir, "src")
  const files = readdirSync(srcDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).sort()
  for (const file of files) hash.update(file).update(readFileSync(path.join(srcDir, file)))
  return hash.digest("hex").slice(0, 12)
}

/**
 * What a minor page fault costs on this machine, in microseconds: the median of three passes that each touch every
 * page of a fresh 64 MB buffer once. Bare metal takes a fraction of a microsecond; a virtual machine whose memory the
 * host maps on first touch can take tens, which a program that grows its heap pays once per 4 KB.
 */
const pageFaultMicros = (): number => {
  const bytes = 64 * 2 ** 20
  const pageSize = 4096
  const passes: Array<number> = []
  for (let pass = 0; pass < 3; pass++) {
    const buffer = Buffer.allocUnsafeSlow(bytes)
    const start = performance.now()
    for (let i = 0; i < bytes; i += pageSize) buffer[i] = 1
    passes.push(((performance.now() - start) * 1000) / (bytes / pageSize))
  }
  return passes.sort((a, b) => a - b)[1]
}

export const describeMachine = (): Machine => ({
  cpu: os.cpus()[0]?.model.trim() ?? "?",
  cores: os.availableParallelism(),
  memoryGB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  packages: Object.fromEntries(
    ["effect", "p-queue", "fastq", "p-limit", "piscina", "tinypool", "bullmq", "redis", "@effect/sql-pg"].map((
      name
    ) => [name, packageVersion(name)])
  ),
  commit: gitCommit(),
  srcDigest: srcDigest(),
  loadBefore: Math.round(os.loadavg()[0] * 100) / 100,
  pageFaultMicros: Math.round(pageFaultMicros() * 100) / 100
})

const formatNumber = (n: number): string =>
  !Number.isFinite(n) ? "∞" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n >= 10 ? n.toFixed(1) : n.toFixed(2)

export const formatMicros = (n: number | undefined): string =>
  n === undefined
    ? "n/a"
    : !Number.isFinite(n)
    ? "∞"
    : n >= 1000
    ? `${formatNumber(n / 1000)} ms`
    : `${formatNumber(n)} µs`

export const formatMillis = (n: number | undefined): string =>
  n === undefined ? "n/a" : !Number.isFinite(n) ? "never" : `${formatNumber(n)} ms`

/** `median (min–max)` of a field, or `n/a`. */
const cell = (result: CaseResult | undefined, key: string, format: (n: number) => string = formatNumber): string => {
  const s = result?.summary[key]
  if (s === undefined) return result !== undefined && result.errors.length > 0 ? "error" : "n/a"
  return s.min === s.max ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`
}

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const align = header.map((_, i) => (i === 0 ? "---" : "---:"))
  return [header, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n")
}

export interface Target {
  readonly name: string
  readonly measured: string
  readonly goal: string
  readonly met: boolean | undefined
}

export const evaluateTargets = (find: (id: string) => CaseResult | undefined): Array<Target> => {
  const median = (id: string, key: string): number | undefined => find(id)?.summary[key]?.median
  const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : a / b
  const targets: Array<Target> = []
  const atLeast = (name: string, value: number | undefined, goal: number, unit = "x"): void => {
    targets.push({
      name,
      measured: value === undefined ? "n/a" : `${value.toFixed(2)}${unit}`,
      goal: `≥ ${goal}${unit}`,
      met: value === undefined ? undefined : value >= goal
    })
  }
  const atMost = (name: string, value: number | undefined, goal: number, unit = "x"): void => {
    targets.push({
      name,
      measured: value === undefined ? "n/a" : `${value.toFixed(2)}${unit}`,
      goal: `≤ ${goal}${unit}`,
      met: value === undefined ? undefined : value <= goal
    })
  }
  const kjobs = (impl: string, variant: string) => median(`throughput/${impl}/${variant}`, "kjobsPerSecond")
  for (const c of ["C=8", "C=64"]) {
    atLeast(`throughput ${c}: execute / p-queue`, ratio(kjobs("pool-execute", c), kjobs("p-queue", c)), 2)
  }
  for (const c of ["C=8", "C=64"]) {
    atLeast(`throughput ${c}: execute / fastq`, ratio(kjobs("pool-execute", c), kjobs("fastq", c)), 1.2)
  }
  // handles: one producer submits every job, then awaits each result, and the peers are driven the same way
  for (const c of ["C=8", "C=64"]) {
    atLeast(`throughput ${c}: submit + await / execute`, ratio(kjobs("pool-submit", c), kjobs("pool-execute", c)), 0.8)
  }
  for (const c of ["C=8", "C=64"]) {
    atLeast(
      `throughput ${c}: submit + await / p-queue, each awaited`,
      ratio(kjobs("pool-submit", c), kjobs("p-queue-each", c)),
      2.5
    )
  }
  for (const c of ["C=8", "C=64"]) {
    atLeast(
      `throughput ${c}: submit + await / fastq, each awaited`,
      ratio(kjobs("pool-submit", c), kjobs("fastq-each", c)),
      1.5
    )
  }
  for (const scenario of latencyScenarios) {
    if (scenario.stall > 0) {
      // the issue's target after the stall is absolute: p99 within 30 ms (and caught up within a second, below)
      const p99 = median(`latency/pool-execute/${scenario.variant}`, "p99AfterStallMicros")
      atMost(
        `latency p99 ${scenario.variant} (jobs after the stall)`,
        p99 === undefined ? undefined : p99 / 1000,
        30,
        " ms"
      )
      continue
    }
    atMost(
      `latency p99 ${scenario.variant}: pool / p-queue`,
      ratio(
        median(`latency/pool-execute/${scenario.variant}`, "p99Micros"),
        median(`latency/p-queue/${scenario.variant}`, "p99Micros")
      ),
      1
    )
  }
  const stall = find(`latency/pool-execute/${latencyScenarios[2].variant}`)
  const caughtUp = stall?.measurements.filter((m) => m.caughtUp === true).length
  targets.push({
    name: "latency: pool caught up within 1 s after the stall",
    measured: stall === undefined || stall.measurements.length === 0
      ? "n/a"
      : `${caughtUp}/${stall.measurements.length} runs`,
    goal: "every run",
    met: stall === undefined || stall.measurements.length === 0
      ? undefined
      : caughtUp === stall.measurements.length
  })
  const timers = median(`timers/pool-execute/C=${timerConcurrency}`, "millis")
  const timerCase = find(`timers/pool-execute/C=${timerConcurrency}`)
  const idealMillis = timerCase === undefined ? undefined : idealTimerMillis(timerCase)
  atMost("timers: execute elapsed / ideal", ratio(timers, idealMillis), 1.1)
  const bytes = median("memory/pool-submit/backlog", "bytesPerJob")
  atMost("memory: bytes per queued job", bytes, 300, " B")
  atLeast(
    `scale: execute C=${scaleConcurrency.toLocaleString("en-US")} / C=64`,
    ratio(median(`scale/pool-execute/C=${scaleConcurrency}`, "kjobsPerSecond"), kjobs("pool-execute", "C=64")),
    0.5
  )
  const [one, two] = threadCounts.map(threadVariant)
  const cpuMillis = (impl: string, variant: string) => median(`threads-cpu/${impl}/${variant}`, "millis")
  atLeast(
    `threads, CPU-bound: ThreadPool speed-up, ${two} over ${one}`,
    ratio(cpuMillis("thread-pool", one), cpuMillis("thread-pool", two)),
    1.85
  )
  atMost(
    `threads, CPU-bound, ${two}: ThreadPool elapsed / piscina`,
    ratio(cpuMillis("thread-pool", two), cpuMillis("piscina", two)),
    1.05
  )
  atLeast(
    `threads, tiny jobs, ${two}: ThreadPool / piscina`,
    ratio(
      median(`threads-tiny/thread-pool/${two}`, "kjobsPerSecond"),
      median(`threads-tiny/piscina/${two}`, "kjobsPerSecond")
    ),
    0.75
  )
  return targets
}

export interface ReportInput {
  readonly mode: string
  readonly machine: Machine
  readonly results: ReadonlyArray<CaseResult>
  readonly targets: ReadonlyArray<Target>
  readonly seconds: number
  /** only some cases ran (`--filter`): targets that could not be evaluated are left out */
  readonly partial: boolean
  readonly warnings: ReadonlyArray<string>
}

export const renderReport = (
  { machine, mode, partial, results, seconds, targets, warnings }: ReportInput
): string => {
  const find = (id: string) => results.find((r) => r.id === id)
  const implsOf = (group: Group) => [...new Set(results.filter((r) => r.group === group).map((r) => r.impl))]
  const lines: Array<string> = []
  const sizesOf = (group: Group) => results.find((r) => r.group === group)
  const runsOf = (group: Group) => sizesOf(group)?.runs ?? 0
  lines.push(`# Benchmark results (${mode})`)
  lines.push("")
  lines.push(
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB; Node ${machine.node} on ${machine.platform}. ` +
      `${Object.entries(machine.packages).map(([name, version]) => `${name} ${version}`).join(", ")}; ` +
      `commit ${machine.commit}, src digest ${machine.srcDigest}. Suite took ${Math.round(seconds)} s; ` +
      `load average ${machine.loadBefore} before it. A page fault (a fresh 4 KB page touched) took ` +
      `${machine.pageFaultMicros} µs.`
  )
  for (const warning of warnings) {
    lines.push("")
    lines.push(`**Warning:** ${warning}`)
  }
  lines.push("")
  lines.push(
    "Every run is a fresh process that warms up before measuring; figures are `median (min–max)` over the runs. " +
      "Compare figures from one report only."
  )

  /** A table of thousand jobs/s per implementation (rows) and concurrency (columns), with its heading and note. */
  const throughputSection = (
    group: Group,
    title: string,
    concurrencies: ReadonlyArray<number>,
    note: string
  ): void => {
    const first = sizesOf(group)
    if (first === undefined) return
    // the columns this run measured (the quick mode runs the long-lived group at C=8 only)
    const columns = concurrencies.filter((c) => results.some((r) => r.group === group && r.variant === `C=${c}`))
    lines.push("")
    lines.push(
      `## ${title}: ${Number(first.args.jobs).toLocaleString("en-US")} no-op async jobs, thousand jobs/s ` +
        `(${runsOf(group)} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", ...columns.map((c) => `C=${c}`)],
      implsOf(group).map((impl) => [
        label[impl],
        ...columns.map((c) => cell(find(`${group}/${impl}/C=${c}`), "kjobsPerSecond"))
      ])
    ))
    lines.push("")
    lines.push(note)
  }

  /**
   * What V8's collector did in the measured pass of the cases that keep every result (handles, promises) against
   * `execute`, which keeps none: its pauses, and the young generation it grew to.
   */
  const gcNote = (): void => {
    const impls: ReadonlyArray<ImplementationName> = [
      "pool-execute",
      "pool-submit",
      "pool-execute-all",
      "fastq-each",
      "p-queue-each"
    ]
    const parts: Array<string> = []
    for (const c of [8, 64]) {
      const cells = impls.flatMap((impl) => {
        const summary = find(`throughput/${impl}/C=${c}`)?.summary
        const gc = summary?.gcMillis?.median
        const millis = summary?.millis?.median
        const young = summary?.youngGenerationMB?.median
        const faults = summary?.pageFaults?.median
        if (gc === undefined || millis === undefined || young === undefined) return []
        return [
          `${label[impl]} ${Math.round(gc)} ms of ${Math.round(millis)} ` +
          `(${Math.round((100 * gc) / millis)}%), ${Math.round(young)} MB` +
          (faults === undefined ? "" : `, ${Math.round(faults).toLocaleString("en-US")} page faults`)
        ]
      })
      if (cells.length > 0) parts.push(`C=${c}: ${cells.join("; ")}`)
    }
    if (parts.length === 0) return
    lines.push("")
    lines.push(
      "V8's garbage collector in the measured pass (medians: its pauses of the main thread, of the pass's time, " +
        "the young generation's size at the end, and the process's page faults). A driver that keeps every result " +
        "alive until the end makes the collector copy each of them and grow the young generation and the old one: " +
        "fresh memory, a page fault per 4 KB, at the cost per fault given above; `execute` keeps none. " +
        `${parts.join(". ")}.`
    )
  }

  throughputSection(
    "throughput",
    "Throughput",
    throughputConcurrencies,
    "The pool's `execute` is driven by `C + min(C, 512)` submitter fibers, each looping `execute`: every worker " +
      "busy and jobs queued, the queue (default capacity 1024) never full. \"Queue full\": `2C + 1024` submitters, " +
      "so that `C` of them always wait for room (overflow `\"suspend\"`, the default). `submit` + `await`: one " +
      "producer submits every job (waiting for room when the queue is full), then awaits each handle. `executeAll`: " +
      "one call with every input, which submits them in order the same way and returns the results in input order. " +
      "`executeStream`: every input as one stream, with the stream's default concurrency (`C` of its jobs in the " +
      "pool at once), the results drained."
  )
  gcNote()
  throughputSection(
    "warm",
    "Throughput on a long-lived instance",
    warmConcurrencies,
    "The jobs and drivers of the throughput case, but the warm-up pass (as many jobs as the measured one) runs " +
      "through the very pool, queue or limiter that is then measured, as a service keeps one for its lifetime. In " +
      "the throughput table each pass has an instance of its own. fastq recycles its task objects (`reusify`), so " +
      "on an instance that has already held every job of a pass it allocates no new ones."
  )

  const options = sizesOf("options")
  if (options !== undefined) {
    const kjobs = (variant: string) => find(`options/pool-execute/${variant}`)?.summary.kjobsPerSecond?.median
    const base = kjobs(optionBaseline)
    lines.push("")
    lines.push(
      `## Cost of options: \`execute\` at C=${optionConcurrency}, ` +
        `${Number(options.args.jobs).toLocaleString("en-US")} no-op async jobs, thousand jobs/s ` +
        `(${runsOf("options")} runs)`
    )
    lines.push("")
    lines.push(table(
      ["pool", "thousand jobs/s", "vs no options"],
      optionVariants.filter((o) => find(`options/pool-execute/${o.variant}`) !== undefined).map((o) => {
        const value = kjobs(o.variant)
        return [
          o.label,
          cell(find(`options/pool-execute/${o.variant}`), "kjobsPerSecond"),
          value === undefined || base === undefined ? "n/a" : `${(value / base).toFixed(2)}x`
        ]
      })
    ))
    lines.push("")
    lines.push(
      "The same `execute` loop as the throughput case, with one option at a time, against the plain pool measured in " +
        "the same rounds; the ratio is of the medians. No option changes what the jobs do: none fails, times out " +
        "or is held back by the rate limit. A `priority` other than 0 puts the job in the priority heap instead of " +
        "the FIFO backlog, and so does waiting for its `key`."
    )
  }

  const scale = sizesOf("scale")
  if (scale !== undefined) {
    lines.push("")
    lines.push(
      `## Scale: C=${scaleConcurrency.toLocaleString("en-US")}, ` +
        `${Number(scale.args.jobs).toLocaleString("en-US")} no-op jobs, thousand jobs/s (${runsOf("scale")} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", "thousand jobs/s", "vs its own C=64"],
      implsOf("scale").map((impl) => {
        const atScale = find(`scale/${impl}/C=${scaleConcurrency}`)
        const at64 = find(`throughput/${impl}/C=64`)?.summary.kjobsPerSecond?.median
        const median = atScale?.summary.kjobsPerSecond?.median
        return [
          label[impl],
          cell(atScale, "kjobsPerSecond"),
          median === undefined || at64 === undefined ? "n/a" : `${(median / at64).toFixed(2)}x`
        ]
      })
    ))
    const count = (n: number) => n.toLocaleString("en-US")
    lines.push("")
    lines.push(
      "The ratio is of the medians, against the throughput table's C=64 column. The pool's `execute` and the " +
        "hand-off floor are driven by `C + min(C, 512)` submitter fibers, as in the throughput case: at " +
        `C=${count(scaleConcurrency)} that is ${count(scaleConcurrency)} workers and ` +
        `${count(scaleConcurrency + Math.min(scaleConcurrency, 512))} callers, all live fibers.`
    )
  }

  const latency = sizesOf("latency")
  if (latency !== undefined) {
    lines.push("")
    lines.push(
      `## Latency: pool of ${latencyConcurrency}, steady rate for ${latency.args.seconds} s, submission to result ` +
        `(${runsOf("latency")} runs)`
    )
    lines.push("")
    const rows: Array<Array<string>> = []
    for (const impl of implsOf("latency")) {
      for (const scenario of latencyScenarios) {
        const r = find(`latency/${impl}/${scenario.variant}`)
        const stalled = scenario.stall > 0
        const caught = r?.measurements.filter((m) => m.caughtUp === true).length ?? 0
        rows.push([
          label[impl],
          scenario.variant,
          cell(r, "p50Micros", formatMicros),
          cell(r, "p99Micros", formatMicros),
          cell(r, "maxMicros", formatMicros),
          cell(r, "gcMaxPauseMillis", formatMillis),
          stalled ? cell(r, "p99AfterStallMicros", formatMicros) : "",
          stalled ? cell(r, "catchUpMillis", formatMillis) : "",
          stalled && r !== undefined ? `${caught}/${r.measurements.length}` : ""
        ])
      }
    }
    lines.push(table(
      [
        "implementation",
        "load",
        "p50",
        "p99",
        "max",
        "longest GC pause",
        "p99 after stall",
        "catch-up",
        "caught up ≤ 1 s"
      ],
      rows
    ))
    lines.push("")
    lines.push(
      "The source submits, on every event-loop turn, each job due by then; the stall blocks the event loop once, a " +
        "third of the way in, and the jobs that fell due meanwhile are submitted at once. Catch-up: from the end of " +
        "the stall to the first turn that finds nothing outstanding. The pool's callers (and the hand-off floor's) " +
        "enter Effect with `Effect.runCallback(pool.execute())`, one fiber per job."
    )
  }

  const timers = sizesOf("timers")
  if (timers !== undefined) {
    const ideal = idealTimerMillis(timers)
    lines.push("")
    lines.push(
      `## Timers: ${Number(timers.args.jobs).toLocaleString("en-US")} jobs sleeping ${timerMillis} ms at ` +
        `concurrency ${timerConcurrency}, elapsed ms (ideal ${ideal.toLocaleString("en-US")} ms, ` +
        `${runsOf("timers")} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", "elapsed ms", "vs ideal"],
      implsOf("timers").map((impl) => {
        const r = find(`timers/${impl}/C=${timerConcurrency}`)
        const m = r?.summary.millis?.median
        return [label[impl], cell(r, "millis"), m === undefined ? "n/a" : `${(m / ideal).toFixed(3)}x`]
      })
    ))
  }

  const memory = sizesOf("memory")
  if (memory !== undefined) {
    lines.push("")
    lines.push(
      `## Memory: ${Number(memory.args.jobs).toLocaleString("en-US")} jobs queued behind a blocked worker, ` +
        `retained bytes per job (${runsOf("memory")} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", "bytes per job"],
      implsOf("memory").map((impl) => [
        memoryLabel[impl] ?? label[impl],
        cell(find(`memory/${impl}/backlog`), "bytesPerJob")
      ])
    ))
  }

  const threadsCpu = sizesOf("threads-cpu")
  if (threadsCpu !== undefined) {
    const [one, two] = threadCounts.map(threadVariant)
    const millis = (impl: string, variant: string) => find(`threads-cpu/${impl}/${variant}`)?.summary.millis?.median
    const ratioCell = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? "" : `${(a / b).toFixed(2)}x`
    const mainThread = find(`threads-cpu/main-thread/${one}`)
    const jobs = Number(threadsCpu.args.jobs)
    lines.push("")
    lines.push(
      `## Threads, CPU-bound: ${jobs} jobs of about 20 ms of integer math, elapsed ms ` +
        `(${runsOf("threads-cpu")} runs)`
    )
    lines.push("")
    const ifRun = (impl: string, variant: string, key: string) =>
      find(`threads-cpu/${impl}/${variant}`) === undefined ? "" : cell(find(`threads-cpu/${impl}/${variant}`), key)
    lines.push(table(
      [
        "implementation",
        one,
        two,
        `speed-up, ${two} over ${one}`,
        `${two}: elapsed / piscina's`,
        `${two}: CPU ms, all threads`
      ],
      implsOf("threads-cpu").map((impl) => [
        label[impl],
        ifRun(impl, one, "millis"),
        ifRun(impl, two, "millis"),
        ratioCell(millis(impl, one), millis(impl, two)),
        ratioCell(millis(impl, two), millis("piscina", two)),
        ifRun(impl, two, "cpuMillis")
      ])
    ))
    const jobMillis = mainThread?.summary.jobMillis?.median
    lines.push("")
    lines.push(
      `One job took ${cell(mainThread, "jobMillis", (n) => formatMillis(n))} on the main thread in this run ` +
        `(${jobs} jobs one after the other, no pool)` +
        (jobMillis === undefined
          ? ". "
          : `: ${formatMillis(jobs * jobMillis)} of work, ${formatMillis((jobs * jobMillis) / 2)} on two ` +
            "threads at best. ") +
        "Each run starts a pool with as many threads as the column says, runs 4 jobs per thread to warm every " +
        "thread up, then submits every job at once and times until the last result. A job is many short calls of " +
        "one hot function (`bench/threads/jobs.ts`). The speed-up and the ratio to piscina are of the medians. " +
        "CPU ms: the process's CPU time over the measured jobs, every thread included; a run whose elapsed time " +
        "times 2 is well above it spent time waiting for a CPU (other processes), not computing."
    )
  }

  const threadsTiny = sizesOf("threads-tiny")
  if (threadsTiny !== undefined) {
    const variant = threadsTiny.variant
    const kjobs = (impl: string) => find(`threads-tiny/${impl}/${variant}`)?.summary.kjobsPerSecond?.median
    const piscina = kjobs("piscina")
    lines.push("")
    const passes = Number(threadsTiny.args.passes)
    lines.push(
      `## Threads, tiny jobs: ${passes} bursts of ${Number(threadsTiny.args.jobs).toLocaleString("en-US")} jobs ` +
        `(\`n + 1\`) on ${variant}, each submitted at once, thousand jobs/s (${runsOf("threads-tiny")} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", "thousand jobs/s", "vs piscina", "CPU per job, all threads"],
      implsOf("threads-tiny").map((impl) => {
        const value = kjobs(impl)
        return [
          label[impl],
          cell(find(`threads-tiny/${impl}/${variant}`), "kjobsPerSecond"),
          value === undefined || piscina === undefined ? "n/a" : `${(value / piscina).toFixed(2)}x`,
          cell(find(`threads-tiny/${impl}/${variant}`), "cpuMicrosPerJob", formatMicros)
        ]
      })
    ))
    lines.push("")
    lines.push(
      "What dispatch costs: the job does almost nothing, so the figure is the pools' own work per job, on both " +
        "sides of the thread boundary. Each burst is awaited in full before the next; each run warms the pool up " +
        `with ${passes} bursts, then times ${passes} in a row. ` +
        "The peers: `Promise.all(inputs.map((n) => pool.run(n)))`. The ThreadPool: one fiber `submit`s every job " +
        "(the pool's capacity above the batch, as the peers' queues are unbounded), then awaits each handle."
    )
  }

  const threadsStartup = sizesOf("threads-startup")
  if (threadsStartup !== undefined) {
    const columns = threadCounts.map(threadVariant).filter((v) =>
      results.some((r) => r.group === "threads-startup" && r.variant === v)
    )
    lines.push("")
    lines.push(`## Threads, start-up: ms from construction (${runsOf("threads-startup")} runs)`)
    lines.push("")
    lines.push(table(
      ["implementation", ...columns.flatMap((v) => [`${v}: ready`, `${v}: a job done on each`])],
      implsOf("threads-startup").map((impl) => [
        label[impl],
        ...columns.flatMap((v) => [
          cell(find(`threads-startup/${impl}/${v}`), "readyMillis"),
          cell(find(`threads-startup/${impl}/${v}`), "firstJobsMillis")
        ])
      ])
    ))
    lines.push("")
    lines.push(
      "The first pool of a fresh process, from the start of its construction. Ready: the ThreadPool when " +
        "`NodeThreadPool.make` returns (every thread has loaded its entry file and answered a ping); piscina and " +
        "tinypool when every thread has posted the message that says it has loaded the task's module (neither " +
        "library waits for it: a pool takes tasks as soon as it is constructed). A job done on each: then one tiny " +
        "job per thread, submitted at once, until the last result."
    )
  }

  renderDurable(lines, results)

  const baselines = results.flatMap((r) => {
    const of = baselineOf(r)
    const counterpart = of === undefined ? undefined : find(of.id)
    return of === undefined || counterpart === undefined ? [] : [{ result: r, counterpart, commit: of.commit }]
  })
  if (baselines.length > 0) {
    const commit = baselines[0].commit
    const key = (r: CaseResult) => r.group === "memory" ? "bytesPerJob" : "kjobsPerSecond"
    const median = (r: CaseResult | undefined) => r?.summary[key(r)]?.median
    // an option's cost: its throughput over the plain pool's, at the same commit
    const cost = (r: CaseResult | undefined, plain: CaseResult | undefined) => {
      const value = median(r)
      const base = median(plain)
      return value === undefined || base === undefined ? "n/a" : `${(value / base).toFixed(2)}x`
    }
    lines.push("")
    lines.push(`## Against commit ${commit} (\`--baseline\`, same rounds)`)
    lines.push("")
    lines.push(table(
      ["case", "this commit", `at ${commit}`, "ratio", "option cost here", `option cost at ${commit}`],
      baselines.map(({ commit, counterpart, result }) => {
        const now = median(counterpart)
        const then = median(result)
        const isOption = result.group === "options"
        return [
          `${result.group}: ${label[result.impl]}, ${counterpart.variant}`,
          cell(counterpart, key(counterpart)),
          cell(result, key(result)),
          now === undefined || then === undefined ? "n/a" : `${(now / then).toFixed(2)}x`,
          isOption ? cost(counterpart, find(`options/pool-execute/${optionBaseline}`)) : "",
          isOption ? cost(result, find(`options/pool-execute/${optionBaseline}${baselineMarker}${commit}`)) : ""
        ]
      })
    ))
    lines.push("")
    lines.push(
      "Each case of this commit against the same case on the `src/` of the baseline commit, measured in the same " +
        "rounds. The ratio is of the medians: above 1 is faster here, except for memory (bytes per job), where " +
        "below 1 is less memory here. An option's cost is its throughput over the plain pool's at the same commit."
    )
  }

  const shown = partial ? targets.filter((t) => t.met !== undefined) : targets
  if (shown.length > 0) {
    lines.push("")
    lines.push("## Targets (medians of this run)")
    lines.push("")
    lines.push(table(
      ["target", "measured", "goal", "met"],
      shown.map((t) => [t.name, t.measured, t.goal, t.met === undefined ? "n/a" : t.met ? "yes" : "**no**"])
    ))
  }

  const failed = results.filter((r) => r.errors.length > 0)
  if (failed.length > 0) {
    lines.push("")
    lines.push("## Errors")
    lines.push("")
    for (const r of failed) {
      for (const error of new Set(r.errors)) lines.push(`- \`${r.id}\`: ${error}`)
    }
  }
  return `${lines.join("\n")}\n`
}

/** The durable queue sections: throughput end to end and draining a backlog, pickup latency, round trips. */
const renderDurable = (lines: Array<string>, results: ReadonlyArray<CaseResult>): void => {
  const find = (id: string) => results.find((r) => r.id === id)
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "n/a" : `${(a / b).toFixed(2)}x`
  const present = (group: Group) =>
    durableImplementations.filter((impl) => results.some((r) => r.id.startsWith(`${group}/${impl}/`)))
  for (
    const [group, title, how] of [
      [
        "durable-e2e",
        "end to end",
        "The consumer processes are started and idle; the producer (the bench process) then offers every job, at most " +
        "16 offers in flight, while they consume. From the first offer to the last job's handler."
      ],
      [
        "durable-drain",
        "draining a backlog",
        "The producer offers every job first; then the consumer processes are told to start. From that message to " +
        "the last job's handler."
      ]
    ] as const
  ) {
    const impls = present(group)
    if (impls.length === 0) continue
    const first = results.find((r) => r.group === group)
    const variants = durableShapes.map((s) => durableVariant(s.processes, s.concurrency)).filter((v) =>
      results.some((r) => r.group === group && r.variant === v)
    )
    const median = (impl: string, variant: string) => find(`${group}/${impl}/${variant}`)?.summary.jobsPerSecond?.median
    lines.push("")
    lines.push(
      `## Durable queue, ${title}: ${Number(first?.args.jobs).toLocaleString("en-US")} no-op jobs, jobs/s ` +
        `(${first?.runs} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", ...variants],
      impls.map((impl) => [label[impl], ...variants.map((v) => cell(find(`${group}/${impl}/${v}`), "jobsPerSecond"))])
    ))
    lines.push("")
    lines.push(`Ratios of the medians, against BullMQ and against the store driven directly:`)
    lines.push("")
    lines.push(table(
      ["ratio", ...variants],
      [
        ...impls.filter((impl) => impl !== "bullmq").map((impl) => [
          `${label[impl]} / BullMQ`,
          ...variants.map((v) => ratio(median(impl, v), median("bullmq", v)))
        ]),
        ...durableLayerPairs.filter(([ours, direct]) => impls.includes(ours) && impls.includes(direct)).map((
          [ours, direct]
        ) => [`${label[ours]} / ${label[direct]}`, ...variants.map((v) => ratio(median(ours, v), median(direct, v)))])
      ]
    ))
    if (results.some((r) => r.group === group && r.summary.consumerCpuMicrosPerJob !== undefined)) {
      const micros = (impl: string, v: string, key: string) => {
        const m = find(`${group}/${impl}/${v}`)?.summary[key]?.median
        return m === undefined ? "n/a" : Math.round(m).toString()
      }
      lines.push("")
      lines.push(
        "CPU time per job, µs (medians): the consumer processes (summed) / the producer. On 2 cores shared with " +
          "the server, CPU spent per job is throughput lost once the machine is saturated:"
      )
      lines.push("")
      lines.push(table(
        ["implementation", ...variants],
        impls.map((impl) => [
          label[impl],
          ...variants.map((v) =>
            `${micros(impl, v, "consumerCpuMicrosPerJob")} / ${micros(impl, v, "producerCpuMicrosPerJob")}`
          )
        ])
      ))
    }
    if (group === "durable-drain") {
      lines.push("")
      lines.push("From the start message to the first job's handler, ms (not in the rates above):")
      lines.push("")
      lines.push(table(
        ["implementation", ...variants],
        impls.map((impl) => [label[impl], ...variants.map((v) => cell(find(`${group}/${impl}/${v}`), "startMillis"))])
      ))
    }
    lines.push("")
    lines.push(
      `${how} Each process runs the jobs of one consumer (\`C\` at once); a warm-up pass of ` +
        `${Number(first?.args.warmup).toLocaleString("en-US")} jobs through a queue of its own comes first. The ` +
        "handler is a no-op that notes the time. A store driven directly is `PersistedQueue.makeFactory` over it, " +
        "`C` fibers looping `take`, with the timings the library's layer gives it: the gap between a DurableQueue " +
        "row and its store's is what `DurableQueue` adds (its core pool, spans, metrics)."
    )
  }

  const pickup = present("durable-pickup")
  if (pickup.length > 0) {
    const first = results.find((r) => r.group === "durable-pickup")
    const p50 = (impl: string) => find(`durable-pickup/${impl}/idle consumer`)?.summary.p50Millis?.median
    lines.push("")
    lines.push(
      `## Durable queue, pickup latency of an idle consumer in another process: ${first?.args.samples} jobs ` +
        `one at a time, ms (${first?.runs} runs)`
    )
    lines.push("")
    lines.push(table(
      ["implementation", "p50", "p99", "max", "mean", "p50 vs BullMQ"],
      pickup.map((impl) => {
        const r = find(`durable-pickup/${impl}/idle consumer`)
        return [
          label[impl],
          cell(r, "p50Millis"),
          cell(r, "p99Millis"),
          cell(r, "maxMillis"),
          cell(r, "meanMillis"),
          ratio(p50(impl), p50("bullmq"))
        ]
      })
    ))
    lines.push("")
    lines.push(
      "One consumer process (C=1) waits; the producer offers a job, stamped with the time its offer starts, waits " +
        "until the consumer has run it, then pauses 50-250 ms (at random) before the next. The consumer notes the " +
        "time from the stamp to its handler. 5 unmeasured jobs first. Polling stores pick a job up at their next " +
        "poll (the layers' defaults: the stock Redis store every 100 ms, the SQL store every 200 ms); " +
        "`RedisQueueStore` and BullMQ are woken by the server. With this few samples, p99 is close to the max."
    )
  }

  const trips = present("durable-trips")
  if (trips.length > 0) {
    const first = results.find((r) => r.group === "durable-trips")
    const variants = [...new Set(results.filter((r) => r.group === "durable-trips").map((r) => r.variant))]
    const value = (r: CaseResult | undefined, key: string) => {
      const v = r?.summary[key]?.median
      return v === undefined ? (r !== undefined && r.errors.length > 0 ? "error" : "n/a") : v.toFixed(2)
    }
    const text = (r: CaseResult | undefined, key: string) => String(r?.measurements[0]?.[key] ?? "")
    lines.push("")
    lines.push(
      `## Durable queue, requests per job: ${Number(first?.args.jobs).toLocaleString("en-US")} jobs offered, ` +
        "then drained by one consumer process"
    )
    lines.push("")
    lines.push(table(
      [
        "implementation",
        "consumer",
        "offer",
        "consume",
        "per job",
        "round trips per job",
        "idle, per second",
        "consume, by command"
      ],
      trips.flatMap((impl) =>
        variants.flatMap((v) => {
          const r = find(`durable-trips/${impl}/${v}`)
          if (r === undefined) return []
          return [[
            label[impl],
            v,
            value(r, "offerRequests"),
            value(r, "consumeRequests"),
            value(r, "requestsPerJob"),
            value(r, "roundTripsPerJob"),
            value(r, "idleRequestsPerSecond"),
            text(r, "consumeCommands")
          ]]
        })
      )
    ))
    lines.push("")
    lines.push(
      "Counted by a proxy between the processes and the server (`bench/durable/proxy.ts`), after a warm-up pass " +
        "through a queue of its own: Redis commands (a script call is one), PostgreSQL statements (`Query` and " +
        "`Execute` messages). Round trips: the same for Redis (a pipelined command counts as one); for PostgreSQL, " +
        "`Query` and `Sync` messages. Offer: the producer's requests per job offered (16 in flight). Consume: the " +
        "consumer's per job, claims, completions and the polls that found nothing included. Idle: the consumer's " +
        "requests per second with nothing to do (polls and lock refreshes). One run: these are counts."
    )
  }
}
