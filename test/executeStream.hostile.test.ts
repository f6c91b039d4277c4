/**
 * executeStream, tried by a hostile user: the bounds on the stream's jobs (at most `concurrency` in the pool, at most
 * 2 x `concurrency` between submission and emission) under slow, stalled and singleton-chunk producers and consumers;
 * order; every way the output ends (the input ends or fails, a job fails, a submission is turned away, the consumer
 * takes what it wants, fails or is interrupted at any moment); the pool shut down, drained, paused or too small under
 * a stream; bad options; services; streams side by side, nested, composed, run twice; randomized runs. After a stream
 * ends (whatever way), none of its jobs may be queued or running, none may start later, and the stats must add up.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { WorkerPool, WorkerPoolError } from "../src/index.ts"
import { fork, trackFibers } from "./utils/fibers.ts"
import { Boom, concurrencyProbe } from "./utils/jobs.ts"
import { makeExecutor, makePool } from "./utils/pools.ts"
import { checkAccounts, pick } from "./utils/stats.ts"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const range = (n: number) => Array.from({ length: n }, (_, i) => i)
const boom = (input: number, attempt = 1) => new Boom({ input, attempt, retryable: true })
const sorted = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)
/** A handler that sleeps `ms` virtual milliseconds and returns it. */
const nap = (ms: number) => Effect.sleep(ms).pipe(Effect.as(ms))
/** Runs `test` once per case, each in its own scope (so with its own pool). */
const each = <C>(cases: ReadonlyArray<C>, test: (c: C) => Effect.Effect<void, unknown, Scope.Scope>) =>
  Effect.forEach(cases, (c) => Effect.scoped(test(c)), { discard: true })

type HasStats = { readonly stats: Effect.Effect<WorkerPool.Stats> }

/** Nothing left in the pool (no job queued or running, no submitter waiting), and the accounts add up. */
const assertNothingLeft = (pool: HasStats, when: string) =>
  Effect.map(pool.stats, (stats) => {
    checkAccounts(stats, when)
    assert.deepStrictEqual(pick(stats, ["queued", "running", "waiting"]), { queued: 0, running: 0, waiting: 0 }, when)
  })

/** A handler's log for one stream: the inputs started, running, and started or running once the run had ended. */
const streamLog = () => {
  let ended = false
  const log = {
    started: [] as Array<number>,
    running: new Set<number>(),
    lateStarts: [] as Array<number>,
    runningAtEnd: [] as Array<number>,
    around: <A, E, R>(n: number, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.suspend(() => {
        log.started.push(n)
        log.running.add(n)
        if (ended) log.lateStarts.push(n)
        return Effect.ensuring(self, Effect.sync(() => log.running.delete(n)))
      }),
    /** run by the runner's `onExit`, the moment it has the stream's outcome */
    end: Effect.sync(() => {
      ended = true
      log.runningAtEnd = [...log.running]
    })
  }
  return log
}
type Log = ReturnType<typeof streamLog>

const collect = <A, E>(log: Log, stream: Stream.Stream<A, E>) => Effect.onExit(Stream.runCollect(stream), () => log.end)

const assertNoLateWork = (log: Log, when: string) => {
  assert.deepStrictEqual(log.runningAtEnd, [], `no job of the stream still runs once its run ended (${when})`)
  assert.deepStrictEqual(log.lateStarts, [], `no job of the stream starts after its run ended (${when})`)
}

/** After the run: nothing of the stream in the pool or running, and nothing of it starts in the next second. */
const assertFinished = (pool: HasStats, log: Log, when: string) =>
  Effect.gen(function*() {
    assertNoLateWork(log, when)
    yield* assertNothingLeft(pool, when)
    const before = log.started.length
    yield* TestClock.adjust(1000)
    assert.strictEqual(log.started.length, before, `nothing of the stream starts later (${when})`)
  })

/**
 * The contract's bounds, for a stream that is its pool's only work: at most `c` jobs in the pool (queued or running),
 * checked as each job starts, as the output emits and at each tick; and at most 2 x `c` elements submitted whose
 * result the output has not emitted, checked as the output emits (after counting the chunk) and at each tick.
 */
const bounds = (c: number) => {
  let pool: HasStats | undefined
  let taken = 0
  const violations: Array<string> = []
  const check = (where: string, held: boolean) =>
    Effect.suspend(() =>
      pool === undefined ? Effect.void : Effect.map(pool.stats, (s) => {
        if (s.queued + s.running > c) violations.push(`${where}: ${s.queued} queued + ${s.running} running > ${c}`)
        if (held && s.submitted - taken > 2 * c) violations.push(`${where}: ${s.submitted} submitted, ${taken} emitted`)
      })
    )
  return {
    violations,
    attach: (p: HasStats) => (pool = p),
    get taken() {
      return taken
    },
    tick: check("tick", true),
    around: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.andThen(check("a job starts", false), self),
    count: <A, E, R>(stream: Stream.Stream<A, E, R>) =>
      stream.pipe(
        Stream.mapArray((chunk) => ((taken += chunk.length), chunk)),
        Stream.tap(() => check("emitted", true))
      )
  }
}

/** Advances the clock 1 ms at a time until `fiber` ends, running `each` before every step. */
const runUntilDone = (fiber: Fiber.Fiber<unknown, unknown>, each: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function*() {
    for (let t = 0; fiber.pollUnsafe() === undefined; t++) {
      if (t > 100_000) assert.fail("still running after 100 s")
      yield* each
      yield* TestClock.adjust(1)
    }
  })

/** Records each element the stream emits with the virtual time it was emitted at, from `t0`. */
const timed = <A, E>(stream: Stream.Stream<A, E>, out: Array<readonly [A, number]>, t0 = 0) =>
  Stream.tap(stream, (a) => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => out.push([a, t - t0]))))

const failureOf = (exit: Exit.Exit<unknown, unknown>, when: string): unknown => {
  assert.isTrue(Exit.isFailure(exit), `${when}: the run failed`)
  const cause = (exit as Exit.Failure<unknown, unknown>).cause
  const error = Cause.findErrorOption(cause)
  assert.strictEqual(error._tag, "Some", `${when}: a typed failure, got ${Cause.pretty(cause)}`)
  return (error as { value: unknown }).value
}

const interruptedOnly = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)

class Greeting extends Context.Service<Greeting, string>()("test/stream-hostile/Greeting") {}
class Source extends Context.Service<Source, ReadonlyArray<number>>()("test/stream-hostile/Source") {}

