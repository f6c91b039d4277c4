/**
 * The benchmark suite. `npm run bench` runs every case; `npm run bench -- --quick` runs a smaller version of each
 * (fewer runs, smaller sizes) as a sanity check in CI.
 *
 * Every run of a case is a fresh Node process (`cases/*.ts`, which warms up in-process before measuring), so no
 * implementation inherits another's heap or JIT state. The runs are interleaved in rounds (every case once, then
 * every case again), so that a slow patch of the machine touches every implementation alike and the peers are
 * always measured side by side with the pool. Each figure is the median of its runs, with min and max.
 *
 * Output: a progress line per run, then the Markdown report; both the report and the raw results are written to
 * `bench/results/` (`latest.*` for the full suite, `quick.*` for `--quick`, `partial.*` when `--filter` is set).
 *
 * Options: `--quick`; `--baseline=<git ref>` (also runs the plain pool of the cost-of-options case on the `src/` of
 * that commit, extracted into `bench/.baseline/`, so that a change is measured against it in one run); `--runs=N`
 * (runs per case, overriding the mode's); `--filter=text` (only the cases whose
 * id contains `text`, e.g. `throughput/`, `pool-execute`, `latency/`, `threads-`, `durable`).
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { type Measurement, RESULT_TAG } from "./harness.ts"
import { baselineMarker, type Case, fullSizes, isBaselineCase, label, makePlan, nodeFlags, quickSizes } from "./plan.ts"
import {
  type CaseResult,
  describeMachine,
  evaluateTargets,
  formatMicros,
  formatMillis,
  numeric,
  renderReport,
  srcDigest,
  summarize
} from "./report.ts"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const rootDir = path.dirname(benchDir)

// -----------------------------------------------------------------------------
// running
// -----------------------------------------------------------------------------

interface Run {
  readonly measurement?: Measurement | undefined
  readonly error?: string | undefined
}

/** Runs one case once, in a fresh process of the same Node binary. */
const runOnce = (c: Case, timeoutMillis: number): Promise<Run> =>
  new Promise((resolve) => {
    const script = path.join(benchDir, "cases", `${c.script}.ts`)
    const argv = [
      "--expose-gc",
      ...(nodeFlags[c.impl] ?? []),
      script,
      `--impl=${c.impl}`,
      ...Object.entries(c.args).map(([key, value]) => `--${key}=${value}`)
    ]
    const child = spawn(process.execPath, argv, { cwd: rootDir, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMillis)
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ error: error.message })
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_TAG))
      if (code === 0 && line !== undefined) {
        resolve({ measurement: JSON.parse(line.slice(RESULT_TAG.length)) as Measurement })
        return
      }
      const reason = timedOut
        ? `timed out after ${timeoutMillis / 1000} s`
        : `exited with ${signal ?? `code ${code}`}${line === undefined ? " and no result" : ""}`
      const tail = stderr.trim().split("\n").slice(-5).join(" | ")
      resolve({ error: tail.length > 0 ? `${reason}: ${tail}` : reason })
    })
  })

// -----------------------------------------------------------------------------
// a quiet machine
// -----------------------------------------------------------------------------

/** Above this share of all cores' time spent busy while no case runs, other work would skew a measurement. */
const busyThreshold = 0.3

/** The share of all cores' time spent busy over `millis`. */
const machineBusy = async (millis: number): Promise<number> => {
  const before = os.cpus()
  await new Promise((resolve) => setTimeout(resolve, millis))
  let busy = 0
  let total = 0
  os.cpus().forEach((cpu, i) => {
    const then = before[i]?.times
    if (then === undefined) return
    const elapsed = cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq + cpu.times.idle -
      (then.user + then.nice + then.sys + then.irq + then.idle)
    total += elapsed
    busy += elapsed - (cpu.times.idle - then.idle)
  })
  return total === 0 ? 0 : busy / total
}

/**
 * Waits, within what is left of the run's waiting budget, until other processes leave the machine quiet. Returns
 * how busy the machine was when the case started.
 */
