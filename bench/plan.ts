/**
 * What the suite runs: every case (group, implementation, variant), its arguments and its number of runs, in the
 * full and the quick mode, and how each implementation is named in the report.
 */
import type { ImplementationName } from "./impls/contract.ts"

export type Group =
  | "throughput"
  | "warm"
  | "options"
  | "scale"
  | "latency"
  | "timers"
  | "memory"
  | "threads-cpu"
  | "threads-tiny"
  | "threads-startup"
  | "durable-e2e"
  | "durable-drain"
  | "durable-pickup"
  | "durable-trips"
export type Script = "batch" | "latency" | "memory" | "threads" | "durable"

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
  /** runs of each thread case */
  readonly threadRuns: number
  /** CPU-bound jobs (about 20 ms each) of the thread case */
  readonly threadCpuJobs: number
  /** tiny jobs of the dispatch case: jobs submitted at once (a burst), and bursts timed (after as many unmeasured) */
  readonly threadTinyJobs: number
  readonly threadTinyPasses: number
  /** runs of each durable queue case (the round-trip case runs once: it counts) */
  readonly durableRuns: number
  /**
   * jobs of the durable end-to-end, backlog and round-trip cases; a warm-up pass of `durableWarmup` comes first, large
   * enough that the consumers' code is compiled by the JIT before the clock starts (a consumer is a long-lived
   * process: its first thousand jobs are not what it runs at). The PostgreSQL stores, a few hundred jobs a second and
   * bound by the server, run `durableSlowJobs` after `durableSlowWarmup`.
   */
  readonly durableJobs: number
  readonly durableWarmup: number
  readonly durableSlowJobs: number
  readonly durableSlowWarmup: number
  /** jobs timed one at a time by the pickup-latency case (after 5 unmeasured) */
  readonly durablePickupSamples: number
  /** how long one process may take before it is killed */
  readonly processTimeoutMillis: number
  /** how long, in all, the suite may wait for other processes to leave the machine quiet before a run */
  readonly quietWaitMillis: number
  /**
   * Whether the long-lived-instance, scale and timers groups run every batch implementation, or only the pool, the
   * two peers of the targets and the hand-off floor (to keep the quick mode quick; the long-lived group then runs at
   * C=8 only). With `"targets"`, the thread groups run only what their targets compare (the thread pool, and piscina
   * on 2 threads), the main thread, and every implementation's start-up on 2 threads.
   */
  readonly secondaryGroups: "all" | "targets"
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
  threadRuns: 5,
  threadCpuJobs: 64,
  threadTinyJobs: 2_000,
  threadTinyPasses: 10,
  durableRuns: 3,
  durableJobs: 5_000,
  durableWarmup: 3_000,
  durableSlowJobs: 2_000,
  durableSlowWarmup: 200,
  durablePickupSamples: 40,
  processTimeoutMillis: 180_000,
  quietWaitMillis: 240_000,
  secondaryGroups: "all"
}

export const quickSizes: Sizes = {
  runs: 2,
  throughputJobs: 50_000,
  scaleJobs: 50_000,
  scaleRuns: 2,
  timerJobs: 1_000,
  latencySeconds: 0.5,
  latencyWarmup: 0.2,
  memoryJobs: 100_000,
  memoryRuns: 2,
  threadRuns: 2,
  threadCpuJobs: 16,
  threadTinyJobs: 1_000,
  threadTinyPasses: 3,
  durableRuns: 1,
  durableJobs: 200,
  durableWarmup: 50,
  durableSlowJobs: 200,
  durableSlowWarmup: 50,
  durablePickupSamples: 10,
  processTimeoutMillis: 60_000,
  quietWaitMillis: 10_000,
  secondaryGroups: "targets"
}

export const throughputConcurrencies = [1, 8, 64, 1024] as const
/** The concurrencies of the throughput case on a long-lived instance. */
export const warmConcurrencies = [8, 64] as const
export const scaleConcurrency = 10_000
export const timerConcurrency = 100
export const timerMillis = 10
export const latencyConcurrency = 8
const stallMillis = 100
/** The concurrency of the "cost of options" case. */
export const optionConcurrency = 8
/** The threads of the CPU-bound and start-up cases; the tiny-job case runs on the last. */
export const threadCounts = [1, 2] as const
export const threadVariant = (threads: number): string => `${threads} thread${threads === 1 ? "" : "s"}`

export interface OptionVariant {
  /** the case's variant (`options/pool-execute/<variant>`) */
  readonly variant: string
  /** the row of the report's table */
  readonly label: string
  /** the pool's or the jobs' options, as `cases/batch.ts` takes them */
  readonly args: Readonly<Record<string, string | number>>
}