describe("executeStream (hostile): bounds", () => {
  it.effect("bounds hold and `concurrency` jobs run at once: any source's chunks, slow downstream, small queue, no limit", () => {
    const expected = range(20).map((i) => 10 + (i % 3))
    const next = () => {
      let i = 0
      return () => expected[i++]
    }
    const fromQueue = Effect.gen(function*() {
      const queue = yield* Queue.unbounded<number, Cause.Done>()
      const feed = Effect.forEach(expected, (ms) => Effect.andThen(Queue.offer(queue, ms), Effect.sleep(1)))
      yield* fork(Effect.andThen(feed, Queue.end(queue)))
      return Stream.fromQueue(queue)
    })
    const all = Effect.sync(() => Stream.fromIterable(expected))
    const repeat = Effect.sync(() => Stream.take(Stream.fromEffectRepeat(Effect.delay(Effect.sync(next()), 1)), 20))
    const max = Number.MAX_SAFE_INTEGER
    const none = () => 0
    // the source, the stream's concurrency, the pool's size and queue, the jobs expected at once, the downstream's delay
    // for a result (a consumer that stalls stops pulling: the bounds then say how far the stream may run ahead)
    const sources: ReadonlyArray<
      readonly [string, Effect.Effect<Stream.Stream<number>>, number, number, number, number, (ms: number) => number]
    > = [
      ["fromIterable, a slow downstream", all, 4, 8, 100, 4, (ms) => 3 * (ms % 3)],
      ["a consumer that stalls 300 ms on every third result", all, 3, 8, 100, 3, (ms) => ms === 10 ? 300 : 0],
      ["fromQueue fed one element a millisecond", fromQueue, 4, 8, 100, 4, none],
      ["fromEffectRepeat", repeat, 4, 8, 100, 4, none],
      ["tick", Effect.sync(() => Stream.tick(1).pipe(Stream.take(20), Stream.map(next()))), 4, 8, 100, 4, none],
      ["rechunk(1)", Effect.sync(() => Stream.rechunk(Stream.fromIterable(expected), 1)), 4, 8, 100, 4, none],
      ["a queue smaller than the concurrency", all, 6, 1, 2, 1, none],
      ["concurrency Number.MAX_SAFE_INTEGER", all, max, 64, 100, 20, none]
    ]
    const cases = sources.flatMap((source) => [[...source, true], [...source, false]] as const)
    return each(cases, ([name, make, c, concurrency, capacity, atOnce, downstream, ordered]) =>
      Effect.gen(function*() {
        const b = bounds(c)
        const probe = concurrencyProbe()
        const pool = yield* makePool({
          handler: (ms: number) => b.around(probe.around(nap(ms))),
          concurrency,
          capacity
        })
        b.attach(pool)
        const output = b.count(pool.executeStream(yield* make, { concurrency: c, ordered })).pipe(
          Stream.mapEffect((ms) => Effect.sleep(downstream(ms)).pipe(Effect.as(ms)))
        )
        const fiber = yield* fork(Stream.runCollect(output))
        let waited = false
        let queued = 0
        const watch = Effect.map(pool.stats, (s) => {
          waited ||= s.waiting > 0
          queued = Math.max(queued, s.queued)
        })
        yield* runUntilDone(fiber, Effect.andThen(b.tick, watch))
        const results = yield* Fiber.join(fiber)
        const when = `${name} (ordered: ${ordered})`
        assert.deepStrictEqual(ordered ? results : sorted(results), ordered ? expected : sorted(expected), when)
        assert.strictEqual(probe.max, atOnce, `${when}: jobs running at once`)
        assert.deepStrictEqual(b.violations, [], when)
        assert.isAtMost(queued, capacity, when)
        const room = concurrency + capacity // what the pool holds at once
        if (room < Math.min(c, expected.length)) assert.isTrue(waited, `${when}: the producer waited for room`)
        yield* assertNothingLeft(pool, when)
      }))
  })
})

describe("executeStream (hostile): order", () => {
  it.effect("ordered holds results back behind a slow head; unordered emits each at the instant its job ends", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: nap, concurrency: 12 })
      const inputs = [100, 5, 10, 15, 20, 1]
      const inOrder: Array<readonly [number, number]> = []
      const asDone: Array<readonly [number, number]> = []
      const run = (ordered: boolean, out: Array<readonly [number, number]>) =>
        fork(Stream.runDrain(timed(pool.executeStream(Stream.fromIterable(inputs), { concurrency: 6, ordered }), out)))
      const a = yield* run(true, inOrder)
      const b = yield* run(false, asDone)
      yield* TestClock.adjust(20)
      assert.deepStrictEqual(inOrder, [], "nothing passes the slow head")
      assert.deepStrictEqual(asDone, [[1, 1], [5, 5], [10, 10], [15, 15], [20, 20]], "not held back by the 100 ms job")
      yield* TestClock.adjust(80)
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.deepStrictEqual(inOrder, inputs.map((ms) => [ms, 100] as const))
      assert.deepStrictEqual(asDone[5], [100, 100])
    }))

  it.effect("10,000 elements at concurrency 1,500 with random durations: ordered output is exactly the input", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: nap, concurrency: 2000, capacity: 5000 })
      const inputs = range(10_000).map((n) => (n * 7919) % 37)
      const fiber = yield* fork(
        Stream.runCollect(pool.executeStream(Stream.fromIterable(inputs), { concurrency: 1500 }))
      )
      yield* runUntilDone(fiber)
      const results = yield* Fiber.join(fiber)
      assert.isTrue(
        results.length === 10_000 && results.every((ms, i) => ms === inputs[i]),
        "every result in its place"
      )
      yield* assertNothingLeft(pool, "after 10,000 elements")
    }))
})

