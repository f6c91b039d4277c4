/**
 * Durable queues across processes. This process is the producer; the consumers are processes of their own
 * (`bench/durable/consumer.ts`, forked with an IPC channel), so every job crosses the server. The jobs are no-ops:
 * the queue's own cost is the subject.
 *
 * Arguments: `--impl` (see `impls/durable.ts`), `--case`, and:
 *
 * - `--case=e2e|drain --jobs=N --processes=P --concurrency=C [--warmup=W] [--offerConcurrency=16]`: `P` consumer
 *   processes, each running `C` jobs at once. First a warm-up pass of `W` jobs (default 100) end to end through a
 *   queue of its own, then `N` jobs through the measured queue. End to end (`e2e`): the consumers are started and
 *   idle, then the producer offers every job (at most `offerConcurrency` offers in flight) while they consume; the
 *   clock runs from the first offer to the last job's handler. Draining a backlog (`drain`): the producer offers
 *   every job first, then starts the consumers; the rate runs from the first job's handler to the last one's, and
 *   the time from the start message to the first job is reported apart (`startMillis`, with the rate including it
 *   as `withStartJobsPerSecond`). Reports jobs per second, the CPU time per job of the consumer processes (summed, from just before the first offer or the start message until the last job; their start and idle polls included) and of the producer (its offers), and jobs seen twice (at-least-once delivery allows them after a lost lock; none
 *   expected here).
 * - `--case=pickup --samples=S [--warmup=5] [--gapMin=50] [--gapMax=250]`: one idle consumer process
 *   (concurrency 1); the producer offers one job at a time, each after a random pause of `gapMin`-`gapMax` ms once
 *   the previous one was picked up, stamped with the time its offer started; the consumer notes, in its handler,
 *   the time since the stamp. Reports p50, p99, max and mean in ms over `S` jobs after `warmup` unmeasured ones.
 * - `--case=trips --jobs=N --concurrency=C [--warmup=W] [--idle=1000]`: the producer and one consumer process
 *   connect through a counting proxy (`bench/durable/proxy.ts`); after a warm-up pass of `W` jobs end to end
 *   through a queue of its own (connections made, scripts loaded), the producer offers `N` jobs, then a new
 *   consumer drains them; then the queue sits idle for `idle` ms. Reports the requests per job of each phase (Redis commands; PostgreSQL
 *   statements and round trips), the idle consumer's requests per second, and the commands by name. The proxy
 *   adds a hop to every request: this case counts, it does not time.
 *
 * Every run has its own key prefix, BullMQ queue names or PostgreSQL schema, deleted at the end (see
 * `impls/durable.ts`).
 */
import { type ChildProcess, fork } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { startProxy } from "../durable/proxy.ts"
import { main, numberArg, quantile, stringArg } from "../harness.ts"
import { loadDurable } from "../impls/contract.ts"
import { defaultServers, now, type Run, type Servers } from "../impls/durable.ts"

const consumerEntry = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "durable", "consumer.ts")

type ChildMessage =
  | { readonly type: "ready" }
  | { readonly type: "started"; readonly queue: string }
  | { readonly type: "closed"; readonly queue: string }
  | {
    readonly type: "progress"
    readonly queue: string
    readonly done: number
    readonly duplicates: number
    readonly first: number
    readonly last: number
  }
  | { readonly type: "pickup"; readonly queue: string; readonly n: number; readonly millis: number }
  | { readonly type: "cpu"; readonly micros: number }

interface Progress {
  done: number
  duplicates: number
  first: number
  last: number
}

/** The consumer processes of a run, and what they report. */
class Consumers {
  private readonly children: Array<ChildProcess> = []
  private readonly progress = new Map<string, Array<Progress>>()
  private readonly waiters = new Set<{ readonly check: () => boolean; readonly resolve: () => void }>()
  private readonly counts = new Map<string, number>()
  private failure: Error | undefined
  private readonly failed = new Set<(error: Error) => void>()
  private exiting = false
  readonly pickups: Array<{ readonly n: number; readonly millis: number }> = []
  private cpuMicros = 0
  private cpuReplies = 0