const awaitQuietMachine = async (budget: { remainingMillis: number }): Promise<number> => {
  let busy = await machineBusy(100)
  while (busy > busyThreshold && budget.remainingMillis > 0) {
    const start = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 500))
    busy = await machineBusy(100)
    budget.remainingMillis -= performance.now() - start
  }
  return busy
}

const describeRun = (c: Case, run: Run): string => {
  if (run.measurement === undefined) return `error: ${run.error}`
  const m = run.measurement
  switch (c.script) {
    case "batch":
      return c.group === "timers"
        ? `${Math.round(m.millis as number)} ms`
        : `${Math.round(m.kjobsPerSecond as number)} thousand jobs/s`
    case "latency":
      return `p50 ${formatMicros(numeric(m.p50Micros))}, p99 ${formatMicros(numeric(m.p99Micros))}` +
        (m.catchUpMillis === undefined ? "" : `, caught up after ${formatMillis(numeric(m.catchUpMillis))}`)
    case "memory":
      return `${Math.round(m.bytesPerJob as number)} bytes/job`
    case "threads":
      return c.group === "threads-cpu"
        ? `${formatMillis(numeric(m.millis))} (${formatMillis(numeric(m.jobMillis))} per job, ` +
          `${formatMillis(numeric(m.cpuMillis))} of CPU)`
        : c.group === "threads-tiny"
        ? `${(m.kjobsPerSecond as number).toFixed(1)} thousand jobs/s, ` +
          `${formatMicros(numeric(m.cpuMicrosPerJob))} of CPU per job`
        : `ready after ${formatMillis(numeric(m.readyMillis))}, a job on each thread after ` +
          formatMillis(numeric(m.firstJobsMillis))
    case "durable":
      return c.group === "durable-pickup"
        ? `p50 ${formatMillis(numeric(m.p50Millis))}, p99 ${formatMillis(numeric(m.p99Millis))}`
        : c.group === "durable-trips"
        ? `${(m.requestsPerJob as number).toFixed(2)} ${m.unit} per job (offer ${
          (m.offerRequests as number).toFixed(2)
        }, consume ${(m.consumeRequests as number).toFixed(2)}: ${m.consumeCommands})`
        : `${Math.round(m.jobsPerSecond as number)} jobs/s`
  }
}

// -----------------------------------------------------------------------------
// baseline
// -----------------------------------------------------------------------------

/**
 * The pool's cases that judge a change to the engine, run again on the `src/` of commit `ref` (extracted with
 * `git archive` into `bench/.baseline/<commit>/src`, where it resolves the project's `node_modules`): `execute`,
 * `submit` + `await` and `executeStream` at C=8 and C=64, every variant of the cost-of-options case, and memory per queued job. Each
 * runs in the same rounds as its counterpart here, and the report compares the two.
 */
const baselineCases = (plan: ReadonlyArray<Case>, ref: string | undefined): Array<Case> => {
  if (ref === undefined) return []
  const git = (...args: Array<string>) => execFileSync("git", args, { cwd: rootDir, encoding: "utf8" }).trim()
  const commit = git("rev-parse", "--short", `${ref}^{commit}`)
  const dir = path.join(benchDir, ".baseline", commit)
  mkdirSync(dir, { recursive: true })
  execFileSync("sh", ["-c", `git archive ${commit} src | tar -x -C "${dir}"`], { cwd: rootDir })
  return plan
    .filter(isBaselineCase)
    .map((c) => {
      const variant = `${c.variant}${baselineMarker}${commit}`
      return { ...c, variant, id: `${c.group}/${c.impl}/${variant}`, args: { ...c.args, src: path.join(dir, "src") } }
    })
}

// -----------------------------------------------------------------------------
// main
// -----------------------------------------------------------------------------