describe("executeStream (hostile): the input ends or fails", () => {
  it.effect("the input fails after some elements: every earlier result is emitted, then the input's error", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: nap, concurrency: 3 })
      for (const ordered of [true, false]) {
        for (const end of [Stream.fail(boom(-1)), Stream.die("input died")]) {
          const out: Array<readonly [number, number]> = []
          const input = Stream.concat(Stream.fromIterable([30, 10, 20]), end)
          const output = timed(pool.executeStream(input, { ordered }), out, yield* Clock.currentTimeMillis)
          const fiber = yield* fork(Stream.runDrain(output))
          yield* TestClock.adjust(29)
          assert.isUndefined(fiber.pollUnsafe(), `waits for the results in flight (ordered: ${ordered})`)
          yield* TestClock.adjust(1)
          const exit = yield* Fiber.await(fiber)
          const expected: Array<readonly [number, number]> = ordered
            ? [[30, 30], [10, 30], [20, 30]]
            : [[10, 10], [20, 20], [30, 30]]
          assert.deepStrictEqual(out, expected, `ordered: ${ordered}`)
          if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) {
            assert.strictEqual(Cause.squash(exit.cause), "input died")
          } else assert.strictEqual((failureOf(exit, "the input failed") as Boom).input, -1)
        }
      }
      const first = yield* Effect.flip(Stream.runCollect(pool.executeStream(Stream.fail(boom(-2)))))
      assert.strictEqual((first as Boom).input, -2, "an input that fails at once")
      yield* assertNothingLeft(pool, "after failed inputs")
    }))

  // The producer's own interruption, as the output's scope closes, is not an ending of the input; an interruption
  // raised by the input is, and the output ends as the input did.
  it.effect("an input stream that is interrupted does not end the output as if the input had ended", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n), concurrency: 2 })
      const input = Stream.concat(Stream.fromIterable([1, 2]), Stream.fromEffect(Effect.interrupt))
      const direct = yield* Effect.exit(Stream.runCollect(input))
      assert.isTrue(Exit.isFailure(direct) && Cause.hasInterrupts(direct.cause), "the input alone is interrupted")
      const exit = yield* Effect.exit(Stream.runCollect(pool.executeStream(input)))
      const got = Exit.isSuccess(exit) ? `Success(${exit.value})` : Cause.pretty(exit.cause)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause), `ends as its input did; got ${got}`)
    }))
})

describe("executeStream (hostile): failures", () => {
  it.effect("a typed error, a timeout, a defect, a throw, a dropped job, QueueFull: the output fails at once with it alone", () => {
    const full = (overflow: WorkerPool.OverflowStrategy) => ({ concurrency: 1, capacity: 1, overflow })
    const jobId = (e: unknown) => (e as { readonly jobId: string }).jobId
    type Case = readonly [
      string,
      Partial<WorkerPool.Options<number, number, Boom, never>>,
      number,
      (error: unknown) => boolean
    ]
    const cases: ReadonlyArray<Case> = [
      ["a typed error", {}, 5, (e) => e instanceof Boom && e.input === 2], // the job's own error, not wrapped
      // every job runs past the 20 ms: the first to time out (the first submitted) is the stream's error
      ["a timeout", { timeout: 20 }, 20, (e) => e instanceof WorkerPoolError.JobTimeout && jobId(e) === "1"],
      ["a defect", {}, 5, (e) => e === "defect"],
      ["a throwing handler", {}, 0, (e) => e === "defect"],
      ["dropping", full("dropping"), 0, (e) => jobId(e) === "3"], // the newcomer is dropped
      ["sliding", full("sliding"), 0, (e) => jobId(e) === "2"], // the oldest queued job slides out
      ["QueueFull", full("fail"), 0, (e) => e instanceof WorkerPoolError.QueueFull]
    ]
    return each(
      cases.flatMap((c) => [[...c, true], [...c, false]] as const),
      ([kind, options, at, check, ordered]) =>
        Effect.gen(function*() {
          const log = streamLog()
          const pool = yield* makePool({
            handler: (n: number): Effect.Effect<number, Boom> => {
              if (kind === "a throwing handler" && n === 2) throw new Error("thrown")
              if (n !== 2 || at !== 5) return log.around(n, nap(50))
              return log.around(
                n,
                Effect.andThen(Effect.sleep(5), kind === "a defect" ? Effect.die("x") : Effect.fail(boom(n)))
              )
            },
            concurrency: 4,
            ...options
          })
          const fiber = yield* fork(
            collect(log, pool.executeStream(Stream.fromIterable(range(8)), { concurrency: 4, ordered }))
          )
          yield* TestClock.adjust(at)
          const exit = fiber.pollUnsafe()
          const when = `${kind} (ordered: ${ordered})`
          assert.isDefined(exit, `${when}: the output failed at once`)
          const cause = (exit as Exit.Failure<unknown, unknown>).cause
          assert.isTrue(
            check(Cause.hasDies(cause) ? "defect" : failureOf(exit!, when)),
            `${when}: ${Cause.pretty(cause)}`
          )
          assert.strictEqual(cause.reasons.length, 1, `${when}: only that failure: ${Cause.pretty(cause)}`)
          const stats = yield* pool.stats
          assert.strictEqual(stats.succeeded, 0, `${when}: no job of the stream ran on to success`)
          assert.isAtMost(stats.submitted, 4, `${when}: nothing submitted after the failure`)
          yield* assertFinished(pool, log, when)
        })
    )
  })

  // A failure is acted on at once, not at the output's next pull: while the consumer is busy downstream with an
  // earlier result, the stream's other jobs are cancelled and nothing more starts.
  it.effect("a job's failure while the consumer is busy downstream cancels the stream's other jobs at once", () =>
    Effect.gen(function*() {
      const starts: Array<readonly [number, number]> = []
      const pool = yield* makePool({
        handler: (n: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => starts.push([n, t]))).pipe(
            Effect.andThen(Effect.sleep(n === 0 ? 1 : n === 1 ? 5 : 50)),
            Effect.andThen(n === 1 ? Effect.fail(boom(n)) : Effect.succeed(n))
          ),
        concurrency: 2
      })
      const stream = pool.executeStream(Stream.fromIterable(range(6)), { concurrency: 4 })
      const fiber = yield* fork(Stream.runCollect(stream.pipe(Stream.mapEffect(() => Effect.sleep(100)))))
      yield* TestClock.adjust(6)
      const at6 = yield* pool.stats
      yield* TestClock.adjust(200)
      assert.instanceOf(failureOf(yield* Fiber.await(fiber), "busy downstream"), Boom)
      assert.deepStrictEqual(starts.filter(([, t]) => t > 5), [], "no job of the stream starts after its failure")
      assert.deepStrictEqual(pick(at6, ["queued", "running"]), { queued: 0, running: 0 }, "cancelled at once")
    }))

  it.effect("retries inside a stream: a job retried to success does not end it; one waiting to retry is cancelled", () =>
    Effect.gen(function*() {
      const log = streamLog()
      const pool = yield* makePool({
        handler: (n: number, job: WorkerPool.JobInfo) =>
          log.around(
            n,
            Effect.sleep(1).pipe(Effect.andThen(
              (n === 0 && job.attempt < 3) || n === 1 ? Effect.fail(boom(n, job.attempt)) : Effect.succeed(n)
            ))
          ),
        concurrency: 3,
        retry: Schedule.max([Schedule.recurs(2), Schedule.spaced(10)])
      })
      const b = bounds(2)
      b.attach(pool)
      const ok = yield* fork(
        Stream.runCollect(b.count(pool.executeStream(Stream.make(0, 2, 0, 2), { concurrency: 2 })))
      )
      yield* runUntilDone(ok, b.tick)
      assert.deepStrictEqual(yield* Fiber.join(ok), [0, 2, 0, 2])
      assert.deepStrictEqual(b.violations, [], "a job waiting to retry holds its slot")
      assert.strictEqual((yield* pool.stats).retried, 4)
      // 1 fails its three attempts by 23 ms and ends the stream; the 0 beside it is waiting to retry then
      const failing = yield* fork(collect(log, pool.executeStream(Stream.make(0, 1), { ordered: false })))
      yield* TestClock.adjust(23)
      const error = failureOf(yield* Fiber.await(failing), "retries")
      assert.deepStrictEqual([(error as Boom).input, (error as Boom).attempt], [1, 3], "the last attempt's error")
      yield* assertFinished(pool, log, "retries")
      assert.strictEqual((yield* pool.stats).retrying, 0)
    }))
})