  constructor(
    impl: string,
    run: Run,
    processes: number,
    concurrency: number,
    queues: ReadonlyArray<string>,
    pickup: boolean
  ) {
    const s = run.servers
    const argv = [
      `--impl=${impl}`,
      `--token=${run.token}`,
      `--concurrency=${concurrency}`,
      `--queues=${queues.join(",")}`,
      `--pickup=${pickup}`,
      `--redisHost=${s.redisHost}`,
      `--redisPort=${s.redisPort}`,
      `--pgHost=${s.pgHost}`,
      `--pgPort=${s.pgPort}`,
      `--pgUser=${s.pgUser}`,
      `--pgDatabase=${s.pgDatabase}`
    ]
    for (const queue of queues) {
      this.progress.set(queue, Array.from({ length: processes }, () => ({ done: 0, duplicates: 0, first: 0, last: 0 })))
    }
    for (let i = 0; i < processes; i++) {
      const child = fork(consumerEntry, argv, { execArgv: [], stdio: ["ignore", "ignore", "pipe", "ipc"] })
      let stderr = ""
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-2000)))
      child.on("message", (message: ChildMessage) => this.receive(i, message))
      child.on("exit", (code, signal) => {
        if (this.exiting && code === 0) return
        this.fail(new Error(`consumer process ${i} exited with ${signal ?? `code ${code}`}: ${stderr.trim()}`))
      })
      this.children.push(child)
    }
  }

  private receive(index: number, message: ChildMessage): void {
    if (message.type === "progress") {
      const entry = this.progress.get(message.queue)?.[index]
      if (entry !== undefined) {
        entry.done = message.done
        entry.duplicates = message.duplicates
        entry.first = message.first
        entry.last = message.last
      }
    } else if (message.type === "cpu") {
      this.cpuMicros += message.micros
      this.cpuReplies++
    } else if (message.type === "pickup") {
      this.pickups.push({ n: message.n, millis: message.millis })
    } else {
      const key = message.type === "ready" ? "ready" : `${message.type}:${message.queue}`
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    }
    for (const waiter of this.waiters) {
      if (waiter.check()) {
        this.waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error
    for (const reject of this.failed) reject(error)
  }

  /** Resolves once `check` holds (checked after every message), rejects when a consumer process fails. */
  until(check: () => boolean): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (check()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const waiter = {
        check,
        resolve: () => {
          this.failed.delete(reject)
          resolve()
        }
      }
      this.waiters.add(waiter)
      this.failed.add(reject)
    })
  }

  /** Waits until every process has sent `key` (`ready`, `started:<queue>`, `closed:<queue>`). */
  all(key: string): Promise<void> {
    return this.until(() => (this.counts.get(key) ?? 0) >= this.children.length)
  }

  /** The CPU time so far of every consumer process, summed, in microseconds. */
  async cpu(): Promise<number> {
    this.cpuMicros = 0
    this.cpuReplies = 0
    this.send({ type: "cpu" })
    await this.until(() => this.cpuReplies >= this.children.length)
    return this.cpuMicros
  }

  send(message: object): void {
    for (const child of this.children) child.send(message)
  }

  /** Distinct jobs of `queue` done, over every process. */
  done(queue: string): number {
    return (this.progress.get(queue) ?? []).reduce((sum, p) => sum + p.done, 0)
  }

  duplicates(queue: string): number {
    return (this.progress.get(queue) ?? []).reduce((sum, p) => sum + p.duplicates, 0)
  }

  /** The wall-clock time of the first job of `queue` done, over every process. */
  first(queue: string): number {
    return Math.min(...(this.progress.get(queue) ?? []).filter((p) => p.done > 0).map((p) => p.first))
  }

  /** The wall-clock time of the last job of `queue` done, over every process. */
  last(queue: string): number {
    return Math.max(...(this.progress.get(queue) ?? []).map((p) => p.last))
  }

  /** Asks every process to close its consumers and exit; kills those still there after 10 s. */
  async exit(): Promise<void> {
    this.exiting = true
    const exited = this.children.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => child.once("exit", () => resolve()))
    )
    for (const child of this.children) {
      if (child.connected) child.send({ type: "exit" })
    }
    const timer = setTimeout(() => {
      for (const child of this.children) child.kill("SIGKILL")
    }, 10_000)
    await Promise.all(exited)
    clearTimeout(timer)
  }
}

