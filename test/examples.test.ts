/**
 * Runs every program in `examples/` as a child process (on the pinned Node, which runs `.ts` directly) and checks
 * what it prints. The graceful-shutdown example is stopped with a real signal.
 *
 * The checks are on behaviour (which lines, which outcomes), with generous time limits: the examples use real time
 * and these tests may run on a loaded machine.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { WorkerPool } from "../src/index.ts"
import { fork } from "./utils/fibers.ts"
import {
  assertSucceeded,
  type Ended,
  endWithin,
  lines,
  nodeBinary,
  run,
  single,
  spawnIn,
  start,
  waitForOutput
} from "./utils/process.ts"

const root = path.resolve(import.meta.dirname, "..")

/** A port no one listens on now. */
const freePort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

const idList = (text: string): Array<string> => text === "none" ? [] : text.split(", ")

describe("examples", () => {
  describe("npm run example", () => {
    /** Runs the README's command, `npm run example -- <args>`, to its end. */
    const npmRunExample = (...args: ReadonlyArray<string>) =>
      Effect.flatMap(spawnIn("npm", ["run", "example", "--", ...args]), (running) => endWithin(running, "30 seconds"))

    /** The names an `npm run example` listing gives, in order (npm may add lines of its own after it). */
    const listed = (stderr: string): Array<string> => {
      const after = lines(stderr.slice(stderr.indexOf("Examples:\n"))).slice(1)
      const end = after.findIndex((line) => !/^ {2}\S+$/.test(line))
      return after.slice(0, end === -1 ? after.length : end).map((line) => line.trim())
    }

    it.live("runs the example named after --, on the project's Node", () =>
      Effect.gen(function*() {
        const ended = yield* npmRunExample("basic")
        assertSucceeded(ended)
        single(ended.stdout, /^Job 7 result: 4900$/)
        single(ended.stdout, /^Done: 10 succeeded, 0 failed on 3 workers$/)
      }))

    it.live("an unknown name fails with the list of examples", () =>
      Effect.gen(function*() {
        const ended = yield* npmRunExample("no-such-example")
        assert.strictEqual(ended.code, 2, `${ended.stdout}\n${ended.stderr}`)
        assert.include(ended.stderr, `Unknown example "no-such-example". Run one with: npm run example -- <name>`)
        assert.include(listed(ended.stderr), "graceful-shutdown", ended.stderr)
        assert.notInclude(ended.stdout, "Job ")
      }))

    it.live("without a name it lists every example; each one's header and the README give its command", () =>
      Effect.gen(function*() {
        const ended = yield* npmRunExample()
        assert.strictEqual(ended.code, 2, `${ended.stdout}\n${ended.stderr}`)
        assert.include(ended.stderr, "Which example? Run one with: npm run example -- <name>")
        // the programs are the files of examples/ whose header says how to run them (dashboard.ts is a module)
        const programs = fs.readdirSync(path.join(root, "examples"))
          .filter((file) => / \* Run: /.test(fs.readFileSync(path.join(root, "examples", file), "utf8")))
          .map((file) => file.replace(/\.ts$/, ""))
          .sort()
        assert.isAtLeast(programs.length, 8)
        assert.deepStrictEqual(listed(ended.stderr), programs)
        const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
        for (const name of programs) {
          const header = fs.readFileSync(path.join(root, "examples", `${name}.ts`), "utf8")
          assert.match(header, new RegExp(` \\* Run: .*npm run example -- ${name}\\b`), name)
          assert.match(
            readme,
            new RegExp(
              `^\\| \\[\`examples/${name}\\.ts\`\\]\\(examples/${name}\\.ts\\) \\| [^|]*\`npm run example -- ${name}\``,
              "m"
            ),
            name
          )
        }
      }))
  })

  it.live("basic: 3 workers square 10 numbers, one result per job", () =>
    Effect.gen(function*() {
      const ended = yield* run("basic")
      assertSucceeded(ended)
      for (let id = 1; id <= 10; id++) {
        single(ended.stdout, new RegExp(`^Job ${id} result: ${(id * 10) ** 2}$`))
        const [, worker] = single(ended.stdout, new RegExp(`^Worker (\\d+) processing job ${id}$`))
        assert.include(["1", "2", "3"], worker)
      }
      assert.notMatch(ended.stdout, /failed:/)
      single(ended.stdout, /^Done: 10 succeeded, 0 failed on 3 workers$/)
    }))

  it.live("context-timeouts: per-job timeouts, cancelled jobs, results with worker and duration, stats", () =>
    Effect.gen(function*() {
      const ended = yield* run("context-timeouts")
      assertSucceeded(ended)
      const out = ended.stdout
      for (let n = 1; n <= 15; n++) {
        // every job is reported exactly once
        single(out, new RegExp(`^Job job-${n} `))
        if (n % 5 === 0) {
          single(
            out,
            new RegExp(`^Job job-${n} cancelled (before it started|while running \\(worker [1-4], took \\d+ms\\))`)
          )
        } else if (n === 4 || n === 12) {
          const [, took] = single(
            out,
            new RegExp(
              `^Job job-${n} failed \\(worker [1-4]\\): JobTimeout: job "job-${n}" in worker pool "advanced" ` +
                `timed out after 200 ms \\(took (\\d+)ms\\)$`
            )
          )
          // measured from the handler's first step, which may come a little after the pool started the job
          assert.isAtLeast(Number(took), 100)
        } else {
          single(out, new RegExp(`^Job job-${n} completed \\(worker [1-4]\\): ${(n * 5) ** 2} \\(took \\d+ms\\)$`))
        }
      }
      const periodic = lines(out).filter((line) => line.startsWith("Pool Stats - Processed: "))
      assert.isAtLeast(periodic.length, 1, out)
      for (const line of periodic) assert.match(line, /Avg Duration: \d+ms, Active Workers: [0-4]\/4, Queued: \d+$/)
      single(
        out,
        /^Final Stats - Processed: 10, Failed: 2 \(timed out: 2\), Cancelled: 3, Avg Duration: \d+ms, Active Workers: 0\/4, Queued: 0$/
      )
    }))

  it.live("service: the program sees only the service; typed errors are caught by tag; an executor shares a budget", () =>
    Effect.gen(function*() {
      const ended = yield* run("service")
      assertSucceeded(ended)
      const out = ended.stdout
      single(out, /^thumbnail: cat\.png -> 128px, 64 bytes \(worker [12]\)$/)
      single(out, /^thumbnail: dog\.png -> 128px, 128 bytes \(worker [12]\)$/)
      single(out, /^thumbnail: bird\.png -> 64px, 8 bytes \(worker [12]\)$/)
      single(out, /^caught ImageNotFound: missing\.png$/)
      single(out, /^profile: user-1 is Ada$/)
      single(out, /^profile: user-2 is Grace$/)
      single(out, /^profile: user-3 is Edsger$/)
      single(out, /^caught UserNotFound: user-9$/)
      for (const to of ["ada", "grace", "edsger"]) {
        single(out, new RegExp(`^mail sent: "Welcome!" to ${to}@example\\.com$`))
      }
      single(out, /^outbound: 7 effects from 2 call sites, at most 2 at once \(budget 2\)$/)
    }))

  it.live("flagship: 300 images on a thread per core, progress lines, then a summary from the pool's stats", () =>
    Effect.gen(function*() {
      const ended = yield* run("flagship")
      assertSucceeded(ended)
      const out = ended.stdout
      const threads = os.availableParallelism()
      single(
        out,
        new RegExp(`^Thumbnailing 300 images on ${threads} threads \\(queue 32, timeout 300 ms per image\\)$`)
      )
      // stdout is a pipe here, not a terminal: one progress line per interval, no cursor movement, then the panel
      assert.notInclude(out, "\r")
      assert.notInclude(out, "\x1b[")
      const progress = lines(out).filter((line) =>
        new RegExp(
          `^\\d+/300 done, \\d+ jobs/s \\(last [\\d.]+ s\\) \\| busy \\d+/${threads}, queued \\d+, waiting \\d+ \\| ` +
            `ok \\d+ failed \\d+ timed out \\d+ cancelled 0$`
        ).test(line)
      )
      assert.isAtLeast(progress.length, 2, out)
      for (const line of progress) {
        const [, busy, waiting] = line.match(/busy (\d+)\/\d+, queued \d+, waiting (\d+)/)!
        assert.isAtMost(Number(busy), threads, line)
        // one reader submits the images one after another
        assert.isAtMost(Number(waiting), 1, line)
      }
      // the queue (32) fills up and the reader waits for room (it resumes once the queue has drained to half). The
      // reader generates every image on the main thread, a few ns a pixel, and a thread downscales about ten times
      // slower: on up to 4 threads the reader is the faster side; on many more cores the threads may keep up with it
      if (threads <= 4) assert.isTrue(progress.some((line) => /waiting 1 /.test(line)), out)
      const [, finalRate, finalSeconds] = single(
        out,
        /^ {2}progress {3}\[#{30}\] 300\/300 done {3}(\d+) jobs\/s \(whole run, ([\d.]+) s\)$/
      )
      single(out, new RegExp(`^ {2}workers {4}\\[-{30}\\] 0/${threads} busy$`))
      single(out, /^ {2}queue {6}0 queued, 0 submitters waiting for room, 0 rejected$/)
      const outcomes = single(
        out,
        /^ {2}outcomes {3}ok (\d+) {2}failed 20 {2}defect 0 {2}timed out (\d+)$/
      )
      assert.strictEqual(Number(outcomes[1]) + 20 + Number(outcomes[2]), 300)
      single(out, /^ {13}cancelled 0 {2}dropped 0 {2}shutdown 0 {2}retried 0$/)
      single(out, /^ {2}run time {3}avg \d+ ms, p50 <= \d+ ms, p99 <= \d+ ms$/)
      const [, total, seconds, succeeded, failed, timedOut] = single(
        out,
        /^Summary: (\d+) images in ([\d.]+)s: (\d+) succeeded, (\d+) failed \(CorruptImage\), (\d+) timed out \(JobTimeout\)$/
      )
      assert.strictEqual(Number(total), 300)
      const completed = Number(succeeded) + Number(failed) + Number(timedOut)
      assert.strictEqual(completed, 300)
      // the final panel's rate is the whole run's (the summary's jobs over its seconds), not the last interval's: the
      // last interval, when only the stragglers are left, runs far below it
      const wholeRun = completed / Number(seconds)
      assert.approximately(Number(finalSeconds), Number(seconds), 0.1, out)
      assert.approximately(Number(finalRate), wholeRun, wholeRun * 0.05, out)
      single(
        out,
        new RegExp(`^ {2}\\d+ images/s; average job [\\d.]+ ms; [\\d.]+s of work on ${threads} threads \\([\\d.]+x\\)$`)
      )
      // the workload is fixed: 20 corrupt images; the 4 that hang always time out
      assert.strictEqual(Number(failed), 20)
      assert.isAtLeast(Number(timedOut), 4)
      const [, timedOutFiles] = single(out, /^ {2}timed out: (.*)$/)
      for (const file of ["img-075.jpg", "img-150.jpg", "img-225.jpg", "img-300.jpg"]) {
        assert.include(timedOutFiles!.split(", "), file)
      }
      // a hanging job is a synchronous loop: the pool stops it by terminating its thread, and starts a fresh one
      const [, started, terminated, crashed, replaced] = single(
        out,
        /^ {2}threads: {3}(\d+) started, (\d+) terminated \(a job stopped while it ran\), (\d+) crashed, (\d+) replaced$/
      )
      assert.isAtLeast(Number(terminated), 4, out)
      assert.strictEqual(Number(crashed), 0, out)
      assert.strictEqual(Number(replaced), Number(terminated), out)
      assert.strictEqual(Number(started), threads + Number(replaced), out)
    }))

  it.live("threads: the same downscale on a fiber pool and on a thread pool, both timed, with the same output", () =>
    Effect.gen(function*() {
      const ended = yield* run("threads")
      assertSucceeded(ended)
      const out = ended.stdout
      const cores = os.availableParallelism()
      single(
        out,
        new RegExp(
          `^Downscaling 24 images of 1024x1024 to 512x512 \\(2x2 box filter\\), ${cores} workers \\(one per core\\)$`
        )
      )
      const [, fiberSeconds, fiberSum] = single(
        out,
        new RegExp(
          `^fiber pool: {2}(\\d+\\.\\d{3}) s, checksum ([0-9a-f]{8}) \\(${cores} fibers taking turns on the main thread\\)$`
        )
      )
      const [, threadSeconds, threadSum] = single(
        out,
        new RegExp(
          `^thread pool: (\\d+\\.\\d{3}) s, checksum ([0-9a-f]{8}) \\(${cores} threads, started in [\\d.]+ s before the run\\)$`
        )
      )
      assert.isAbove(Number(fiberSeconds), 0)
      assert.isAbove(Number(threadSeconds), 0)
      // both pools ran the same handler on the same images: the same thumbnails, byte for byte
      assert.strictEqual(threadSum, fiberSum)
      // the speed-up is the ratio of the two times (no threshold: it depends on the machine and its load)
      const [, speedup] = single(out, new RegExp(`^Speed-up: (\\d+\\.\\d{2})x on ${cores} threads$`))
      assert.approximately(Number(speedup), Number(fiberSeconds) / Number(threadSeconds), 0.006, out)
      single(out, new RegExp(`^Same thumbnails from both pools: 24 of 512x512, checksum ${fiberSum}$`))
    }))

  describe("durable", () => {
    const checkOutcomes = (out: string) => {
      single(out, /^producer: offered 60 jobs to "thumbnails"$/)
      single(out, /^producer: 59 thumbnails made, 1 failed$/)
      single(out, /^failed record: img-013\.jpg after 3 attempts \(CorruptImage: img-013\.jpg: corrupt image data\)$/)
    }

    it.live("a producer and two consumer processes on Redis: every outcome by id, the failed record, no key left", () =>
      Effect.gen(function*() {
        const ended = yield* run("durable")
        assertSucceeded(ended)
        const out = ended.stdout
        checkOutcomes(out)
        const [, prefix] = single(out, /^Redis at \S+, keys under "(ewp-example-\d+-)"; consumers a and b start$/)
        // each consumer process printed its live view, and its final panel once stopped by SIGTERM
        let ran = 0
        for (const name of ["a", "b"]) {
          single(out, new RegExp(`^\\[${name}\\] consumer ${name}: queue "thumbnails", 4 at a time$`))
          const [, done] = single(out, new RegExp(`^\\[${name}\\] {3}progress {3}\\[[#-]{30}\\] (\\d+)/\\d+ done`))
          ran += Number(done)
        }
        // 60 jobs, the corrupt one 3 times and every seventh image (8 of them) twice
        assert.strictEqual(ran, 60 + 2 + 8, out)
        const scan = yield* spawnIn("redis-cli", ["--scan", "--pattern", `${prefix}*`]).pipe(
          Effect.flatMap((running) => endWithin(running, "30 seconds"))
        )
        assertSucceeded(scan)
        assert.strictEqual(scan.stdout.trim(), "", "the example deleted its keys")
      }))

    it.live("--in-process: the same queue on the memory store, producer and consumers in one process", () =>
      Effect.gen(function*() {
        const ended = yield* spawnIn(nodeBinary, [path.join("examples", "durable.ts"), "--in-process"]).pipe(
          Effect.flatMap((running) => endWithin(running, "30 seconds"))
        )
        assertSucceeded(ended)
        single(ended.stdout, /^one process, memory store; consumers a and b start$/)
        checkOutcomes(ended.stdout)
      }))
  })

  it.live(
    "dashboard-web --redis: the page's endpoints show the pool, the queue, its consumer and failed jobs",
    () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const running = yield* spawnIn(nodeBinary, [
          path.join("examples", "dashboard-web.ts"),
          "--redis",
          "--port",
          String(port),
          "--seconds",
          "12"
        ])
        yield* waitForOutput(running, (out) => out.includes(`Dashboard: http://127.0.0.1:${port}/`))
        const [, prefix] = single(running.stdout(), /^Redis at \S+, keys under "(ewp-dashboard-\d+-)"$/)
        const api = (path: string, init?: RequestInit) =>
          Effect.promise(async () => {
            const response = await fetch(`http://127.0.0.1:${port}/api/${path}`, init)
            return { status: response.status, json: await response.json() as any }
          })
        const until = <A>(effect: Effect.Effect<A>, check: (a: A) => boolean) =>
          effect.pipe(
            Effect.filterOrFail(check, () => "not yet" as const),
            Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "10 seconds" }))),
            Effect.orDie
          )

        const page = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/`).then((response) => response.text()))
        assert.include(page, "<title>Worker pools and durable queues</title>")
        const pools = yield* until(
          api("pools"),
          (reply) => reply.json.pools.some((pool: any) => pool.name === "thumbnails" && pool.completed > 0)
        )
        const thumbnails = pools.json.pools.find((pool: any) => pool.name === "thumbnails")
        assert.strictEqual(thumbnails.workers, 4)
        assert.strictEqual(thumbnails.state, "open")

        // a bounced address fails its 3 attempts and lands in the failed record; the consumer is listed with its process
        const queues = yield* until(api("queues"), (reply) => reply.json.queues[0].counts.failed >= 1)
        const [emails] = queues.json.queues
        assert.strictEqual(emails.name, "emails")
        assert.isNull(emails.error)
        assert.deepStrictEqual(
          emails.consumers.map((consumer: any) => [consumer.name, consumer.concurrency, consumer.host, consumer.pid]),
          [["emails", 3, os.hostname(), running.child.pid]]
        )
        // a job can also fail by bad luck (the server is busy one attempt in five, three times in a row): take the
        // bounced one
        const failed = yield* until(
          api("queues/emails/failed"),
          (reply) => reply.json.jobs.some((job: any) => job.error.includes("mailbox does not exist (550)"))
        )
        const first = failed.json.jobs.find((job: any) => job.error.includes("mailbox does not exist (550)"))
        assert.match(first.id, /^email-\d+$/)
        assert.strictEqual(first.attempts, 3)
        assert.isAbove(Date.parse(first.failedAt), 0)

        // an action needs the token the example printed
        const refused = yield* api(`queues/emails/failed/${first.id}/remove`, { method: "POST" })
        assert.strictEqual(refused.status, 401)
        const removed = yield* api(`queues/emails/failed/${first.id}/remove`, {
          method: "POST",
          headers: { authorization: "Bearer let-me-in-please" }
        })
        assert.deepStrictEqual([removed.status, removed.json], [200, { removed: true, id: first.id }])

        const ended = yield* endWithin(running, "30 seconds")
        assertSucceeded(ended)
        const scan = yield* spawnIn("redis-cli", ["--scan", "--pattern", `${prefix}*`]).pipe(
          Effect.flatMap((scanning) => endWithin(scanning, "30 seconds"))
        )
        assert.strictEqual(scan.stdout.trim(), "", "the example deleted its keys")
      }),
    60_000
  )

  it.live("dynamic: the elastic pool grows to 6 workers under each burst, shrinks to 2 between them, to 1 after resize", () =>
    Effect.gen(function*() {
      const ended = yield* run("dynamic")
      assertSucceeded(ended)
      const out = ended.stdout
      single(out, /^Pool started with 2 workers \(min 2, max 6, idle timeout 400 ms\), queue capacity 20$/)
      for (let id = 1; id <= 30; id++) {
        single(out, new RegExp(`^Job ${id} completed: ${id * 20} \\(worker [1-6]\\)$`))
      }
      assert.notMatch(out, /failed/)

      // Follow the worker count through the output: every change the monitor saw, in order, from 2.
      const all = lines(out)
      let workers = 2
      /** The counts between two marker lines: the count at the first one, then each change. */
      const segments: Array<{ readonly marker: string; readonly counts: Array<number> }> = [{
        marker: all[0]!,
        counts: [workers]
      }]
      for (const line of all) {
        const change = line.match(/^Workers: (\d+) -> (\d+) \(queued \d+, running \d+\)$/)
        if (change !== null) {
          assert.strictEqual(Number(change[1]), workers, `a change from ${workers} was not printed:\n${out}`)
          workers = Number(change[2])
          assert.isAtLeast(workers, 1, out)
          assert.isAtMost(workers, 6, out)
          segments[segments.length - 1]!.counts.push(workers)
        } else if (/^Burst \d: jobs /.test(line) || line.startsWith("Resizing to ")) {
          segments.push({ marker: line, counts: [workers] })
        }
      }
      const markers = segments.map((segment) => segment.marker)
      assert.deepStrictEqual(markers.slice(1), [
        "Burst 1: jobs 1-10 arrive (2 workers)",
        "Burst 2: jobs 11-25 arrive (2 workers)",
        "Burst 3: jobs 26-30 arrive (2 workers)",
        "Resizing to min 1, max 6"
      ])
      const [, burst1, burst2, burst3, resized] = segments.map((segment) => segment.counts)
      // the 10 and 15 jobs find every worker busy: the pool grows to its maximum, 6, then falls back to 2
      assert.strictEqual(Math.max(...burst1!), 6, out)
      assert.strictEqual(Math.max(...burst2!), 6, out)
      // 5 jobs: the 2 idle workers take 2, and workers are added for the others (3 of them, unless a job ends first)
      assert.isAtLeast(Math.max(...burst3!), 3, out)
      assert.isAtMost(Math.max(...burst3!), 5, out)
      for (const counts of [burst1!, burst2!, burst3!]) {
        assert.strictEqual(counts[0], 2, out)
        assert.strictEqual(counts[counts.length - 1], 2, out)
      }
      // after the resize, the idle worker above the new minimum stops as well
      assert.deepStrictEqual(resized, [2, 1], out)
      assert.strictEqual(all[all.length - 1], "Done: 30 of 30 jobs completed; 1 worker (min 1, max 6)")
    }))

  it.live("flow-control: keys keep each account in order, refunds jump the queue, retries, the rate limit, groups", () =>
    Effect.gen(function*() {
      const ended = yield* run("flow-control")
      assertSucceeded(ended)
      const out = ended.stdout
      for (let i = 1; i <= 18; i++) {
        if (i === 9) single(out, /^  c9: failed with CardDeclined$/)
        else single(out, new RegExp(`^  c${i}: charge of ${10 * i} on attempt ${i === 4 ? 3 : 1}$`))
      }
      // each account's payments start in submission order, one at a time
      single(out, /^  acct-1: c3 -> c6 -> c9 -> c12 -> c15 -> c18 \(0 overlapping\)$/)
      single(out, /^  acct-2: c1 -> c4 -> c7 -> c10 -> c13 -> c16 \(0 overlapping\)$/)
      single(out, /^  acct-3: c2 -> c5 -> c8 -> c11 -> c14 -> c17 \(0 overlapping\)$/)
      single(out, /^  acct-9: r1 -> r2 \(0 overlapping\)$/)
      // the refund, submitted last, starts ahead of most of the 18 charges submitted before it
      const priority = single(out, /^Priority: refund r1 started at \d+ ms, ahead of (\d+) queued charges$/)
      assert.isAtLeast(Number(priority[1]), 10, out)
      // c4 retried twice, after the backoff (50 ms, then 100 ms) and the run time of each attempt
      const retry = single(out, /^Retry: c4 \(gateway busy twice\) started at (\d+) ms, (\d+) ms, (\d+) ms; /)
      const [first, second, third] = retry.slice(1).map(Number)
      assert.isAtLeast(second - first, 40 + 50, out)
      assert.isAtLeast(third - second, 40 + 100, out)
      const rate = single(out, /^Rate limit: 22 gateway calls; the busiest 200 ms window had (\d+) \(limit 10\)$/)
      assert.isAtMost(Number(rate[1]), 10, out)
      single(out, /^Batch: 5 payouts, in order: p1, p2, p3, p4, p5$/)
      const failFast = single(
        out,
        /^Batch with a declined card: failed with CardDeclined \(p-bad\); (\d+) other payouts cancelled$/
      )
      assert.isAtLeast(Number(failFast[1]), 1, out)
      single(out, /^Stream: 8 orders, in order: o1, o2, o3, o4, o5, o6, o7, o8$/)
      single(out, /^Done: \d+ succeeded, 2 failed, \d+ cancelled, 2 retries$/)
    }))

  // The Go tutorial's own test (TestWorkerPool): 2 workers, 5 jobs, every result correct within 2 seconds. On
  // the TestClock the 2 seconds are virtual: the test takes no real time and cannot be slow.
  it.effect("the tutorial's TestWorkerPool: 2 workers, 5 jobs, every square within 2 seconds", () =>
    Effect.gen(function*() {
      const pool = yield* WorkerPool.make({
        handler: (n: number) => Effect.sleep(50 + n * 20).pipe(Effect.as(n * n)),
        concurrency: 2,
        capacity: 5
      })
      const jobs = [1, 2, 3, 4, 5]
      const all = yield* fork(
        Effect.forEach(jobs, (n) => pool.execute(n, { id: `test-${n}` }), { concurrency: "unbounded" }).pipe(
          Effect.timeout("2 seconds")
        )
      )
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* Fiber.join(all), [1, 4, 9, 16, 25])
      const stats = yield* pool.stats
      assert.strictEqual(stats.succeeded, 5)
    }))

  describe("graceful-shutdown", () => {
    /** What a signal-ended run exits with: 128 + the signal's number. */
    const exitCodes: Record<"SIGINT" | "SIGTERM", number> = { SIGINT: 130, SIGTERM: 143 }

    const jobsIn = (ls: ReadonlyArray<string>, pattern: RegExp) =>
      ls.map((line) => line.match(pattern)?.[1]).filter((id): id is string => id !== undefined)

    /** Starts the service and waits until it is busy: the queue is full and jobs have finished. */
    const startBusy = Effect.gen(function*() {
      const running = yield* start("graceful-shutdown")
      yield* waitForOutput(
        running,
        (out) => out.includes("queue full") && (out.match(/ finished on worker /g) ?? []).length >= 3
      )
      return running
    })

    /**
     * Checks what every shutdown reports, gracefully or at once, and returns it: the process exited with `code`
     * and printed nothing on stderr; the workers were started before any traffic; intake stopped at the signal;
     * every accepted job settled exactly once (finished before the signal, during the shutdown, or not at all);
     * the jobs not finished are those interrupted while running and those that never started.
     */
    const checkReport = (
      ended: Ended,
      code: number,
      last: "Shutdown complete" | `Stopped at once by a second ${string}`
    ) => {
      assert.strictEqual(
        ended.code,
        code,
        `exit code ${ended.code} (${ended.signal})\n${ended.stdout}\n${ended.stderr}`
      )
      assert.strictEqual(ended.stderr, "")

      const all = lines(ended.stdout)
      const signalLine = all.findIndex((line) => line.includes("signal received"))
      assert.isAtLeast(signalLine, 0, ended.stdout)
      const before = all.slice(0, signalLine)
      const after = all.slice(signalLine + 1)

      // the workers were started before any traffic
      assert.match(all[0]!, /pool ready: 3 workers started, queue capacity 24$/)

      // at the signal: jobs in flight and jobs queued
      const [, inFlightText, queuedText] = single(
        ended.stdout,
        /signal received: stopping intake; in flight: (.*); queued: (\d+); draining for up to 2 seconds$/
      )
      const inFlight = idList(inFlightText!)
      assert.isAtLeast(inFlight.length, 1)
      assert.isAtLeast(Number(queuedText), 1)

      // intake stopped: the producer's next submission was refused
      assert.isTrue(after.some((line) => line.endsWith("producer stopped: the pool takes no more jobs (PoolShutdown)")))
      assert.isFalse(before.some((line) => line.includes("producer stopped")))

      const finishedBefore = jobsIn(before, / (job-\d+) finished on worker \d/)
      const finishedAfter = jobsIn(after, / (job-\d+) finished on worker \d/)
      const startedBefore = jobsIn(before, / (job-\d+) started on worker \d/)
      const [, duringText] = single(ended.stdout, /^finished during shutdown \(\d+\): (.*)$/)
      const [, notFinishedText] = single(ended.stdout, /^not finished, PoolShutdown \(\d+\): (.*)$/)
      const [, interruptedText] = single(ended.stdout, /^ {2}interrupted while running \(\d+\): (.*)$/)
      const [, neverStartedText] = single(ended.stdout, /^ {2}never started \(\d+\): (.*)$/)
      const during = idList(duringText!)
      const notFinished = idList(notFinishedText!)
      const interrupted = idList(interruptedText!)
      const neverStarted = idList(neverStartedText!)
      assert.sameMembers(during, finishedAfter)
      assert.sameMembers(jobsIn(after, / (job-\d+) not finished: PoolShutdown$/), notFinished)
      assert.sameMembers([...interrupted, ...neverStarted], notFinished)
      assert.sameMembers(jobsIn(after, / (job-\d+) interrupted on worker \d/), interrupted)
      for (const id of neverStarted) assert.notInclude(startedBefore, id)

      const [, accepted, beforeCount, duringCount, notCount, took] = single(
        ended.stdout,
        new RegExp(
          `^${last}: (\\d+) jobs accepted, (\\d+) finished before the signal, (\\d+) during shutdown, ` +
            `(\\d+) not finished; shutdown took ([\\d.]+)s$`
        )
      )
      assert.strictEqual(Number(beforeCount), finishedBefore.length)
      assert.strictEqual(Number(duringCount), during.length)
      assert.strictEqual(Number(notCount), notFinished.length)
      const outcomes = [...finishedBefore, ...during, ...notFinished].sort()
      const expected = Array.from({ length: Number(accepted) }, (_, i) => `job-${i + 1}`).sort()
      assert.deepStrictEqual(outcomes, expected)
      assert.strictEqual(all[all.length - 1]!.startsWith(last), true)
      return {
        all,
        after,
        inFlight,
        startedBefore,
        finishedBefore,
        finishedAfter,
        interrupted,
        neverStarted,
        took: Number(took)
      }
    }

    /**
     * Sends `signal` once to the busy service (twice in a row with `copy`, as one Ctrl-C under `npm run` arrives
     * when bash is the script shell) and checks the graceful shutdown from what the program printed.
     */
    const shutdownOn = (signal: "SIGINT" | "SIGTERM", options?: { readonly copy: boolean }) =>
      Effect.gen(function*() {
        const running = yield* startBusy
        const signalledAt = yield* Clock.currentTimeMillis
        running.child.kill(signal)
        if (options?.copy === true) {
          yield* waitForOutput(running, (out) => out.includes("signal received"))
          running.child.kill(signal)
        }
        const ended = yield* endWithin(running, "20 seconds")
        const exitedAfter = (yield* Clock.currentTimeMillis) - signalledAt

        // the exit code names the signal; the process exits within the 2 s deadline plus a margin
        const report = checkReport(ended, exitCodes[signal], "Shutdown complete")
        assert.isBelow(exitedAfter, 2_000 + 6_000, ended.stdout)
        assert.isFalse(report.all.some((line) => line.includes(" again: stopping at once")), ended.stdout)

        // jobs in flight at the signal (by the program's account, and by what it had printed) finished: their
        // 300-500 ms of work fits in the 2 s deadline
        for (const id of report.inFlight) assert.include(report.finishedAfter, id)
        for (const id of report.startedBefore.filter((id) => !report.finishedBefore.includes(id))) {
          assert.include(report.finishedAfter, id)
        }

        // the queue could not be worked off in 2 s: the jobs left at the deadline were reported with PoolShutdown
        assert.isAtLeast(report.interrupted.length + report.neverStarted.length, 1, ended.stdout)
        assert.sameMembers(
          jobsIn(report.after, / (job-\d+) interrupted on worker \d at the shutdown deadline$/),
          report.interrupted
        )
        // the drain waited for the deadline, not much longer
        assert.isAtLeast(report.took, 1.9)
        assert.isBelow(report.took, 2 + 4)
      })

    /**
     * Sends `signal` to the busy service, then again once the program says that a second signal stops at once, and
     * checks that it stopped at once: the running jobs interrupted, the queued ones never started, and the process
     * gone well before the 2 s deadline.
     */
    const stopAtOnceOn = (signal: "SIGINT" | "SIGTERM") =>
      Effect.gen(function*() {
        const running = yield* startBusy
        const signalledAt = yield* Clock.currentTimeMillis
        running.child.kill(signal)
        yield* waitForOutput(running, (out) => out.includes("draining; a second SIGINT or SIGTERM stops at once"))
        const secondAt = yield* Clock.currentTimeMillis
        running.child.kill(signal)
        const ended = yield* endWithin(running, "20 seconds")
        const now = yield* Clock.currentTimeMillis

        const report = checkReport(ended, exitCodes[signal], `Stopped at once by a second ${signal}`)
        // gone at once, well before the drain's 2 s deadline (which the graceful path always reaches here)
        assert.isBelow(now - secondAt, 1_000, ended.stdout)
        assert.isBelow(now - signalledAt, 1_900, ended.stdout)
        assert.isBelow(report.took, 1.5, ended.stdout)

        // at the second signal, the running jobs were named and interrupted; nothing waited for the deadline
        const [, interruptingText, queued] = single(
          ended.stdout,
          new RegExp(`${signal} again: stopping at once; interrupting (.*); (\\d+) queued jobs will not start$`)
        )
        const armed = report.all.findIndex((line) => line.includes("a second SIGINT or SIGTERM stops at once"))
        const stopped = report.all.findIndex((line) => line.includes(`${signal} again: stopping at once`))
        assert.isAbove(stopped, armed)
        assert.isAtLeast(report.interrupted.length, 1, ended.stdout)
        for (const id of report.interrupted) assert.include(idList(interruptingText!), id)
        assert.sameMembers(
          jobsIn(report.after, / (job-\d+) interrupted on worker \d \(stopped at once\)$/),
          report.interrupted
        )
        assert.isFalse(report.all.some((line) => line.includes("at the shutdown deadline")), ended.stdout)
        assert.strictEqual(report.neverStarted.length, Number(queued), ended.stdout)
        assert.isAtLeast(report.neverStarted.length, 1, ended.stdout)
      })

    it.live("on SIGINT: intake stops, in-flight jobs finish, the rest is reported, then it exits with 130", () =>
      shutdownOn("SIGINT"))

    it.live("on SIGTERM: the same graceful shutdown, and exit code 143", () => shutdownOn("SIGTERM"))

    it.live("a copy of the signal right after it (one Ctrl-C under npm run with bash) does not stop at once", () =>
      shutdownOn("SIGINT", { copy: true }))

    it.live("a second SIGINT during the drain interrupts the running jobs, reports them, and exits with 130", () =>
      stopAtOnceOn("SIGINT"))

    it.live("a second SIGTERM during the drain stops at once too, and exits with 143", () => stopAtOnceOn("SIGTERM"))
  })
})