describe("executeStream (hostile): the consumer ends early", () => {
  it.effect("Stream.take(n) for every n: exactly n results, nothing of the stream left, nothing starts later", () => {
    const durations = [7, 3, 12, 1, 9, 4, 15, 2, 6, 10, 5, 8]
    const cases = range(durations.length + 1).flatMap((n) => [[n + 1, true], [n + 1, false]] as const)
    return each(cases, ([n, ordered]) =>
      Effect.gen(function*() {
        const log = streamLog()
        const pool = yield* makePool({
          handler: (i: number) => log.around(i, nap(durations[i])),
          concurrency: 2,
          capacity: 2
        })
        const stream = pool.executeStream(Stream.fromIterable(range(durations.length)), { concurrency: 3, ordered })
        const fiber = yield* fork(collect(log, Stream.take(stream, n)))
        yield* runUntilDone(fiber)
        const results = yield* Fiber.join(fiber)
        const when = `take(${n}), ordered: ${ordered}`
        assert.strictEqual(results.length, Math.min(n, durations.length), when)
        if (ordered) assert.deepStrictEqual(results, durations.slice(0, n), when)
        yield* assertFinished(pool, log, when)
      }))
  })

  it.effect("however the output ends, the input's finalizer runs once, and the stream's jobs end with its part", () => {
    const run = Stream.runCollect
    const at1 = (end: Effect.Effect<number, unknown>) => (s: Stream.Stream<number, unknown>) =>
      run(Stream.mapEffect(s, (n) => n === 1 ? end : Effect.succeed(n)))
    const ways: ReadonlyArray<
      readonly [string, number, (s: Stream.Stream<number, unknown>) => Effect.Effect<unknown, unknown>]
    > = [
      ["to its end", 1, run],
      ["take(1), then more of the run", 1, (s) => run(Stream.concat(Stream.take(s, 1), Stream.fromEffect(nap(500))))],
      ["take(1) in an uninterruptible consumer", 1, (s) => Effect.uninterruptible(run(Stream.take(s, 1)))],
      ["a failure downstream", 1, at1(Effect.fail(boom(-1)))],
      ["a defect downstream", 1, at1(Effect.die("x"))],
      ["an interruption downstream", 1, at1(Effect.interrupt)],
      ["Stream.interruptWhen", 1, (s) => run(Stream.interruptWhen(s, Effect.sleep(3)))],
      ["Stream.buffer, then take(2)", 1, (s) => run(Stream.take(Stream.buffer(s, { capacity: 8 }), 2))],
      ["Stream.merge of two, then take(3)", 2, (s) => run(Stream.take(Stream.merge(s, s), 3))],
      [
        "Stream.flatMap of three with concurrency 2, then take(4)",
        3,
        (s) => run(Stream.take(Stream.flatMap(Stream.make(1, 2, 3), () => s, { concurrency: 2 }), 4))
      ]
    ]
    return each(ways, ([way, runs, consume]) =>
      Effect.gen(function*() {
        const log = streamLog()
        const pool = yield* makePool({
          handler: (n: number) => log.around(n, nap(n === 0 ? 1 : 2 + n)),
          concurrency: 3
        })
        let released = 0
        const input = Stream.fromIterable(range(12)).pipe(Stream.ensuring(Effect.sync(() => released++)))
        const output = consume(pool.executeStream(input, { concurrency: 3 }))
        const fiber = yield* fork(Effect.onExit(Effect.exit(output), () => log.end))
        yield* TestClock.adjust(3)
        if (way.startsWith("take(1), then")) yield* assertNothingLeft(pool, `${way}: once the stream's part has ended`)
        yield* runUntilDone(fiber)
        assert.isAtMost(released, runs, `${way}: the input's finalizer runs once per run`)
        assert.isAtLeast(released, Math.min(runs, 2), `${way}: the input's finalizer ran`)
        yield* assertFinished(pool, log, way)
      }))
  })

  it.effect("the consuming fiber interrupted at every virtual millisecond: nothing of the stream is left", () => {
    const cases = range(46).flatMap((t) =>
      [[t, false, true], [t, true, true], [t, false, false], [t, true, false]] as const
    )
    return each(cases, ([t, early, ordered]) =>
      Effect.gen(function*() {
        const log = streamLog()
        const pool = yield* makePool({
          handler: (n: number) => log.around(n, nap(3 * (1 + (n % 4)))),
          concurrency: 2,
          capacity: 2
        })
        let consumer: Fiber.Fiber<unknown, unknown> | undefined
        // the interruption comes from the test fiber once every wake-up at t has run, or from a fiber woken at t first
        if (early) yield* fork(Effect.sleep(t).pipe(Effect.andThen(Effect.suspend(() => Fiber.interrupt(consumer!)))))
        const stream = pool.executeStream(Stream.fromIterable(range(16)), { concurrency: 3, ordered })
        consumer = yield* fork(collect(log, Stream.mapEffect(stream, (n) => Effect.sleep(n % 3).pipe(Effect.as(n)))))
        yield* TestClock.adjust(t)
        const exit = yield* Fiber.interrupt(consumer).pipe(Effect.andThen(Fiber.await(consumer)))
        const when = `interrupted at ${t} (early: ${early}, ordered: ${ordered})`
        if (Exit.isSuccess(exit)) assert.strictEqual((exit.value as ReadonlyArray<number>).length, 16, when)
        else assert.isTrue(interruptedOnly(exit), when)
        yield* assertFinished(pool, log, when)
      }))
  })

  it.effect("interrupted between the producer's scheduler turns (MaxOpsBeforeYield 3..30): nothing left", () =>
    Effect.gen(function*() {
      const leaks: Array<string> = []
      const cases = range(28).flatMap((i) => [[3 + i, 1], [3 + i, 2], [3 + i, 5]] as const)
      yield* each(cases, ([budget, turns]) =>
        Effect.gen(function*() {
          const log = streamLog()
          const pool = yield* makePool({
            handler: (n: number) => log.around(n, nap(10)),
            concurrency: 4,
            capacity: 1000
          })
          const input = Stream.fromIterable(range(200)).pipe(Stream.rechunk(3))
          const fiber = yield* fork(
            collect(log, pool.executeStream(input, { concurrency: 50 })).pipe(
              Effect.provideService(Scheduler.MaxOpsBeforeYield, budget)
            )
          )
          for (let i = 0; i < turns; i++) yield* Effect.yieldNow
          yield* Fiber.interrupt(fiber)
          const stats = yield* pool.stats
          checkAccounts(stats, `budget ${budget}`)
          if (stats.queued + stats.running + stats.waiting > 0 || log.runningAtEnd.length > 0) {
            leaks.push(
              `budget ${budget}, ${turns} turns: ${JSON.stringify(pick(stats, ["submitted", "queued", "running"]))}`
            )
          }
        }))
      assert.deepStrictEqual(leaks, [], "jobs of an interrupted stream left in the pool")
    }))

  it.effect("a handler, or the input stream inside the producer, interrupts the consumer inline: every job ends", () =>
    each(["handler", "input"] as const, (from) =>
      Effect.gen(function*() {
        const log = streamLog()
        let consumer: Fiber.Fiber<unknown, unknown> | undefined
        const interruptAt = (n: number, here: typeof from) =>
          Effect.sync(() => {
            if (n === 3 && from === here) consumer!.interruptUnsafe()
          })
        const pool = yield* makePool({
          handler: (n: number) => log.around(n, Effect.andThen(interruptAt(n, "handler"), nap(1 + n))),
          concurrency: 2
        })
        const input = Stream.fromIterable(range(8)).pipe(Stream.rechunk(1), Stream.tap((n) => interruptAt(n, "input")))
        consumer = yield* fork(collect(log, pool.executeStream(input, { concurrency: 3 })))
        yield* runUntilDone(consumer)
        assert.isTrue(interruptedOnly(yield* Fiber.await(consumer)), from)
        yield* assertFinished(pool, log, `interrupted by the ${from}`)
      })))

  it.effect("synchronous jobs, with the consumer woken inline in the pool's settle path: ends of every kind are clean", () => {
    type Ending = "all" | "a failure" | "take(30)" | "execute in the downstream" | "shutdown from the downstream"
    const endings: ReadonlyArray<Ending> = [
      "all",
      "a failure",
      "take(30)",
      "execute in the downstream",
      "shutdown from the downstream"
    ]
    const cases = endings.flatMap((end) => [1, 2, 5].flatMap((c) => [[end, c, true], [end, c, false]] as const))
    return each(cases, ([end, c, ordered]) =>
      Effect.gen(function*() {
        const log = streamLog()
        const pool = yield* makePool({
          handler: (n: number) =>
            log.around(n, end === "a failure" && n === 50 ? Effect.fail(boom(n)) : Effect.succeed(n)),
          concurrency: 1 + (c % 2),
          capacity: 3
        })
        let output = pool.executeStream(Stream.fromIterable(range(200)), { concurrency: c, ordered })
        if (end === "take(30)") output = Stream.take(output, 30)
        if (end === "execute in the downstream") output = Stream.mapEffect(output, (n) => pool.execute(n + 1000))
        if (end === "shutdown from the downstream") {
          output = Stream.tap(output, (n) => n === 20 ? pool.shutdown : Effect.void)
        }
        const exit = yield* Effect.exit(collect(log, output))
        const when = `${end}, concurrency ${c}, ordered: ${ordered}`
        if (end === "a failure") assert.strictEqual((failureOf(exit, when) as Boom).input, 50, when)
        else if (end === "shutdown from the downstream") {
          assert.instanceOf(failureOf(exit, when), WorkerPoolError.PoolShutdown)
        } else {
          const results = Exit.isSuccess(exit) ? [...exit.value] : assert.fail(`${when}: ${Cause.pretty(exit.cause)}`)
          const expected = end === "take(30)" ? 30 : 200
          assert.strictEqual(results.length, expected, when)
          const values = range(expected).map((n) => end === "execute in the downstream" ? n + 1000 : n)
          if (ordered || end !== "take(30)") assert.deepStrictEqual(ordered ? results : sorted(results), values, when)
        }
        yield* assertFinished(pool, log, when)
      }))
  })

  it.effect("streams ended every way (empty, one element, never, ...) leave no job and no fiber behind", () =>
    Effect.gen(function*() {
      const { alive, started } = yield* trackFibers(Effect.scoped(Effect.gen(function*() {
        const pool = yield* makePool({
          handler: (n: number) =>
            Effect.sleep(n).pipe(Effect.andThen(n === 7 ? Effect.fail(boom(n)) : Effect.succeed(n * 10))),
          concurrency: 2,
          capacity: 2
        })
        const run = (inputs: ReadonlyArray<number>, ordered = true) =>
          Stream.runCollect(pool.executeStream(Stream.fromIterable(inputs), { ordered }))
        for (const ordered of [true, false]) {
          assert.deepStrictEqual(yield* Stream.runCollect(pool.executeStream(Stream.empty, { ordered })), [])
          assert.deepStrictEqual(yield* run([0], ordered), [0])
        }
        const never = yield* fork(Stream.runCollect(pool.executeStream(Stream.never)))
        yield* TestClock.adjust(100)
        yield* Fiber.interrupt(never)
        assert.strictEqual((yield* pool.stats).submitted, 2, "one job per element, none for an empty input")
        const ok = yield* fork(run([1, 2, 3, 4, 5]))
        const failing = yield* fork(Effect.flip(run([5, 7, 9, 11])))
        const interrupted = yield* fork(run([20, 20, 20, 20], false))
        const taken = yield* fork(Stream.runCollect(pool.executeStream(Stream.make(3, 30, 30)).pipe(Stream.take(1))))
        yield* TestClock.adjust(3)
        yield* Fiber.interrupt(interrupted)
        yield* TestClock.adjust(200)
        assert.deepStrictEqual(yield* Fiber.join(ok), [10, 20, 30, 40, 50])
        assert.instanceOf(yield* Fiber.join(failing), Boom)
        assert.deepStrictEqual(yield* Fiber.join(taken), [30])
        yield* assertNothingLeft(pool, "after streams of every ending")
        yield* fork(run([1000, 1000, 1000, 1000])) // still running when the scope closes
        yield* TestClock.adjust(1)
      })))
      assert.isAtLeast(started, 6)
      assert.strictEqual(alive, 0, "no fiber left behind")
    }))
})

