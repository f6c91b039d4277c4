import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork, trackFibers } from "./utils/fibers.ts"
import { concurrencyProbe, sleeper } from "./utils/jobs.ts"
import { accounted } from "./utils/stats.ts"

class Boom extends Schema.TaggedError<Boom>()("Boom", { input: Schema.Number }) {}

describe("WorkerPool", () => {
  describe("execute", () => {
    it.effect("returns the handler's result and passes JobInfo", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number, job: WorkerPool.JobInfo) =>
            Effect.succeed(`${n * n} ${job.id} ${job.attempt} ${job.pool}`),
          concurrency: 2,
          name: "squares"
        })
        assert.strictEqual(yield* pool.execute(3), "9 1 1 squares")
        assert.strictEqual(yield* pool.execute(4, { id: "four" }), "16 four 1 squares")
      }))

    it.effect("a job's own typed error reaches the caller unwrapped", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) => n < 0 ? Effect.fail(new Boom({ input: n })) : Effect.succeed(n),
          concurrency: 2
        })
        const error = yield* Effect.flip(pool.execute(-1))
        assert.instanceOf(error, Boom)
        assert.strictEqual(error._tag, "Boom")
        assert.deepStrictEqual((error as Boom).input, -1)
        const caught = yield* pool.execute(-2).pipe(Effect.catchTag("Boom", (e) => Effect.succeed(e.input)))
        assert.strictEqual(caught, -2)
      }))

    it.effect("a defect stays a defect, affects only its own job, and the pool keeps its concurrency", () =>
      Effect.gen(function*() {
        const probe = concurrencyProbe()
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            probe.around(n === 3 ? Effect.die(new Error("kaput")) : Effect.sleep(10).pipe(Effect.as(n))),
          concurrency: 2,
          shutdownTimeout: 0
        })
        const fibers = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => fork(Effect.exit(pool.execute(n))))
        yield* TestClock.adjust(100)
        const exits = yield* Effect.forEach(fibers, Fiber.join)
        const defect = exits[2]
        assert.isTrue(Exit.isFailure(defect) && Cause.hasDies(defect.cause) && !Cause.hasFails(defect.cause))
        assert.deepStrictEqual(exits.filter(Exit.isSuccess).map((e) => e.value), [1, 2, 4, 5, 6])
        assert.strictEqual(probe.max, 2)
        // both workers are still there: two more jobs run side by side
        const more = yield* Effect.forEach([7, 8], (n) => fork(pool.execute(n)))
        yield* TestClock.adjust(10)
        assert.deepStrictEqual(yield* Fiber.joinAll(more), [7, 8])
        const stats = yield* pool.stats
        assert.strictEqual(stats.workers, 2)
        assert.strictEqual(stats.defects, 1)
        assert.strictEqual(stats.succeeded, 7)
      }))

    it.effect("a handler that interrupts itself settles as cancelled and the worker carries on", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) => n === 0 ? Effect.interrupt : Effect.succeed(n),
          concurrency: 1
        })
        const exit = yield* Effect.exit(pool.execute(0))
        assert.isTrue(Exit.hasInterrupts(exit))
        assert.strictEqual(yield* pool.execute(5), 5)
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.workers, 1)
      }))

    it.effect("jobs start in the order they were accepted (FIFO)", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
          concurrency: 3,
          capacity: 100
        })
        const handles = yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => i), (n) => pool.submit(n))
        yield* TestClock.adjust(1000)
        yield* Effect.forEach(handles, (h) => h.await)
        assert.deepStrictEqual(started, Array.from({ length: 40 }, (_, i) => i))
      }))

    it.effect("at most `concurrency` handlers run at any instant", () =>
      Effect.gen(function*() {
        const probe = concurrencyProbe()
        const pool = yield* WorkerPool.make({
          handler: (ms: number) => probe.around(Effect.sleep(ms)),
          concurrency: 4,
          capacity: 1000
        })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => 1 + (i * 7) % 13),
          (ms) => fork(pool.execute(ms))
        )
        for (let t = 0; t < 1000; t++) {
          yield* TestClock.adjust(1)
          assert.isAtMost(probe.current, 4)
        }
        yield* Fiber.joinAll(fibers)
        assert.strictEqual(probe.max, 4)
      }))

    it.effect("interrupting the caller of a queued job means the job never starts", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(10))),
          concurrency: 1
        })
        const first = yield* fork(pool.execute(1))
        const second = yield* fork(pool.execute(2))
        assert.strictEqual((yield* pool.stats).queued, 1)
        yield* Fiber.interrupt(second)
        assert.strictEqual((yield* pool.stats).queued, 0)
        yield* TestClock.adjust(100)
        yield* Fiber.join(first)
        assert.deepStrictEqual(started, [1])
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.succeeded, 1)
      }))

    it.effect("interrupting the caller of a running job interrupts it and waits for its finalizers", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (_: number) =>
            Effect.sleep(1000).pipe(
              Effect.onInterrupt(() =>
                Effect.sleep(50).pipe(Effect.andThen(Effect.sync(() => log.push("finalizer done"))))
              )
            ),
          concurrency: 1
        })
        const caller = yield* fork(pool.execute(1))
        yield* TestClock.adjust(10)
        assert.strictEqual((yield* pool.stats).running, 1)
        const interrupter = yield* fork(Fiber.interrupt(caller))
        yield* TestClock.adjust(49)
        assert.isUndefined(interrupter.pollUnsafe(), "the caller's interruption waits for the job's finalizers")
        assert.deepStrictEqual(log, [])
        yield* TestClock.adjust(1)
        yield* Fiber.join(interrupter)
        assert.deepStrictEqual(log, ["finalizer done"])
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.running, 0)
        assert.strictEqual(stats.workers, 1)
        // the slot is usable again
        const next = yield* fork(pool.execute(2))
        yield* TestClock.adjust(1000)
        yield* Fiber.join(next)
      }))

    it.effect("Effect.timeout around execute cancels the job, queued or running (a deadline on wait + run)", () =>
      Effect.gen(function*() {
        const started: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Effect.sleep(100))),
          concurrency: 1
        })
        const a = yield* fork(Effect.timeoutOption(pool.execute(1), 60))
        const b = yield* fork(Effect.timeoutOption(pool.execute(2), 50))
        yield* TestClock.adjust(50)
        assert.isTrue(Option.isNone(yield* Fiber.join(b)))
        assert.deepStrictEqual(started, [1], "job 2 was cancelled while queued")
        yield* TestClock.adjust(10)
        assert.isTrue(Option.isNone(yield* Fiber.join(a)))
        assert.deepStrictEqual(started, [1])
        assert.strictEqual((yield* pool.stats).cancelled, 2)
      }))
  })

  describe("timeouts", () => {
    it.effect("the default timeout fails a job with JobTimeout after its finalizers ran, holding the slot until then", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            Effect.sync(() => log.push(`start ${n}`)).pipe(
              Effect.andThen(Effect.sleep(n === 1 ? 1000 : 10)),
              Effect.onInterrupt(() =>
                Effect.sleep(30).pipe(Effect.andThen(Effect.sync(() => log.push(`cleaned ${n}`))))
              ),
              Effect.as(n)
            ),
          concurrency: 1,
          timeout: "100 millis",
          name: "timed"
        })
        const first = yield* fork(Effect.flip(pool.execute(1, { id: "slow" })))
        const second = yield* fork(pool.execute(2))
        yield* TestClock.adjust(99)
        assert.deepStrictEqual(log, ["start 1"])
        yield* TestClock.adjust(1) // the deadline: the job is interrupted; its finalizer takes 30 ms
        assert.deepStrictEqual(log, ["start 1"])
        assert.isUndefined(first.pollUnsafe())
        yield* TestClock.adjust(29)
        assert.deepStrictEqual(log, ["start 1"], "the next job waits while the finalizer holds the slot")
        yield* TestClock.adjust(1)
        assert.deepStrictEqual(log, ["start 1", "cleaned 1", "start 2"])
        const error = yield* Fiber.join(first)
        assert.instanceOf(error, WorkerPoolError.JobTimeout)
        assert.deepStrictEqual(
          { pool: error.pool, jobId: (error as WorkerPoolError.JobTimeout).jobId, ms: (error as any).timeoutMillis },
          { pool: "timed", jobId: "slow", ms: 100 }
        )
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* Fiber.join(second), 2)
        const stats = yield* pool.stats
        assert.strictEqual(stats.timedOut, 1)
        assert.strictEqual(stats.workers, 1)
      }))

    it.effect("a per-job timeout overrides the default, and time spent queued does not count", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: sleeper,
          concurrency: 1,
          timeout: "1 second"
        })
        const blocker = yield* fork(pool.execute(200))
        const short = yield* fork(Effect.exit(pool.execute(100, { timeout: "50 millis" })))
        const long = yield* fork(pool.execute(300, { timeout: "Infinity" }))
        yield* TestClock.adjust(200) // blocker done, short starts now
        assert.strictEqual(yield* Fiber.join(blocker), 200)
        yield* TestClock.adjust(49)
        assert.isUndefined(short.pollUnsafe())
        yield* TestClock.adjust(1)
        const exit = yield* Fiber.join(short)
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(
          (Cause.squash((exit as Exit.Failure<never, unknown>).cause) as { _tag: string })._tag,
          "JobTimeout"
        )
        yield* TestClock.adjust(300)
        assert.strictEqual(yield* Fiber.join(long), 300)
      }))

    it.effect("a job whose timeout is shorter than those already armed still fires on time", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2, timeout: "1 second" })
        const long = yield* fork(Effect.exit(pool.execute(5000)))
        yield* TestClock.adjust(10)
        const short = yield* fork(Effect.exit(pool.execute(5000, { timeout: 20 })))
        yield* TestClock.adjust(20)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(short)))
        assert.isUndefined(long.pollUnsafe())
        yield* TestClock.adjust(970)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(long)))
        assert.strictEqual((yield* pool.stats).timedOut, 2)
      }))

    it.effect("many jobs with timeouts: each one that overruns times out at its own deadline", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 10, capacity: 1000 })
        // job i sleeps 2i ms with a timeout of 99 ms: jobs 0..49 succeed, 50..99 time out
        const fibers = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) => fork(Effect.exit(pool.execute(2 * i, { timeout: 99 })))
        )
        yield* TestClock.adjust(10_000)
        const exits = yield* Fiber.joinAll(fibers)
        const ok = exits.flatMap((e, i) => Exit.isSuccess(e) ? [i] : [])
        assert.deepStrictEqual(ok, Array.from({ length: 50 }, (_, i) => i))
        const stats = yield* pool.stats
        assert.strictEqual(stats.timedOut, 50)
        assert.strictEqual(stats.succeeded, 50)
      }))

    it.effect("a job that finishes at the instant of its timeout settles exactly once", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, timeout: 100 })
        const handle = yield* pool.submit(100)
        yield* TestClock.adjust(100)
        const exit = yield* Effect.exit(handle.await)
        const stats = yield* pool.stats
        assert.strictEqual(stats.succeeded + stats.timedOut, 1)
        assert.strictEqual(Exit.isSuccess(exit), stats.succeeded === 1)
        assert.strictEqual(accounted(stats), stats.submitted)
      }))
  })

  describe("submit and handles", () => {
    it.effect("submit returns once accepted; await, poll and interrupt work on the handle", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        const a = yield* pool.submit(10, { id: "a" })
        const b = yield* pool.submit(10, { id: "b" })
        assert.strictEqual(a.id, "a")
        assert.isTrue(Option.isNone(yield* a.poll))
        yield* b.interrupt
        const bExit = Option.getOrThrow(yield* b.poll)
        assert.isTrue(Exit.hasInterrupts(bExit))
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* a.await, 10)
        assert.deepStrictEqual(yield* a.poll, Option.some(Exit.succeed(10)))
        // interrupting a settled job does nothing
        yield* a.interrupt
        assert.strictEqual(yield* a.await, 10)
      }))

    it.effect("interrupting a fiber that only awaits a handle does not cancel the job", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        const handle = yield* pool.submit(100)
        const waiter = yield* fork(handle.await)
        yield* TestClock.adjust(10)
        yield* Fiber.interrupt(waiter)
        yield* TestClock.adjust(90)
        assert.strictEqual(yield* handle.await, 100)
        assert.strictEqual((yield* pool.stats).succeeded, 1)
      }))

    it.effect("a job cancelled after its worker took it, before its handler started, never starts", () =>
      Effect.gen(function*() {
        const starts: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (id: string) =>
            Effect.sync(() => starts.push(id)).pipe(Effect.andThen(Effect.sleep(10)), Effect.as(id)),
          concurrency: 1
        })
        let second: WorkerPool.JobHandle<string, unknown> | undefined
        // The worker takes "b" as "a" finishes, then hands "a"'s result to its caller, which cancels "b" at once.
        const caller = yield* fork(pool.execute("a").pipe(Effect.andThen(Effect.suspend(() => second!.interrupt))))
        second = yield* pool.submit("b")
        yield* TestClock.adjust(10)
        yield* Fiber.join(caller)
        assert.isTrue(Exit.hasInterrupts(Option.getOrThrow(yield* second.poll)))
        const third = yield* fork(pool.execute("c"))
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* Fiber.join(third), "c")
        assert.deepStrictEqual(starts, ["a", "c"])
        const stats = yield* pool.stats
        assert.strictEqual(stats.cancelled, 1)
        assert.strictEqual(stats.workers, 1)
      }))

    it.effect("handle.interrupt on a running job returns after its finalizers ran", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (_: number) => Effect.never.pipe(Effect.ensuring(Effect.sync(() => log.push("released")))),
          concurrency: 1
        })
        const handle = yield* pool.submit(1)
        yield* Effect.yieldNow
        yield* handle.interrupt
        assert.deepStrictEqual(log, ["released"])
        assert.isTrue(Exit.hasInterrupts(Option.getOrThrow(yield* handle.poll)))
      }))
  })

  describe("overflow", () => {
    const blocked = (overflow: WorkerPool.OverflowStrategy, capacity: number) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const started: Array<number> = []
        const pool = yield* WorkerPool.make<number, number>({
          handler: (n) => Effect.sync(() => started.push(n)).pipe(Effect.andThen(Deferred.await(gate)), Effect.as(n)),
          concurrency: 1,
          capacity,
          overflow,
          shutdownTimeout: 0
        })
        // job 0 runs and blocks; jobs 1..capacity fill the queue exactly
        const handles = yield* Effect.forEach(Array.from({ length: capacity + 1 }, (_, i) => i), (n) => pool.submit(n))
        assert.strictEqual((yield* pool.stats).queued, capacity)
        return { gate, pool, handles, started }
      })

    it.effect("suspend: the submitter waits at the exact capacity and is admitted when room appears", () =>
      Effect.gen(function*() {
        const { gate, handles, pool } = yield* blocked("suspend", 2)
        const late = yield* fork(pool.submit(3))
        assert.isUndefined(late.pollUnsafe())
        assert.strictEqual((yield* pool.stats).waiting, 1)
        yield* Deferred.succeed(gate, void 0)
        const handle = yield* Fiber.join(late)
        assert.strictEqual(yield* handle.await, 3)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [0, 1, 2])
      }))

    it.effect("suspend: waiting submitters are admitted in arrival order", () =>
      Effect.gen(function*() {
        const { gate, pool, started } = yield* blocked("suspend", 1)
        const waiting = yield* Effect.forEach([2, 3, 4, 5, 6], (n) => fork(pool.execute(n)))
        assert.strictEqual((yield* pool.stats).waiting, 5)
        yield* Deferred.succeed(gate, void 0)
        yield* Fiber.joinAll(waiting)
        assert.deepStrictEqual(started, [0, 1, 2, 3, 4, 5, 6])
      }))

    it.effect("suspend: cancelling a queued job admits the first waiting submitter at once, ahead of newcomers", () =>
      Effect.gen(function*() {
        const { gate, handles, pool, started } = yield* blocked("suspend", 2)
        const waiter = yield* fork(pool.submit(10))
        assert.strictEqual((yield* pool.stats).waiting, 1)
        yield* handles[1].interrupt
        const admitted = waiter.pollUnsafe()
        assert.isDefined(admitted, "the waiting submitter was admitted when room appeared")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.waiting, stats.queued], [0, 2])
        const newcomer = yield* fork(pool.submit(11))
        assert.isUndefined(newcomer.pollUnsafe(), "a newcomer waits behind the full queue")
        yield* Deferred.succeed(gate, void 0)
        yield* Fiber.join(newcomer)
        yield* pool.awaitIdle
        assert.deepStrictEqual(started, [0, 2, 10, 11])
      }))

    it.effect("suspend: a waiting submitter that is interrupted gives up its place without being counted", () =>
      Effect.gen(function*() {
        const { gate, pool, started } = yield* blocked("suspend", 1)
        const a = yield* fork(pool.execute(2))
        const b = yield* fork(pool.execute(3))
        yield* Fiber.interrupt(a)
        assert.strictEqual((yield* pool.stats).waiting, 1)
        yield* Deferred.succeed(gate, void 0)
        assert.strictEqual(yield* Fiber.join(b), 3)
        assert.deepStrictEqual(started, [0, 1, 3])
        const stats = yield* pool.stats
        assert.strictEqual(stats.submitted, 3)
        assert.strictEqual(stats.rejected, 0)
      }))

    it.effect("fail: a submission beyond capacity fails with QueueFull at once and is counted as rejected", () =>
      Effect.gen(function*() {
        const { pool } = yield* blocked("fail", 2)
        const error = yield* Effect.flip(pool.submit(3))
        assert.instanceOf(error, WorkerPoolError.QueueFull)
        assert.strictEqual((error as WorkerPoolError.QueueFull).capacity, 2)
        const viaExecute = yield* Effect.flip(pool.execute(4))
        assert.strictEqual(viaExecute._tag, "QueueFull")
        const stats = yield* pool.stats
        assert.strictEqual(stats.rejected, 2)
        assert.strictEqual(stats.submitted, 3)
      }))

    it.effect("dropping: the new job is accepted and settles at once with JobDropped", () =>
      Effect.gen(function*() {
        const { gate, handles, pool } = yield* blocked("dropping", 2)
        const extra = yield* pool.submit(3, { id: "extra" })
        const error = yield* Effect.flip(extra.await)
        assert.instanceOf(error, WorkerPoolError.JobDropped)
        assert.deepStrictEqual([(error as WorkerPoolError.JobDropped).jobId, (error as any).overflow], [
          "extra",
          "dropping"
        ])
        assert.strictEqual((yield* Effect.flip(pool.execute(4)))._tag, "JobDropped")
        yield* Deferred.succeed(gate, void 0)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [0, 1, 2])
        const stats = yield* pool.stats
        assert.strictEqual(stats.dropped, 2)
        assert.strictEqual(stats.submitted, 5)
      }))

    it.effect("sliding: the new job is accepted and the oldest queued job settles with JobDropped", () =>
      Effect.gen(function*() {
        const { gate, handles, pool, started } = yield* blocked("sliding", 2)
        const extra = yield* pool.submit(3)
        const oldest = yield* Effect.flip(handles[1].await)
        assert.strictEqual(oldest._tag, "JobDropped")
        assert.strictEqual((oldest as WorkerPoolError.JobDropped).overflow, "sliding")
        yield* Deferred.succeed(gate, void 0)
        assert.strictEqual(yield* extra.await, 3)
        assert.strictEqual(yield* handles[2].await, 2)
        assert.deepStrictEqual(started, [0, 2, 3])
        assert.strictEqual((yield* pool.stats).dropped, 1)
      }))

    for (const overflow of ["suspend", "fail", "dropping", "sliding"] as const) {
      it.effect(`trySubmit on a full queue fails with QueueFull (overflow: ${overflow})`, () =>
        Effect.gen(function*() {
          const { pool } = yield* blocked(overflow, 1)
          const error = yield* Effect.flip(pool.trySubmit(9))
          assert.strictEqual(error._tag, "QueueFull")
          const stats = yield* pool.stats
          assert.strictEqual(stats.rejected, 1)
          assert.strictEqual(stats.queued, 1)
        }))
    }

    it.effect("trySubmit accepts while there is room", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, capacity: 1 })
        const running = yield* pool.trySubmit(10)
        const queued = yield* pool.trySubmit(10)
        assert.strictEqual((yield* Effect.flip(pool.trySubmit(10)))._tag, "QueueFull")
        yield* TestClock.adjust(20)
        assert.deepStrictEqual([yield* running.await, yield* queued.await], [10, 10])
      }))

    it.effect("a burst of thousands of blocked submitters is admitted in order and drains completely", () =>
      Effect.gen(function*() {
        const order: Array<number> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) => Effect.sync(() => order.push(n)).pipe(Effect.andThen(Effect.sleep(1))),
          concurrency: 4,
          capacity: 16
        })
        const n = 5000
        const fibers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => fork(pool.execute(i)))
        assert.strictEqual((yield* pool.stats).waiting, n - 16 - 4)
        yield* TestClock.adjust(n)
        yield* Fiber.joinAll(fibers)
        assert.deepStrictEqual(order, Array.from({ length: n }, (_, i) => i))
        const stats = yield* pool.stats
        assert.strictEqual(stats.succeeded, n)
        assert.strictEqual(stats.waiting, 0)
      }))
  })

  describe("stopping", () => {
    it.effect("drain stops intake, finishes queued and running jobs, then rejects new ones", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2 })
        const handles = yield* Effect.forEach([10, 20, 30, 40, 50], (ms) => pool.submit(ms))
        const drained = yield* fork(pool.drain)
        const late = yield* Effect.flip(pool.submit(1))
        assert.instanceOf(late, WorkerPoolError.PoolShutdown)
        assert.strictEqual((yield* pool.stats).state, "draining")
        yield* TestClock.adjust(1000)
        yield* Fiber.join(drained)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [10, 20, 30, 40, 50])
        const stats = yield* pool.stats
        assert.strictEqual(stats.state, "closed")
        assert.strictEqual(stats.workers, 0)
        assert.strictEqual(stats.rejected, 1)
        assert.strictEqual((yield* Effect.flip(pool.execute(1)))._tag, "PoolShutdown")
      }))

    it.effect("submitters waiting for room when intake stops get PoolShutdown instead of hanging", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, capacity: 1 })
        yield* pool.submit(100)
        yield* pool.submit(100)
        const waitingSubmit = yield* fork(pool.submit(100, { id: "w1" }))
        const waitingExecute = yield* fork(pool.execute(100))
        assert.strictEqual((yield* pool.stats).waiting, 2)
        const drained = yield* fork(pool.drain)
        const e1 = yield* Effect.flip(Fiber.join(waitingSubmit))
        const e2 = yield* Effect.flip(Fiber.join(waitingExecute))
        assert.instanceOf(e1, WorkerPoolError.PoolShutdown)
        assert.strictEqual((e1 as WorkerPoolError.PoolShutdown).jobId, "w1")
        assert.strictEqual(e2._tag, "PoolShutdown")
        yield* TestClock.adjust(200)
        yield* Fiber.join(drained)
        const stats = yield* pool.stats
        assert.strictEqual(stats.rejected, 2)
        assert.strictEqual(stats.succeeded, 2)
      }))

    it.effect("shutdown returns exactly the unstarted inputs and settles every unfinished job with PoolShutdown", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            Effect.sleep(100).pipe(
              Effect.onInterrupt(() => Effect.sync(() => log.push(`interrupted ${n}`))),
              Effect.as(n)
            ),
          concurrency: 2
        })
        const handles = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => pool.submit(n))
        yield* TestClock.adjust(10)
        const unstarted = yield* pool.shutdown
        assert.deepStrictEqual(unstarted, [3, 4, 5])
        assert.deepStrictEqual(log, ["interrupted 1", "interrupted 2"])
        for (const handle of handles) {
          const error = yield* Effect.flip(handle.await)
          assert.instanceOf(error, WorkerPoolError.PoolShutdown)
          assert.strictEqual((error as WorkerPoolError.PoolShutdown).jobId, handle.id)
        }
        const stats = yield* pool.stats
        assert.strictEqual(stats.shutdown, 5)
        assert.strictEqual(stats.state, "closed")
        assert.strictEqual(accounted(stats), stats.submitted)
        assert.deepStrictEqual(yield* pool.shutdown, [])
        assert.strictEqual((yield* Effect.flip(pool.submit(6)))._tag, "PoolShutdown")
      }))

    it.effect("shutdown during a drain interrupts what is left and returns the unstarted inputs", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        const handles = yield* Effect.forEach([100, 200, 300], (ms) => pool.submit(ms))
        const drained = yield* fork(pool.drain)
        yield* TestClock.adjust(100)
        assert.strictEqual(yield* handles[0].await, 100)
        const unstarted = yield* pool.shutdown
        assert.deepStrictEqual(unstarted, [300])
        yield* Fiber.join(drained)
        assert.strictEqual((yield* Effect.flip(handles[1].await))._tag, "PoolShutdown")
        assert.strictEqual((yield* Effect.flip(handles[2].await))._tag, "PoolShutdown")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.state, stats.succeeded, stats.shutdown], ["closed", 1, 2])
      }))

    it.effect("drain, shutdown and awaitIdle on a stopped pool return at once", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2 })
        const handle = yield* pool.submit(10)
        yield* TestClock.adjust(10)
        yield* pool.drain
        yield* pool.drain
        assert.deepStrictEqual(yield* pool.shutdown, [])
        yield* pool.awaitIdle
        assert.strictEqual(yield* handle.await, 10, "a settled handle keeps its result after the pool stopped")
        assert.strictEqual((yield* Effect.flip(pool.trySubmit(1)))._tag, "PoolShutdown")
      }))

    it.effect("a handler that calls shutdown on its own pool settles with PoolShutdown and nothing hangs", () =>
      Effect.gen(function*() {
        const pool: WorkerPool.WorkerPool<number, number> = yield* WorkerPool.make({
          handler: (n: number) =>
            n === 0
              ? Effect.sleep(1).pipe(Effect.andThen(Effect.suspend(() => pool.shutdown)), Effect.as(0))
              : sleeper(n),
          concurrency: 1
        })
        const first = yield* pool.submit(0)
        const queued = yield* pool.submit(50)
        yield* TestClock.adjust(1)
        // the shutdown interrupts the handler that called it: its job settles with PoolShutdown
        assert.strictEqual((yield* Effect.flip(first.await))._tag, "PoolShutdown")
        assert.strictEqual((yield* Effect.flip(queued.await))._tag, "PoolShutdown")
        const stats = yield* pool.stats
        assert.deepStrictEqual([stats.running, stats.queued, stats.shutdown], [0, 0, 2])
        assert.notStrictEqual(stats.state, "open")
      }))

    it.effect("closing the scope drains queued and running jobs within shutdownTimeout", () =>
      Effect.gen(function*() {
        const outcomes = yield* Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2, shutdownTimeout: "1 second" })
            return yield* Effect.forEach([100, 200, 300, 400], (ms) => pool.submit(ms))
          })
        ).pipe(fork)
        yield* TestClock.adjust(600)
        const handles = yield* Fiber.join(outcomes)
        assert.deepStrictEqual(yield* Effect.forEach(handles, (h) => h.await), [100, 200, 300, 400])
      }))

    it.effect("at the shutdown deadline the rest are interrupted and settle with PoolShutdown", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const closing = yield* Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* WorkerPool.make({
              handler: (ms: number) =>
                Effect.sleep(ms).pipe(
                  Effect.onInterrupt(() => Effect.sync(() => log.push(`interrupted ${ms}`))),
                  Effect.as(ms)
                ),
              concurrency: 2,
              shutdownTimeout: "250 millis"
            })
            return yield* Effect.forEach([100, 1000, 200, 2000], (ms) => pool.submit(ms))
          })
        ).pipe(fork)
        yield* TestClock.adjust(249)
        assert.isUndefined(closing.pollUnsafe())
        yield* TestClock.adjust(1)
        const handles = yield* Fiber.join(closing) // the close completed at the deadline
        const exits = yield* Effect.forEach(handles, (h) => Effect.exit(h.await))
        assert.isTrue(Exit.isSuccess(exits[0]))
        // 100 ran first; 200 ran on the freed worker (100..300) and was interrupted at 250
        assert.deepStrictEqual(log.sort(), ["interrupted 1000", "interrupted 200"])
        for (const exit of exits.slice(1)) {
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(
            (Cause.squash((exit as Exit.Failure<never, unknown>).cause) as { _tag: string })._tag,
            "PoolShutdown"
          )
        }
      }))

    it.effect("shutdownTimeout: 0 interrupts at once when the scope closes", () =>
      Effect.gen(function*() {
        const handles = yield* Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1, shutdownTimeout: 0 })
            return yield* Effect.forEach([100, 100], (ms) => pool.submit(ms))
          })
        )
        for (const h of handles) assert.strictEqual((yield* Effect.flip(h.await))._tag, "PoolShutdown")
      }))

    it.effect("no fiber of the pool is alive after its scope closes", () =>
      Effect.gen(function*() {
        const { alive, started } = yield* trackFibers(
          Effect.scoped(Effect.gen(function*() {
            const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 8, timeout: 50, shutdownTimeout: 0 })
            const fibers = yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => i * 3), (ms) =>
              fork(Effect.exit(pool.execute(ms))))
            yield* TestClock.adjust(20)
            yield* Fiber.interrupt(fibers[3])
            return fibers.length
          }))
        )
        assert.isAbove(started, 8)
        assert.strictEqual(alive, 0)
      }))

    it.effect("no fiber of the pool is alive after drain, shutdown, or a graceful close", () =>
      Effect.gen(function*() {
        for (const stop of ["drain", "shutdown", "close"] as const) {
          const run = trackFibers(
            Effect.scoped(Effect.gen(function*() {
              const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 3, timeout: 500 })
              yield* Effect.forEach([10, 20, 30, 40], (ms) => pool.submit(ms))
              if (stop === "drain") yield* pool.drain
              if (stop === "shutdown") yield* pool.shutdown
            }))
          )
          const fiber = yield* fork(run)
          yield* TestClock.adjust(1000)
          const { alive } = yield* Fiber.join(fiber)
          assert.strictEqual(alive, 0, stop)
        }
      }))
  })

  describe("stats and awaitIdle", () => {
    it.effect("stats add up at every step", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({
          handler: (n: number) =>
            n % 5 === 0
              ? Effect.fail(new Boom({ input: n }))
              : n % 7 === 0
              ? Effect.die("seven")
              : Effect.sleep(n).pipe(Effect.as(n)),
          concurrency: 3,
          capacity: 5,
          overflow: "sliding",
          timeout: 12
        })
        for (let n = 1; n <= 40; n++) {
          yield* pool.submit(n)
          const s = yield* pool.stats
          assert.strictEqual(accounted(s), s.submitted)
          if (n % 3 === 0) yield* TestClock.adjust(2)
        }
        yield* TestClock.adjust(100)
        const s = yield* pool.stats
        assert.strictEqual(accounted(s), s.submitted)
        assert.strictEqual(s.submitted, 40)
        assert.strictEqual(s.queued + s.running, 0)
        assert.isAbove(s.failed, 0)
        assert.isAbove(s.defects, 0)
        assert.isAbove(s.timedOut, 0)
        assert.isAbove(s.dropped, 0)
        assert.isAbove(s.succeeded, 0)
        assert.strictEqual(s.completed, s.succeeded + s.failed + s.defects + s.timedOut)
      }))

    it.effect("average duration covers the jobs that ran", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 2 })
        const fibers = yield* Effect.forEach([10, 30], (ms) => fork(pool.execute(ms)))
        yield* TestClock.adjust(30)
        yield* Fiber.joinAll(fibers)
        const s = yield* pool.stats
        assert.strictEqual(s.completed, 2)
        assert.strictEqual(s.totalDurationMillis, 40)
        assert.strictEqual(s.averageDurationMillis, 20)
      }))

    it.effect("awaitIdle waits until nothing is queued or running", () =>
      Effect.gen(function*() {
        const pool = yield* WorkerPool.make({ handler: sleeper, concurrency: 1 })
        yield* pool.awaitIdle
        yield* pool.submit(10)
        yield* pool.submit(20)
        const idle = yield* fork(pool.awaitIdle)
        yield* TestClock.adjust(29)
        assert.isUndefined(idle.pollUnsafe())
        yield* TestClock.adjust(1)
        yield* Fiber.join(idle)
        assert.strictEqual((yield* pool.stats).state, "open")
      }))
  })
})