/** The variant every other one is compared with: the plain pool, measured in the same run. */
export const optionBaseline = "none"

/** Separates a case's variant from the commit it was run at, in the variants `--baseline` adds. */
export const baselineMarker = " at "

/** The cases `--baseline=<commit>` runs again on that commit's `src/`. */
export const isBaselineCase = (c: Case): boolean =>
  (c.group === "throughput" &&
    (c.impl === "pool-execute" || c.impl === "pool-submit" || c.impl === "pool-execute-stream") &&
    (c.variant === "C=8" || c.variant === "C=64")) ||
  (c.group === "options") ||
  (c.group === "memory" && c.impl.startsWith("pool-"))

/** The case a `--baseline` case is the counterpart of, and the commit it ran at; `undefined` for any other case. */
export const baselineOf = (c: Case): { readonly id: string; readonly commit: string } | undefined => {
  const at = c.variant.lastIndexOf(baselineMarker)
  if (at < 0 || !/^[0-9a-f]{7,40}$/.test(c.variant.slice(at + baselineMarker.length))) return undefined
  return { id: `${c.group}/${c.impl}/${c.variant.slice(0, at)}`, commit: c.variant.slice(at + baselineMarker.length) }
}

/**
 * The "cost of options" case: `execute` at C=8, as in the throughput case, with one option set at a time. None of
 * them changes what the jobs do (they never fail, never time out, are never held back by the rate limit), so the
 * difference from the plain pool is the cost of the option's bookkeeping.
 */
export const optionVariants: ReadonlyArray<OptionVariant> = [
  { variant: optionBaseline, label: "no options", args: {} },
  // long enough never to fire
  { variant: "timeout 1 minute", label: "`timeout: \"1 minute\"`", args: { timeout: "1 minute" } },
  // the jobs never fail: only the check after each job runs
  { variant: "retry recurs(3)", label: "`retry: Schedule.recurs(3)` (no job fails)", args: { retry: 3 } },
  // every job goes through the priority heap instead of the FIFO backlog
  { variant: "priority 1 or 2", label: "every job a `priority`, 1 and 2 in turn", args: { priorities: 2 } },
  // At most 16 jobs are in flight (C + C submitters), so no two of them share a key; but every job opens its key's
  // lane and closes it.
  { variant: "key of 1000", label: "every job a `key`, 1,000 keys in turn", args: { keys: 1000 } },
  // As many keys as workers, and two jobs in flight per key: half the jobs wait for their key's previous job (and
  // then go through the priority heap, in submission order).
  { variant: "key of 8", label: "every job a `key`, 8 keys in turn", args: { keys: 8 } },
  // Never blocks: a job is held back only when `limit` jobs started within one `interval`, and the clock counts
  // whole milliseconds, so this allows 100,000 starts per millisecond, over 100 times what the pool reaches; the
  // log of start times is an array of `limit` numbers (800 KB).
  // The pool's metric series are registered and read from its own counters: the per-job cost is the same either
  // way, and this shows it.
  { variant: "metrics off", label: "`metrics: false`", args: { metrics: "false" } },
  // Every submitter runs inside a span, so every job runs in a child span of it (`WorkerPool.job`).
  { variant: "traced", label: "submitters inside a span: a span per job", args: { traced: "true" } },
  {
    variant: "rateLimit 100000 per 1 millis",
    label: "`rateLimit: { limit: 100_000, interval: \"1 millis\" }` (never holds a job back)",
    args: { rateLimit: 100_000, rateInterval: "1 millis" }
  }
]

const batchImplementations: ReadonlyArray<ImplementationName> = [
  "floor",
  "semaphore",
  "fastq",
  "p-limit",
  "p-queue",
  "effect-forEach",
  "effect-handoff",
  "pool-execute",
  "pool-submit"
]
const throughputImplementations: ReadonlyArray<ImplementationName> = [
  ...batchImplementations,
  "pool-execute-backpressure",
  "pool-execute-all",
  "pool-execute-stream",
  "fastq-each",
  "p-queue-each",
  "effect-forEach-no-pretenuring"
]
const targetImplementations: ReadonlyArray<ImplementationName> = ["fastq", "p-queue", "effect-handoff", "pool-execute"]
const latencyImplementations: ReadonlyArray<ImplementationName> = ["fastq", "p-queue", "effect-handoff", "pool-execute"]
const memoryImplementations: ReadonlyArray<ImplementationName> = ["fastq", "p-limit", "p-queue", "pool-submit"]
const threadImplementations: ReadonlyArray<ImplementationName> = ["thread-pool", "piscina", "tinypool"]