describe("executeStream (hostile): shutdown, drain, pause", () => {
  it.effect("pool.shutdown under a stream returns its queued inputs; the stream fails with PoolShutdown", () =>
    // the consumer left alone, or interrupted as the shutdown stops the running jobs (their finalizers take 20 ms);
    // or the producer waiting for room in a full queue, turned away
    each(
      [[true, false, false], [false, false, false], [true, true, false], [true, false, true]] as const,
      ([ordered, interrupt, full]) =>
        Effect.gen(function*() {
          const log = streamLog()
          const pool = yield* makePool({
            handler: (n: number) => log.around(n, nap(100).pipe(Effect.onInterrupt(() => Effect.sleep(20)))),
            concurrency: full ? 1 : 2,
            capacity: full ? 1 : 10
          })
          const fiber = yield* fork(
            collect(log, pool.executeStream(Stream.fromIterable(range(10)), { concurrency: 5, ordered }))
          )
          yield* TestClock.adjust(10)
          const when = `ordered: ${ordered}, interrupted: ${interrupt}, full: ${full}`
          const before = pick(yield* pool.stats, ["running", "queued", "waiting"])
          assert.deepStrictEqual(
            before,
            full ? { running: 1, queued: 1, waiting: 1 } : { running: 2, queued: 3, waiting: 0 }
          )
          const shutdown = yield* fork(pool.shutdown)
          if (interrupt) {
            const interrupter = yield* fork(Fiber.interrupt(fiber))
            yield* TestClock.adjust(5)
            assert.isUndefined(interrupter.pollUnsafe(), "the stream waits for its running jobs' finalizers")
          }
          yield* TestClock.adjust(20)
          const returned = yield* Fiber.join(shutdown)
          assert.deepStrictEqual(returned, full ? [1] : [2, 3, 4], `the stream's queued inputs are returned (${when})`)
          const exit = yield* Fiber.await(fiber)
          // the shutdown settles the queued jobs inline: the consumer may have its PoolShutdown before the interruption
          if (!(interrupt && interruptedOnly(exit))) {
            assert.instanceOf(failureOf(exit, when), WorkerPoolError.PoolShutdown)
          }
          yield* assertFinished(pool, log, when)
          const after = pick(yield* pool.stats, ["shutdown", "cancelled", "state"])
          assert.deepStrictEqual(after, { shutdown: full ? 2 : 5, cancelled: 0, state: "closed" }, when)
        })
    ))

  it.effect("pool.drain: a stream wholly submitted ends with every result; one with input to come fails, cleanly", () =>
    Effect.gen(function*() {
      const whole = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* makePool({ handler: nap, concurrency: 3 })
        const fiber = yield* fork(Stream.runCollect(pool.executeStream(Stream.make(30, 10, 20))))
        yield* TestClock.adjust(1)
        const drain = yield* fork(pool.drain)
        yield* TestClock.adjust(29)
        yield* Fiber.join(drain)
        assert.deepStrictEqual(pick(yield* pool.stats, ["succeeded", "state"]), { succeeded: 3, state: "closed" })
        return yield* Fiber.join(fiber)
      }))
      assert.deepStrictEqual(whole, [30, 10, 20])
      yield* each([true, false], (ordered) =>
        Effect.gen(function*() {
          const log = streamLog()
          const pool = yield* makePool({ handler: (n: number) => log.around(n, nap(10 + n)), concurrency: 3 })
          const fiber = yield* fork(
            collect(log, pool.executeStream(Stream.fromIterable(range(10)), { concurrency: 3, ordered }))
          )
          yield* TestClock.adjust(5)
          const drain = yield* fork(pool.drain)
          yield* TestClock.adjust(10)
          assert.instanceOf(failureOf(yield* Fiber.await(fiber), "drain"), WorkerPoolError.PoolShutdown)
          yield* TestClock.adjust(10)
          yield* Fiber.join(drain)
          yield* assertFinished(pool, log, `a drain under a stream (ordered: ${ordered})`)
          const stats = yield* pool.stats
          assert.strictEqual(stats.submitted, 3, "nothing is accepted once the pool drains")
          assert.strictEqual(stats.succeeded + stats.cancelled, 3)
        }))
    }))

  it.effect("a paused pool: the stream waits, then gives every result on resume; interrupted, none of it ever starts", () =>
    each([false, true], (interrupt) =>
      Effect.gen(function*() {
        const log = streamLog()
        const b = bounds(5)
        const pool = yield* makePool({
          handler: (n: number) => b.around(log.around(n, nap(1 + (n % 4)))),
          concurrency: 4,
          capacity: 3
        })
        b.attach(pool)
        yield* pool.pause
        const fiber = yield* fork(
          collect(log, b.count(pool.executeStream(Stream.fromIterable(range(12)), { concurrency: 5 })))
        )
        yield* TestClock.adjust(50)
        assert.deepStrictEqual(log.started, [])
        const paused = pick(yield* pool.stats, ["queued", "running", "waiting", "submitted"])
        assert.deepStrictEqual(paused, { queued: 3, running: 0, waiting: 1, submitted: 3 }, "waits for room")
        if (interrupt) yield* Fiber.interrupt(fiber)
        yield* pool.resume
        yield* runUntilDone(fiber, b.tick)
        assert.deepStrictEqual(b.violations, [])
        if (!interrupt) return assert.deepStrictEqual(yield* Fiber.join(fiber), range(12).map((n) => 1 + (n % 4)))
        assert.strictEqual((yield* pool.stats).cancelled, 3)
        yield* assertFinished(pool, log, "interrupted in a paused pool")
        assert.deepStrictEqual(log.started, [], "no job of the stream starts on resume")
      })))
})

