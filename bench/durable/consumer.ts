/**
 * A consumer process of the durable cases, forked by `bench/cases/durable.ts` (IPC channel). Arguments: `--impl`,
 * `--token`, `--concurrency`, the servers (`--redisHost`, `--redisPort`, `--pgHost`, `--pgPort`, `--pgUser`,
 * `--pgDatabase`) and `--queues` (comma-separated queue names, each consumed by a consumer of its own).
 *
 * Protocol (messages on the IPC channel):
 * - to the bench process: `{ type: "ready" }` once every consumer is connected; `{ type: "started", queue }` once
 *   a consumer takes jobs; `{ type: "progress", queue, done, duplicates, first, last }` (at most every 10 ms while
 *   jobs complete: distinct jobs done, jobs seen twice, the wall-clock times of the first and the last one); `{ type: "pickup", queue,
 *   n, millis }` for every job, with the time from its stamp to its handler (when `--pickup=true`);
 *   `{ type: "closed", queue }`; `{ type: "cpu", micros }`, the process's CPU time so far (user and system).
 * - from the bench process: `{ type: "start", queue }`, `{ type: "close", queue }`, `{ type: "cpu" }`,
 *   `{ type: "exit" }`.
 *
 * The handler is a no-op: it only counts the job and notes the time.
 */
import { args, numberArg, stringArg } from "../harness.ts"
import { loadDurable } from "../impls/contract.ts"
import { type Consumer, type Job, now, type Run } from "../impls/durable.ts"

type Message =
  | { readonly type: "start"; readonly queue: string }
  | { readonly type: "close"; readonly queue: string }
  | { readonly type: "exit" }
  | { readonly type: "cpu" }

const send = (message: object): void => {
  process.send?.(message)
}

const main = async () => {
  const implementation = await loadDurable(stringArg("impl"))
  const run: Run = {
    token: stringArg("token"),
    servers: {
      redisHost: stringArg("redisHost"),
      redisPort: numberArg("redisPort"),
      pgHost: stringArg("pgHost"),
      pgPort: numberArg("pgPort"),
      pgUser: stringArg("pgUser"),
      pgDatabase: stringArg("pgDatabase")
    }
  }
  const concurrency = numberArg("concurrency")
  const pickup = args.pickup === "true"
  const consumers = new Map<string, Consumer>()
  for (const queue of stringArg("queues").split(",")) {
    const seen = new Set<number>()
    let duplicates = 0
    let first = 0
    let last = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const report = () => {
      timer = undefined
      send({ type: "progress", queue, done: seen.size, duplicates, first, last })
    }
    const onJob = (job: Job) => {
      last = now()
      if (first === 0) first = last
      if (seen.has(job.n)) duplicates++
      else seen.add(job.n)
      if (pickup) send({ type: "pickup", queue, n: job.n, millis: last - job.t })
      timer ??= setTimeout(report, 10)
    }
    consumers.set(queue, await implementation.consumer(run, queue, concurrency, onJob))
  }
  process.on("message", (message: Message) => {
    const handle = async () => {
      if (message.type === "cpu") {
        const { system, user } = process.cpuUsage()
        send({ type: "cpu", micros: user + system })
        return
      }
      if (message.type === "exit") {
        await Promise.all([...consumers.values()].map((consumer) => consumer.close()))
        process.exit(0)
      }
      const consumer = consumers.get(message.queue)
      if (consumer === undefined) throw new Error(`no consumer of ${message.queue}`)
      if (message.type === "start") {
        await consumer.start()
        send({ type: "started", queue: message.queue })
      } else {
        consumers.delete(message.queue)
        await consumer.close()
        send({ type: "closed", queue: message.queue })
      }
    }
    handle().catch(fail)
  })
  process.on("disconnect", () => process.exit(0))
  send({ type: "ready" })
}

const fail = (error: unknown) => {
  console.error(error instanceof Error ? error.stack : error)
  process.exit(1)
}

main().catch(fail)