export const latencyScenarios = [
  { variant: "20k/s", rate: 20_000, stall: 0 },
  { variant: "100k/s", rate: 100_000, stall: 0 },
  { variant: "100k/s + 100 ms stall", rate: 100_000, stall: stallMillis }
] as const

/**
 * The durable queues: this library's `DurableQueue` on each store, each store driven directly beside it (the
 * layer's cost is the gap), and BullMQ on the same Redis.
 */
export const durableImplementations: ReadonlyArray<ImplementationName> = [
  "durable-redis",
  "persisted-redis-ewp",
  "durable-redis-stock",
  "persisted-redis-stock",
  "bullmq",
  "durable-pg",
  "persisted-pg"
]
/** Each `DurableQueue` row and the store it runs on, driven directly. */
export const durableLayerPairs: ReadonlyArray<readonly [ImplementationName, ImplementationName]> = [
  ["durable-redis", "persisted-redis-ewp"],
  ["durable-redis-stock", "persisted-redis-stock"],
  ["durable-pg", "persisted-pg"]
]
/** What the quick mode runs beyond every implementation's end-to-end case (1 process, C=16). */
const durableQuickImplementations: ReadonlyArray<ImplementationName> = ["durable-redis", "bullmq", "durable-pg"]
/** Consumer processes and the concurrency of each, in the end-to-end and backlog cases. */
export const durableShapes = [
  { processes: 1, concurrency: 1 },
  { processes: 1, concurrency: 16 },
  { processes: 3, concurrency: 1 },
  { processes: 3, concurrency: 16 }
] as const
export const durableVariant = (processes: number, concurrency: number): string =>
  `${processes} process${processes === 1 ? "" : "es"} C=${concurrency}`
export const durableTripConcurrencies = [1, 16] as const

export const label: Readonly<Record<ImplementationName, string>> = {
  floor: "plain promise loop (the floor)",
  semaphore: "hand-written semaphore + `Promise.all`",
  fastq: "fastq (promise API)",
  "p-limit": "p-limit",
  "p-queue": "p-queue (`add` all, `onIdle`)",
  "fastq-each": "fastq (`push` all, then await each)",
  "p-queue-each": "p-queue (`add` all, then await each)",
  "effect-forEach": "`Effect.forEach` with `concurrency`",
  "effect-forEach-no-pretenuring": "`Effect.forEach`, V8 `--no-allocation-site-pretenuring`",
  "effect-handoff": "worker fibers and a list, no bookkeeping (the Effect floor)",
  "pool-execute": "**WorkerPool `execute`**",
  "pool-execute-backpressure": "**WorkerPool `execute`, queue full**",
  "pool-submit": "**WorkerPool `submit` + `await`**",
  "pool-execute-all": "**WorkerPool `executeAll`** (one call, every input)",
  "pool-execute-stream": "**WorkerPool `executeStream`** (every input, default concurrency)",
  "thread-pool": "**ThreadPool** (`NodeThreadPool`)",
  piscina: "piscina",
  tinypool: "tinypool",
  "main-thread": "main thread, no pool",
  "durable-redis": "**DurableQueue, Redis** (`RedisQueueStore`, the default)",
  "persisted-redis-ewp": "`RedisQueueStore` driven directly",
  "durable-redis-stock": "**DurableQueue, Redis** (`store: \"stock\"`)",
  "persisted-redis-stock": "stock `PersistedQueue` Redis store driven directly",
  bullmq: "BullMQ (same Redis)",
  "durable-pg": "**DurableQueue, PostgreSQL**",
  "persisted-pg": "stock `PersistedQueue` SQL store driven directly"
}