describe("executeStream (hostile): options and services", () => {
  it.effect("bad options fail with InvalidJobOptions naming the option, before the input is pulled or a job submitted", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n), concurrency: 2 })
      const executor = yield* makeExecutor({ concurrency: 2 })
      let pulled = 0
      const input = Stream.fromEffect(Effect.sync(() => ++pulled))
      const bad: ReadonlyArray<readonly [unknown, string]> = [
        ...[0, -1, 1.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 2, "3"].map((c) =>
          [{ concurrency: c }, "concurrency"] as const
        ),
        ...["yes", 1, null].map((o) => [{ concurrency: 2, ordered: o }, "ordered"] as const),
        ["fast", "options"],
        [null, "options"]
      ]
      for (const [options, option] of bad) {
        const opts = options as WorkerPool.StreamOptions
        const fromPool = yield* Effect.flip(Stream.runCollect(pool.executeStream(input, opts)))
        const fromExecutor = yield* Effect.flip(
          Stream.runCollect(executor.executeStream(Stream.map(input, Effect.succeed), opts))
        )
        for (const error of [fromPool, fromExecutor]) {
          assert.instanceOf(error, WorkerPoolError.InvalidJobOptions, String(options))
          assert.strictEqual((error as WorkerPoolError.InvalidJobOptions).option, option, String(options))
        }
      }
      assert.strictEqual(pulled, 0, "the input is never pulled")
      assert.strictEqual((yield* pool.stats).submitted + (yield* executor.stats).submitted, 0)
      assert.deepStrictEqual(yield* Stream.runCollect(pool.executeStream(input, { concurrency: undefined })), [1])
    }))

  it.effect("executor: each effect runs with its caller's context, however provided; the input's own services too", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 2, capacity: 1 })
      const greet = (i: number) => Effect.map(Greeting, (g) => `${g} ${i}`).pipe(Effect.delay(i % 3))
      const stream = executor.executeStream(Stream.fromIterable(range(6)).pipe(Stream.map(greet)), { concurrency: 2 })
      const en = yield* fork(Stream.runCollect(stream).pipe(Effect.provideService(Greeting, "hello")))
      const fr = yield* fork(Stream.runCollect(stream).pipe(Effect.provideService(Greeting, "salut")))
      const hey = yield* fork(Stream.runCollect(stream.pipe(Stream.provideService(Greeting, "hey"))))
      yield* TestClock.adjust(100)
      for (const [fiber, g] of [[en, "hello"], [fr, "salut"], [hey, "hey"]] as const) {
        assert.deepStrictEqual(yield* Fiber.join(fiber), range(6).map((i) => `${g} ${i}`))
      }
      const pool = yield* makePool({ handler: (n: number) => Effect.succeed(n + 1), concurrency: 2 })
      const source = Stream.unwrap(Effect.map(Source, (xs) => Stream.fromIterable(xs)))
      const viaPool = yield* Stream.runCollect(pool.executeStream(source)).pipe(
        Effect.provideService(Source, [1, 2, 3])
      )
      assert.deepStrictEqual(viaPool, [2, 3, 4])
      const effects = Stream.map(source, (n) => Effect.map(Greeting, (g) => `${g}${n}`))
      const viaExecutor = yield* Stream.runCollect(executor.executeStream(effects, { ordered: false })).pipe(
        Effect.provideService(Source, [7, 8]),
        Effect.provideService(Greeting, "#")
      )
      assert.deepStrictEqual([...viaExecutor].sort(), ["#7", "#8"])
      yield* assertNothingLeft(executor, "after executor streams")
    }))

  it.effect("executor: a typed error unwrapped, a defect, and an element that is not an effect each fail the stream", () =>
    Effect.gen(function*() {
      const executor = yield* makeExecutor({ concurrency: 2 })
      const run = (effects: Stream.Stream<Effect.Effect<number, Boom>>) =>
        Effect.exit(Stream.runCollect(executor.executeStream(effects)))
      const job = (i: number) => Effect.andThen(Effect.sleep(5), i === 1 ? Effect.fail(boom(1)) : nap(100))
      const typed = yield* fork(run(Stream.fromIterable(range(4).map(job))))
      yield* TestClock.adjust(5)
      const error = failureOf(yield* Fiber.join(typed), "typed")
      assert.isTrue(error instanceof Boom && error.input === 1, "the effect's own error, not wrapped")
      yield* assertNothingLeft(executor, "after a typed failure, at once")
      const died = yield* run(Stream.make(Effect.die("no"), Effect.succeed(1)))
      assert.isTrue(Exit.isFailure(died) && Cause.hasDies(died.cause))
      const notEffect = yield* run(Stream.make(42 as unknown as Effect.Effect<number>))
      assert.isTrue(Exit.isFailure(notEffect) && Cause.hasDies(notEffect.cause), "what is not an effect dies")
      yield* assertNothingLeft(executor, "after executor failures")
    }))
})

