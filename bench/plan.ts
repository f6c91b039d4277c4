/**
 * What the suite runs: every case (group, implementation, variant), its arguments and its number of runs, in the
 * full and the quick mode, and how each implementation is named in the report.
 */
import type { ImplementationName } from "./impls/contract.ts"

export type Group = "throughput" | "options" | "scale" | "latency" | "timers" | "memory"
export type Script = "batch" | "latency" | "memory"

export interface Case {
  /** unique, and what `--filter` matches: `group/impl/variant` */
  readonly id: string
  readonly group: Group
  readonly impl: ImplementationName
  /** the column or scenario of the case in its table */
  readonly variant: string
  readonly script: Script
  readonly args: Readonly<Record<string, string | number>>
  readonly runs: number
}

export interface Sizes {
  readonly runs: number
  readonly throughputJobs: number
  readonly scaleJobs: number
  readonly scaleRuns: number
  readonly timerJobs: number
  readonly latencySeconds: number
  readonly latencyWarmup: number
  readonly memoryJobs: number
  readonly memoryRuns: number
  /** how long one process may take before it is killed */
  readonly processTimeoutMillis: number
  /** how long, in all, the suite may wait for other processes to leave the machine quiet before a run */
  readonly quietWaitMillis: number
}

export const fullSizes: Sizes = {
  runs: 5,
  throughputJobs: 200_000,
  scaleJobs: 1_000_000,
  scaleRuns: 3,
  timerJobs: 10_000,
  latencySeconds: 3,
  latencyWarmup: 0.5,
  memoryJobs: 1_000_000,
  memoryRuns: 3,
  processTimeoutMillis: 180_000,
  quietWaitMillis: 240_000
}

export const quickSizes: Sizes = {
  runs: 2,
  throughputJobs: 50_000,
  scaleJobs: 50_000,
  scaleRuns: 2,
  timerJobs: 1_000,
  latencySeconds: 1,
  latencyWarmup: 0.2,
  memoryJobs: 100_000,
  memoryRuns: 2,
  processTimeoutMillis: 60_000,
  quietWaitMillis: 10_000
}

export const throughputConcurrencies = [1, 8, 64, 1024] as const
export const scaleConcurrency = 10_000
export const timerConcurrency = 100
export const timerMillis = 10
export const latencyConcurrency = 8
const stallMillis = 100
/** The default timeout of the "cost of options" case: long enough never to fire. */
export const optionTimeout = "1 minute"

const batchImplementations: ReadonlyArray<ImplementationName> = [
  "floor",
  "semaphore",
  "fastq",
  "p-limit",
  "p-queue",
  "effect-forEach",
  "pool-execute",
  "pool-submit"
]
const throughputImplementations: ReadonlyArray<ImplementationName> = [
  ...batchImplementations,
  "pool-execute-backpressure"
]
const latencyImplementations: ReadonlyArray<ImplementationName> = ["fastq", "p-queue", "pool-execute"]
const memoryImplementations: ReadonlyArray<ImplementationName> = ["fastq", "p-limit", "p-queue", "pool-submit"]

export const latencyScenarios = [
  { variant: "20k/s", rate: 20_000, stall: 0 },
  { variant: "100k/s", rate: 100_000, stall: 0 },
  { variant: "100k/s + 100 ms stall", rate: 100_000, stall: stallMillis }
] as const

export const label: Readonly<Record<ImplementationName, string>> = {
  floor: "plain promise loop (the floor)",
  semaphore: "hand-written semaphore + `Promise.all`",
  fastq: "fastq (promise API)",
  "p-limit": "p-limit",
  "p-queue": "p-queue (`add` all, `onIdle`)",
  "effect-forEach": "`Effect.forEach` with `concurrency`",
  "pool-execute": "**WorkerPool `execute`**",
  "pool-execute-backpressure": "**WorkerPool `execute`, queue full**",
  "pool-submit": "**WorkerPool `submit` + `await`**"
}

/** Where a case's shape differs from the implementation's name in the other tables. */
export const memoryLabel: Partial<Record<ImplementationName, string>> = {
  "pool-submit": "**WorkerPool** (`submit`, handles dropped)"
}

export const makePlan = (sizes: Sizes): Array<Case> => {
  const cases: Array<Case> = []
  const add = (c: Omit<Case, "id">): void => {
    cases.push({ ...c, id: `${c.group}/${c.impl}/${c.variant}` })
  }
  for (const impl of throughputImplementations) {
    for (const concurrency of throughputConcurrencies) {
      add({
        group: "throughput",
        impl,
        variant: `C=${concurrency}`,
        script: "batch",
        args: { jobs: sizes.throughputJobs, concurrency },
        runs: sizes.runs
      })
    }
  }
  add({
    group: "options",
    impl: "pool-execute",
    variant: `timeout ${optionTimeout}`,
    script: "batch",
    args: { jobs: sizes.throughputJobs, concurrency: 8, timeout: optionTimeout },
    runs: sizes.runs
  })
  for (const impl of batchImplementations) {
    add({
      group: "scale",
      impl,
      variant: `C=${scaleConcurrency}`,
      script: "batch",
      args: { jobs: sizes.scaleJobs, concurrency: scaleConcurrency },
      runs: sizes.scaleRuns
    })
  }
  for (const impl of latencyImplementations) {
    for (const scenario of latencyScenarios) {
      add({
        group: "latency",
        impl,
        variant: scenario.variant,
        script: "latency",
        args: {
          rate: scenario.rate,
          stall: scenario.stall,
          seconds: sizes.latencySeconds,
          warmup: sizes.latencyWarmup,
          concurrency: latencyConcurrency
        },
        runs: sizes.runs
      })
    }
  }
  for (const impl of batchImplementations) {
    add({
      group: "timers",
      impl,
      variant: `C=${timerConcurrency}`,
      script: "batch",
      args: {
        jobs: sizes.timerJobs,
        concurrency: timerConcurrency,
        sleep: timerMillis,
        warmup: timerConcurrency * 5
      },
      runs: sizes.runs
    })
  }
  for (const impl of memoryImplementations) {
    add({
      group: "memory",
      impl,
      variant: "backlog",
      script: "memory",
      args: { jobs: sizes.memoryJobs },
      runs: sizes.memoryRuns
    })
  }
  return cases
}

/** The ideal elapsed time of a timers case: the jobs in waves of `concurrency`, each wave one sleep long. */
export const idealTimerMillis = (c: Case): number =>
  Math.ceil(Number(c.args.jobs) / Number(c.args.concurrency)) * Number(c.args.sleep)