const main = async (): Promise<number> => {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      filter: { type: "string" },
      baseline: { type: "string" }
    }
  })
  const sizes = values.quick ? quickSizes : fullSizes
  const filter = values.filter
  const runsOverride = values.runs === undefined ? undefined : Number(values.runs)
  if (runsOverride !== undefined && !(Number.isInteger(runsOverride) && runsOverride >= 1)) {
    throw new Error(`--runs must be a positive integer, got ${values.runs}`)
  }
  const mode = values.quick ? "quick" : "full"
  const outputName = filter !== undefined ? "partial" : values.quick ? "quick" : "latest"

  const plan = [...makePlan(sizes), ...baselineCases(makePlan(sizes), values.baseline)]
    .filter((c) => filter === undefined || c.id.includes(filter))
    .map((c) => (runsOverride === undefined ? c : { ...c, runs: runsOverride }))
  if (plan.length === 0) throw new Error(`no case matches --filter=${filter}`)

  const machine = describeMachine()
  console.log(
    `${mode} suite: ${plan.length} cases, ${plan.reduce((n, c) => n + c.runs, 0)} processes; ` +
      `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`
  )
  const results: Array<CaseResult> = plan.map((c) => ({
    ...c,
    label: label[c.impl],
    measurements: [],
    errors: [],
    summary: {}
  }))
  const started = performance.now()
  const rounds = Math.max(...plan.map((c) => c.runs))
  const total = plan.reduce((n, c) => n + c.runs, 0)
  let done = 0
  let busyRuns = 0
  const waitBudget = { remainingMillis: sizes.quietWaitMillis }
  for (let round = 0; round < rounds; round++) {
    for (const result of results) {
      if (round >= result.runs) continue
      const busy = await awaitQuietMachine(waitBudget)
      if (busy > busyThreshold) busyRuns++
      const run = await runOnce(result, sizes.processTimeoutMillis)
      done++
      if (run.measurement !== undefined) result.measurements.push(run.measurement)
      else result.errors.push(run.error ?? "unknown error")
      const note = busy > busyThreshold ? ` (machine ${Math.round(busy * 100)}% busy)` : ""
      console.log(`[${done}/${total}] ${result.id} run ${round + 1}: ${describeRun(result, run)}${note}`)
    }
  }
  for (const result of results) result.summary = summarize(result.measurements)
  const seconds = (performance.now() - started) / 1000

  const find = (id: string) => results.find((r) => r.id === id)
  const targets = evaluateTargets(find)
  const warnings: Array<string> = []
  if (machine.loadBefore > machine.cores / 2) {
    warnings.push(
      `the machine was busy before the suite started (load average ${machine.loadBefore} on ${machine.cores} ` +
        "cores): every figure is skewed, and ratios between implementations are less reliable."
    )
  }
  if (busyRuns > 0) {
    warnings.push(
      `${busyRuns} of ${total} runs started while other processes kept more than ${busyThreshold * 100}% of the ` +
        "CPU busy (after waiting for quiet as long as the suite allows): their figures are skewed."
    )
  }
  const digestAfter = srcDigest()
  if (digestAfter !== machine.srcDigest) {
    warnings.push(`\`src/\` changed during the run (digest ${machine.srcDigest}, then ${digestAfter}).`)
  }
  for (const warning of warnings) console.error(`Warning: ${warning}`)
  const report = renderReport({
    mode,
    machine,
    results,
    targets,
    seconds,
    partial: filter !== undefined,
    warnings
  })
  const resultsDir = path.join(benchDir, "results")
  mkdirSync(resultsDir, { recursive: true })
  const json = {
    mode,
    filter: filter ?? null,
    date: new Date().toISOString(),
    seconds,
    machine,
    sizes,
    warnings,
    targets,
    cases: results
  }
  writeFileSync(path.join(resultsDir, `${outputName}.json`), `${JSON.stringify(json, null, 2)}\n`)
  writeFileSync(path.join(resultsDir, `${outputName}.md`), report)
  console.log("")
  console.log(report)
  console.log(`Wrote bench/results/${outputName}.json and bench/results/${outputName}.md`)

  const empty = results.filter((r) => r.measurements.length === 0)
  if (empty.length > 0) {
    console.error(`No successful run for: ${empty.map((r) => r.id).join(", ")}`)
    return 1
  }
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error)
    process.exitCode = 1
  }
)