/** V8 flags a case's process runs with, by implementation. */
export const nodeFlags: Partial<Record<ImplementationName, ReadonlyArray<string>>> = {
  "effect-forEach-no-pretenuring": ["--no-allocation-site-pretenuring"]
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
  const targetsOnly = sizes.secondaryGroups === "targets"
  const secondaryImplementations = targetsOnly ? targetImplementations : batchImplementations
  for (const impl of secondaryImplementations) {
    for (const concurrency of targetsOnly ? warmConcurrencies.slice(0, 1) : warmConcurrencies) {
      add({
        group: "warm",
        impl,
        variant: `C=${concurrency}`,
        script: "batch",
        args: { jobs: sizes.throughputJobs, concurrency, instance: "warm" },
        runs: sizes.runs
      })
    }
  }
  for (const option of optionVariants) {
    add({
      group: "options",
      impl: "pool-execute",
      variant: option.variant,
      script: "batch",
      args: { jobs: sizes.throughputJobs, concurrency: optionConcurrency, ...option.args },
      runs: sizes.runs
    })
  }
  for (const impl of secondaryImplementations) {
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
  for (const impl of secondaryImplementations) {
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
  // the jobs one after the other on the main thread: the pools' yardstick, and the time one job takes
  add({
    group: "threads-cpu",
    impl: "main-thread",
    variant: threadVariant(1),
    script: "threads",
    args: { case: "cpu", threads: 1, jobs: sizes.threadCpuJobs },
    runs: sizes.threadRuns
  })
  const twoThreads = threadCounts[threadCounts.length - 1]
  // in quick mode, the thread pool and the peer of its targets (piscina on 2 threads) only
  const threadTargetsOnly = (impl: ImplementationName, threads: number): boolean =>
    targetsOnly && impl !== "thread-pool" && !(impl === "piscina" && threads === twoThreads)
  for (const impl of threadImplementations) {
    for (const threads of threadCounts) {
      if (threadTargetsOnly(impl, threads)) continue
      add({
        group: "threads-cpu",
        impl,
        variant: threadVariant(threads),
        script: "threads",
        args: { case: "cpu", threads, jobs: sizes.threadCpuJobs },
        runs: sizes.threadRuns
      })
    }
  }
  for (const impl of threadImplementations) {
    if (threadTargetsOnly(impl, twoThreads)) continue
    add({
      group: "threads-tiny",
      impl,
      variant: threadVariant(twoThreads),
      script: "threads",
      args: { case: "tiny", threads: twoThreads, jobs: sizes.threadTinyJobs, passes: sizes.threadTinyPasses },
      runs: sizes.threadRuns
    })
  }
  for (const impl of threadImplementations) {
    // every implementation starts up in quick mode too (on 2 threads), so that each is run at least once
    for (const threads of targetsOnly ? [twoThreads] : threadCounts) {
      add({
        group: "threads-startup",
        impl,
        variant: threadVariant(threads),
        script: "threads",
        args: { case: "startup", threads },
        runs: sizes.threadRuns
      })
    }
  }
  const durableQuick = (impl: ImplementationName) => !targetsOnly || durableQuickImplementations.includes(impl)
  const durableSize = (impl: ImplementationName) =>
    impl === "durable-pg" || impl === "persisted-pg"
      ? { jobs: sizes.durableSlowJobs, warmup: sizes.durableSlowWarmup }
      : { jobs: sizes.durableJobs, warmup: sizes.durableWarmup }
  for (const group of ["durable-e2e", "durable-drain"] as const) {
    for (const impl of durableImplementations) {
      for (const { concurrency, processes } of durableShapes) {
        // quick: every implementation end to end on 1 process C=16; the backlog on 3 processes C=16 for a few
        if (
          targetsOnly &&
          !(group === "durable-e2e" && processes === 1 && concurrency === 16) &&
          !(group === "durable-drain" && processes === 3 && concurrency === 16 && durableQuick(impl))
        ) continue
        add({
          group,
          impl,
          variant: durableVariant(processes, concurrency),
          script: "durable",
          args: {
            case: group === "durable-e2e" ? "e2e" : "drain",
            ...durableSize(impl),
            processes,
            concurrency
          },
          runs: sizes.durableRuns
        })
      }
    }
  }
  for (const impl of durableImplementations) {
    if (!durableQuick(impl)) continue
    add({
      group: "durable-pickup",
      impl,
      variant: "idle consumer",
      script: "durable",
      args: { case: "pickup", samples: sizes.durablePickupSamples },
      runs: sizes.durableRuns
    })
  }
  for (const impl of durableImplementations) {
    if (!durableQuick(impl)) continue
    for (const concurrency of targetsOnly ? [16] : durableTripConcurrencies) {
      add({
        group: "durable-trips",
        impl,
        variant: `C=${concurrency}`,
        script: "durable",
        args: { case: "trips", ...durableSize(impl), concurrency },
        runs: 1
      })
    }
  }
  return cases
}

/** The ideal elapsed time of a timers case: the jobs in waves of `concurrency`, each wave one sleep long. */
export const idealTimerMillis = (c: Case): number =>
  Math.ceil(Number(c.args.jobs) / Number(c.args.concurrency)) * Number(c.args.sleep)