describe("executeStream (hostile): nested, run twice", () => {
  it.effect("a stream inside a job of another pool: its results; the outer job's timeout ends the inner stream's jobs", () =>
    Effect.gen(function*() {
      const log = streamLog()
      const inner = yield* makePool({ handler: (n: number) => log.around(n, nap(n)), concurrency: 2, capacity: 2 })
      const outer = yield* makePool({
        handler: (inputs: ReadonlyArray<number>) =>
          Stream.runCollect(inner.executeStream(Stream.fromIterable(inputs), { concurrency: 3 })).pipe(
            Effect.map((xs) => xs.reduce((a, b) => a + b, 0))
          ),
        concurrency: 2,
        timeout: 50
      })
      const sums = yield* fork(outer.executeAll([[1, 2, 3], [4, 5]]))
      yield* TestClock.adjust(20)
      assert.deepStrictEqual(yield* Fiber.join(sums), [6, 9])
      const slow = yield* fork(Effect.flip(outer.execute([10, 40, 40, 40, 40])))
      yield* TestClock.adjust(50)
      assert.instanceOf(yield* Fiber.join(slow), WorkerPoolError.JobTimeout)
      yield* assertFinished(inner, log, "after the outer job timed out")
      yield* assertNothingLeft(outer, "the outer pool")
    }))

  it.effect("the same Stream value run twice, one after the other and side by side: each run complete and independent", () =>
    Effect.gen(function*() {
      const pool = yield* makePool({
        handler: (n: number) => Effect.sleep(1 + (n % 5)).pipe(Effect.as(n)),
        concurrency: 4
      })
      for (const ordered of [true, false]) {
        const stream = pool.executeStream(Stream.fromIterable(range(12)), { concurrency: 3, ordered })
        const first = yield* fork(Stream.runCollect(stream))
        yield* TestClock.adjust(100)
        const again = yield* Effect.forEach(range(2), () => fork(Stream.runCollect(stream)))
        const taken = yield* fork(Stream.runCollect(stream.pipe(Stream.take(2))))
        yield* TestClock.adjust(100)
        for (const fiber of [first, ...again]) {
          const results = yield* Fiber.join(fiber)
          assert.deepStrictEqual(ordered ? results : sorted(results), range(12), `ordered: ${ordered}`)
        }
        assert.strictEqual((yield* Fiber.join(taken)).length, 2)
      }
      yield* assertNothingLeft(pool, "after a stream run many times")
    }))
})

