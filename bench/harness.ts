/**
 * What every case file shares: its arguments, the result line that `run.ts` reads, and small statistics.
 *
 * A case file runs one implementation once, in its own process: it parses `--name=value` arguments, warms up,
 * measures, and prints a single line `RESULT_TAG + JSON` on stdout. Anything else it prints is ignored.
 */
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks"
import { parseArgs } from "node:util"
import * as v8 from "node:v8"

/** The prefix of the one line a case prints for `run.ts`. */
export const RESULT_TAG = "@@bench-result "

/** A case's measurements: flat, so that `run.ts` can take min / median / max of each numeric field. */
export type Measurement = Readonly<Record<string, number | boolean | string>>

/** The `--name=value` arguments of the current process. */
export const args: Readonly<Record<string, string | undefined>> = (() => {
  const { values } = parseArgs({ args: process.argv.slice(2), strict: false, allowPositionals: true })
  const out: Record<string, string | undefined> = {}
  for (const [key, value] of Object.entries(values)) out[key] = typeof value === "string" ? value : undefined
  return out
})()

export const stringArg = (name: string, fallback?: string): string => {
  const value = args[name] ?? fallback
  if (value === undefined) throw new Error(`missing argument --${name}=...`)
  return value
}

export const numberArg = (name: string, fallback?: number): number => {
  const raw = args[name]
  if (raw === undefined) {
    if (fallback === undefined) throw new Error(`missing argument --${name}=...`)
    return fallback
  }
  const value = Number(raw)
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got ${raw}`)
  return value
}

/** Prints the result line and lets the process exit on its own. */
export const emit = (measurement: Measurement): void => {
  process.stdout.write(`${RESULT_TAG}${JSON.stringify(measurement)}\n`)
}

/** Runs a case's main function; a failure prints its stack and sets a non-zero exit code. */
export const main = (body: () => Promise<Measurement>): void => {
  body().then(
    (measurement) => {
      emit(measurement)
      // Pools and peers may leave timers behind; the measurement is out, so the process need not wait for them.
      process.exit(0)
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.stack : error)
      process.exit(1)
    }
  )
}

/** The `p`-quantile (0..1) of an ascending array, by the nearest-rank method. */
export const quantile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** Blocks the event loop for `millis`, as a long synchronous task would. */
export const stallEventLoop = (millis: number): void => {
  const until = performance.now() + millis
  while (performance.now() < until) {
    // busy wait
  }
}

/** Forces a full garbage collection (the process must run with `--expose-gc`), twice to settle weak references. */
export const collectGarbage = (): void => {
  if (globalThis.gc === undefined) throw new Error("run this case with node --expose-gc")
  globalThis.gc()
  globalThis.gc()
}

/**
 * What V8's garbage collector did from `start` to `stop`: its pauses of the main thread (every collection, young and
 * old, as Node's `gc` performance entries report them), the young generation's size at the end, and the process's
 * minor page faults (each a fresh page of memory touched for the first time). A program that keeps many objects alive
 * (handles, promises) makes the collector copy each of them and grows the young generation and the old one: fresh
 * memory, a page fault per 4 KB, whose cost depends on the machine (see `pageFaultMicros` in `report.ts`); these figures show how
 * much of a pass that took.
 */
export const gcWatch = (): { readonly start: () => void; readonly stop: () => Promise<Measurement> } => {
  let from = Infinity
  let until = Infinity
  let faultsFrom = 0
  let faults = 0
  const entries: Array<PerformanceEntry> = []
  const observer = new PerformanceObserver((list) => {
    entries.push(...list.getEntries())
  })
  observer.observe({ entryTypes: ["gc"] })
  return {
    start: () => {
      from = performance.now()
      faultsFrom = process.resourceUsage().minorPageFault
    },
    stop: async () => {
      until = performance.now()
      faults = process.resourceUsage().minorPageFault - faultsFrom
      // Node reports a collection on a later turn of the event loop: let the last ones of the pass arrive
      await new Promise((resolve) => setTimeout(resolve, 20))
      entries.push(...observer.takeRecords())
      observer.disconnect()
      let millis = 0
      let young = 0
      let old = 0
      for (const entry of entries) {
        if (entry.startTime < from || entry.startTime >= until) continue
        millis += entry.duration
        // `detail.kind`: 1 a young-generation collection (scavenge), 2 and 4 an old-generation one
        const kind = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) young++
        else old++
      }
      const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")
      return {
        gcMillis: millis,
        youngCollections: young,
        oldCollections: old,
        youngGenerationMB: newSpace === undefined ? 0 : newSpace.space_size / 2 ** 20,
        pageFaults: faults
      }
    }
  }
}