/** CPU time of this process (user and system) since `before`, in microseconds. */
const cpuMicrosSince = (before: NodeJS.CpuUsage): number => {
  const { system, user } = process.cpuUsage(before)
  return user + system
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

main(async () => {
  const impl = stringArg("impl")
  const kind = stringArg("case")
  const implementation = await loadDurable(impl)
  const token = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  let servers: Servers = defaultServers()
  const proxy = kind === "trips"
    ? await startProxy(
      impl.endsWith("-pg") ? "postgres" : "redis",
      impl.endsWith("-pg") ? servers.pgHost : servers.redisHost,
      impl.endsWith("-pg") ? servers.pgPort : servers.redisPort
    )
    : undefined
  if (proxy !== undefined) {
    servers = impl.endsWith("-pg")
      ? { ...servers, pgHost: "127.0.0.1", pgPort: proxy.port }
      : { ...servers, redisHost: "127.0.0.1", redisPort: proxy.port }
  }
  const run: Run = { token, servers }
  const cleanupRun: Run = { token, servers: defaultServers() }
  await implementation.prepare?.(cleanupRun)
  let consumers: Consumers | undefined
  let producer: Awaited<ReturnType<typeof implementation.producer>> | undefined
  try {
    producer = await implementation.producer(run)
    const offerConcurrency = numberArg("offerConcurrency", 16)

    if (kind === "e2e" || kind === "drain") {
      const jobs = numberArg("jobs")
      const warmup = numberArg("warmup", 100)
      await producer.open("m")
      consumers = new Consumers(impl, run, numberArg("processes"), numberArg("concurrency"), ["w", "m"], false)
      const c = consumers
      await c.all("ready")
      // warm-up: a pass end to end through a queue of its own
      c.send({ type: "start", queue: "w" })
      await c.all("started:w")
      await producer.offerAll("w", 0, warmup, offerConcurrency)
      await c.until(() => c.done("w") >= warmup)
      c.send({ type: "close", queue: "w" })
      await c.all("closed:w")
      let started: number
      let offerMillis: number
      let consumerCpu: number
      let producerCpu: number
      if (kind === "e2e") {
        c.send({ type: "start", queue: "m" })
        await c.all("started:m")
        await sleep(200)
        consumerCpu = await c.cpu()
        const cpuBefore = process.cpuUsage()
        started = now()
        await producer.offerAll("m", 0, jobs, offerConcurrency)
        offerMillis = now() - started
        producerCpu = cpuMicrosSince(cpuBefore)
      } else {
        const cpuBefore = process.cpuUsage()
        const offering = now()
        await producer.offerAll("m", 0, jobs, offerConcurrency)
        offerMillis = now() - offering
        producerCpu = cpuMicrosSince(cpuBefore)
        consumerCpu = await c.cpu()
        started = now()
        c.send({ type: "start", queue: "m" })
      }
      await c.until(() => c.done("m") >= jobs)
      // every process's CPU time over the measured jobs (the consumers' start and idle polls included), per job
      const cpu = {
        consumerCpuMicrosPerJob: ((await c.cpu()) - consumerCpu) / jobs,
        producerCpuMicrosPerJob: producerCpu / jobs
      }
      if (kind === "drain") {
        // the rate from the first job to the last, and apart from it the consumers' start until the first job
        const millis = c.last("m") - c.first("m")
        return {
          millis,
          jobsPerSecond: ((jobs - 1) / millis) * 1000,
          startMillis: c.first("m") - started,
          withStartJobsPerSecond: (jobs / (c.last("m") - started)) * 1000,
          offersPerSecond: (jobs / offerMillis) * 1000,
          ...cpu,
          duplicates: c.duplicates("m")
        }
      }
      const millis = c.last("m") - started
      return {
        millis,
        jobsPerSecond: (jobs / millis) * 1000,
        offersPerSecond: (jobs / offerMillis) * 1000,
        ...cpu,
        duplicates: c.duplicates("m")
      }
    }

    if (kind === "pickup") {
      const samples = numberArg("samples")
      const warmup = numberArg("warmup", 5)
      const gapMin = numberArg("gapMin", 50)
      const gapMax = numberArg("gapMax", 250)
      await producer.open("m")
      consumers = new Consumers(impl, run, 1, 1, ["m"], true)
      const c = consumers
      await c.all("ready")
      c.send({ type: "start", queue: "m" })
      await c.all("started:m")
      await sleep(300)
      for (let n = 0; n < warmup + samples; n++) {
        await sleep(gapMin + Math.random() * (gapMax - gapMin))
        await producer.offerOne("m", n)
        await c.until(() => c.pickups.some((p) => p.n === n))
      }
      const sorted = c.pickups.filter((p) => p.n >= warmup).map((p) => p.millis).sort((a, b) => a - b)
      return {
        p50Millis: quantile(sorted, 0.5),
        p99Millis: quantile(sorted, 0.99),
        maxMillis: sorted[sorted.length - 1],
        meanMillis: sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
        samples: sorted.length
      }
    }

    if (kind === "trips") {
      if (proxy === undefined) throw new Error("no proxy")
      const jobs = numberArg("jobs")
      const idle = numberArg("idle", 1000)
      const postgres = impl.endsWith("-pg")
      const warmup = numberArg("warmup", 100)
      await producer.open("m")
      consumers = new Consumers(impl, run, 1, numberArg("concurrency"), ["w", "m"], false)
      const c = consumers
      await c.all("ready")
      // a pass through a queue of its own first: connections, scripts loaded, and what else happens once
      c.send({ type: "start", queue: "w" })
      await c.all("started:w")
      await producer.offerAll("w", 0, warmup, offerConcurrency)
      await c.until(() => c.done("w") >= warmup)
      c.send({ type: "close", queue: "w" })
      await c.all("closed:w")
      await sleep(100)
      const s0 = proxy.snapshot()
      await producer.offerAll("m", 0, jobs, offerConcurrency)
      const s1 = proxy.snapshot()
      c.send({ type: "start", queue: "m" })
      await c.until(() => c.done("m") >= jobs)
      // the last acknowledgements follow the last handler
      await sleep(200)
      const s2 = proxy.snapshot()
      await sleep(idle)
      const s3 = proxy.snapshot()
      type Snapshot = typeof s0
      const delta = (a: Snapshot, b: Snapshot, name: string) => (b.byName[name] ?? 0) - (a.byName[name] ?? 0)
      const roundTrips = (a: Snapshot, b: Snapshot) =>
        postgres ? delta(a, b, "Query") + delta(a, b, "Sync") : b.total - a.total
      const names = (a: Snapshot, b: Snapshot, per: number) =>
        Object.keys(b.byName)
          .map((name) => [name, delta(a, b, name) / per] as const)
          .filter(([, count]) => count > 0)
          .sort((x, y) => y[1] - x[1])
          .map(([name, count]) => `${name} ${count.toFixed(2)}`)
          .join(", ")
      return {
        offerRequests: (s1.total - s0.total) / jobs,
        consumeRequests: (s2.total - s1.total) / jobs,
        requestsPerJob: (s2.total - s0.total) / jobs,
        offerRoundTrips: roundTrips(s0, s1) / jobs,
        consumeRoundTrips: roundTrips(s1, s2) / jobs,
        roundTripsPerJob: roundTrips(s0, s2) / jobs,
        idleRequestsPerSecond: ((s3.total - s2.total) / idle) * 1000,
        offerCommands: names(s0, s1, jobs),
        consumeCommands: names(s1, s2, jobs),
        idleCommands: names(s2, s3, idle / 1000),
        unit: postgres ? "statements" : "commands",
        duplicates: c.duplicates("m")
      }
    }

    throw new Error(`--case must be e2e, drain, pickup or trips, not ${JSON.stringify(kind)}`)
  } finally {
    await consumers?.exit()
    await producer?.close()
    await proxy?.close()
    await implementation.cleanup(cleanupRun)
  }
})