// -----------------------------------------------------------------------------
// randomized
// -----------------------------------------------------------------------------

/** The seeds: 1 to `count` in CI; `POOL_SEED=a,b` replays those, `POOL_RUNS=n` adds n random ones. */
const streamSeeds = (count: number): ReadonlyArray<number> =>
  process.env.POOL_SEED !== undefined
    ? process.env.POOL_SEED.split(",").map((seed) => Number(seed.trim()))
    : [
      ...Array.from({ length: count }, (_, i) => i + 1),
      ...Array.from({ length: Number(process.env.POOL_RUNS ?? 0) }, () => Math.floor(Math.random() * 2 ** 31))
    ]

interface Item {
  readonly s: number
  readonly i: number
  readonly ms: number
  readonly fail: boolean
}

/**
 * `streams` random streams side by side on one random pool: random sizes, durations, failures, concurrency, order,
 * input chunks, take(n), interruption time and downstream delay. Each run's output must be a prefix in input order
 * (ordered) or a set of its own successes (unordered), complete when it succeeds; its error a failing element's; no
 * job of it left or started later; at most its `concurrency` of its jobs running; for a stream alone, `bounds`.
 */
const randomStreams = (streams: number, seeds: ReadonlyArray<number>) =>
  each(seeds, (seed) =>
    Effect.gen(function*() {
      let state = (seed * 7919 + streams) % 2147483648
      const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648
      const int = (n: number) => Math.floor(random() * n)
      const plans = range(streams).map((s) => {
        const n = int(25)
        return {
          items: range(n).map((i): Item => ({ s, i, ms: int(20), fail: random() < 0.05 })),
          concurrency: 1 + int(5),
          ordered: random() < 0.5,
          chunk: 1 + int(4),
          take: random() < 0.3 ? 1 + int(n + 1) : undefined,
          interruptAt: random() < 0.3 ? int(60) : undefined,
          downstream: random() < 0.4 ? int(6) : 0,
          inputFails: random() < 0.15
        }
      })
      const poolSize = { concurrency: 1 + int(4), capacity: 1 + int(6) }
      const msg = `seed ${seed}: ${
        JSON.stringify({ ...poolSize, plans: plans.map((p) => ({ ...p, items: p.items.length })) })
      }`
      const logs = plans.map(() => streamLog())
      const b = bounds(plans[0].concurrency)
      const over: Array<string> = []
      const pool = yield* makePool({
        handler: (x: Item) =>
          b.around(logs[x.s].around(
            x.i,
            Effect.suspend(() => {
              if (logs[x.s].running.size > plans[x.s].concurrency) over.push(`stream ${x.s}: ${logs[x.s].running.size}`)
              return Effect.sleep(x.ms).pipe(Effect.andThen(x.fail ? Effect.fail(boom(x.i)) : Effect.succeed(x.i)))
            })
          )),
        ...poolSize
      })
      if (streams === 1) b.attach(pool)
      const emitted = plans.map(() => [] as Array<number>)
      const fibers = yield* Effect.forEach(plans, (p, s) => {
        const items = Stream.fromIterable(p.items).pipe(Stream.rechunk(p.chunk))
        const input = p.inputFails ? Stream.concat(items, Stream.fail(boom(-1))) : items
        let out = b.count(pool.executeStream(input, { concurrency: p.concurrency, ordered: p.ordered }))
        if (p.downstream > 0) out = Stream.mapEffect(out, (x) => Effect.sleep(p.downstream).pipe(Effect.as(x)))
        if (p.take !== undefined) out = Stream.take(out, p.take)
        return fork(collect(logs[s], Stream.tap(out, (x) => Effect.sync(() => emitted[s].push(x)))))
      })
      const interrupted = plans.map(() => false)
      for (let t = 0; t < 60; t++) {
        for (const [s, p] of plans.entries()) {
          if (p.interruptAt !== t || fibers[s].pollUnsafe() !== undefined) continue
          interrupted[s] = true
          yield* Fiber.interrupt(fibers[s])
        }
        yield* b.tick
        yield* TestClock.adjust(1)
      }
      for (const [s, p] of plans.entries()) {
        yield* runUntilDone(fibers[s], b.tick)
        const exit = yield* Fiber.await(fibers[s])
        const out = emitted[s]
        const when = `${msg}, stream ${s}`
        assert.strictEqual(new Set(out).size, out.length, `${when}: no result twice: ${out}`)
        for (const x of out) assert.isFalse(p.items[x] === undefined || p.items[x].fail, `${when}: ${x} is a success`)
        if (p.ordered) assert.deepStrictEqual(out, range(out.length), `${when}: a prefix, in input order`)
        if (Exit.isSuccess(exit)) {
          const expected = p.take === undefined ? p.items.length : Math.min(p.take, p.items.length)
          assert.strictEqual(out.length, expected, `${when}: a successful run emits everything asked for`)
        } else if (Cause.hasInterruptsOnly(exit.cause)) {
          assert.isTrue(interrupted[s], `${when}: interrupted only when its consumer was`)
        } else {
          const error = failureOf(exit, when)
          assert.instanceOf(error, Boom, when)
          if ((error as Boom).input === -1) {
            assert.isTrue(p.inputFails, `${when}: the input's error only when it failed`)
            assert.strictEqual(out.length, p.items.length, `${when}: every result before the input's error`)
          } else assert.isTrue(p.items[(error as Boom).input].fail, `${when}: a failing element's error`)
        }
        if (
          !interrupted[s] && !p.items.some((x) => x.fail) && (!p.inputFails || (p.take ?? Infinity) <= p.items.length)
        ) {
          assert.isTrue(Exit.isSuccess(exit), `${when}: nothing to fail it`)
        }
        assertNoLateWork(logs[s], when)
      }
      assert.deepStrictEqual(over, [], msg)
      assert.deepStrictEqual(b.violations, [], msg)
      yield* assertNothingLeft(pool, msg)
      const before = logs.map((log) => log.started.length)
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(logs.map((log) => log.started.length), before, `${msg}: nothing starts later`)
    }))

describe("executeStream (hostile): randomized", () => {
  it.effect("one stream alone: random durations, failures, options, take, interruption, slow downstream", () =>
    randomStreams(1, streamSeeds(150)))

  it.effect("three streams side by side on one pool: each its own results, within its bound; nothing left", () =>
    randomStreams(3, streamSeeds(60)))
})
