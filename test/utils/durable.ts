/**
 * The durable queue's contract, as one suite that runs on every store: memory, Redis, PostgreSQL. A store joins it
 * with one line: `durableConformance(name, makeStore)`. Real time (`it.live`): the stores poll and lock on the
 * clocks of real servers. Each test builds its own store with `makeStore()` and its own queue name.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { DurableQueue, WorkerPoolError } from "../../src/index.ts"

/** Builds a fresh store; the suite's queues get names unique to the test. */
export type MakeStore = () => Layer.Layer<DurableQueue.DurableQueueStore, unknown>

export class Rejected extends Schema.TaggedError<Rejected>("test/Rejected")("Rejected", {
  reason: Schema.String,
  attempt: Schema.Number
}) {
  override get message(): string {
    return `rejected: ${this.reason}`
  }
}

const Input = Schema.Struct({ n: Schema.Number })
const LooseInput = Schema.Struct({ n: Schema.Unknown })

let counter = 0
const uniqueName = (label: string) => `${label}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

const fast = Schedule.spaced("10 millis")

const queueOf = (label: string, options: { readonly maxAttempts?: number; readonly keep?: boolean } = {}) =>
  DurableQueue.define({
    name: uniqueName(label),
    input: Input,
    success: Schema.Number,
    error: Rejected,
    maxAttempts: options.maxAttempts ?? 3,
    retrySchedule: fast,
    resultTimeToLive: options.keep === false ? undefined : "1 hour"
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<A, E>).cause)
  assert.isTrue(Option.isSome(error), "expected a typed failure")
  return (error as Option.Some<E>).value
}

/** Takes `n` items from a queue, failing the test after `seconds` (20 s). */
export const takeN = <A>(queue: Queue.Queue<A>, n: number, seconds = 20) =>
  Queue.takeN(queue, n).pipe(Effect.timeout(Duration.seconds(seconds)), Effect.orDie)

/** Polls `check` every 20 ms until it holds, for at most 20 s. */
export const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  effect.pipe(
    Effect.filterOrFail(check, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeout("20 seconds"),
    Effect.orDie
  )

/** What a store can tell beyond the contract's minimum. */
export interface Capabilities {
  /** `counts` gives the age of the job first in line. */
  readonly oldestWaiting?: boolean | undefined
}

export const durableConformance = (store: string, makeStore: MakeStore, capabilities: Capabilities = {}) =>
  describe(`the durable queue on ${store}`, () => {
    const live = (
      title: string,
      body: () => Effect.Effect<void, unknown, DurableQueue.DurableQueueStore | Scope.Scope>
    ) => it.live(title, () => Effect.provide(Effect.scoped(body()), makeStore()), 60_000)

    live("offered jobs are consumed, and each outcome can be awaited by id", () =>
      Effect.gen(function*() {
        const queue = queueOf("basic")
        const ids: Array<string> = []
        for (let n = 1; n <= 5; n++) ids.push(yield* DurableQueue.offer(queue, { n }))
        assert.strictEqual(new Set(ids).size, 5)
        const seen = yield* Queue.unbounded<number>()
        yield* DurableQueue.consume(queue, {
          concurrency: 2,
          handler: ({ n }) => Effect.as(Queue.offer(seen, n), n * n)
        })
        const ran = yield* takeN(seen, 5)
        assert.deepStrictEqual([...ran].sort(), [1, 2, 3, 4, 5])
        for (let i = 0; i < 5; i++) {
          assert.strictEqual(yield* DurableQueue.result(queue, ids[i]), (i + 1) * (i + 1))
        }
      }))

    live("an id already offered is stored once; offer returns it either way", () =>
      Effect.gen(function*() {
        const queue = queueOf("dedupe")
        assert.strictEqual(yield* DurableQueue.offer(queue, { n: 1 }, { id: "job-a" }), "job-a")
        assert.strictEqual(yield* DurableQueue.offer(queue, { n: 2 }, { id: "job-a" }), "job-a")
        yield* DurableQueue.offer(queue, { n: 3 }, { id: "job-b" })
        const seen = yield* Queue.unbounded<number>()
        yield* DurableQueue.consume(queue, { handler: ({ n }) => Effect.as(Queue.offer(seen, n), n) })
        assert.deepStrictEqual([...(yield* takeN(seen, 2))], [1, 3])
        assert.strictEqual(yield* DurableQueue.result(queue, "job-b"), 3)
        // a completed id is still known: offering it again runs nothing
        yield* DurableQueue.offer(queue, { n: 4 }, { id: "job-a" })
        yield* DurableQueue.offer(queue, { n: 5 }, { id: "job-c" })
        assert.deepStrictEqual([...(yield* takeN(seen, 1))], [5])
      }))

    live("a delayed job is not delivered before its delay", () =>
      Effect.gen(function*() {
        const queue = queueOf("delay")
        const seen = yield* Queue.unbounded<number>()
        yield* DurableQueue.consume(queue, {
          handler: () => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.as(Queue.offer(seen, now), 0))
        })
        const offeredAt = yield* Clock.currentTimeMillis
        yield* DurableQueue.offer(queue, { n: 1 }, { delay: "1 second" })
        yield* DurableQueue.offer(queue, { n: 2 })
        const [first, second] = yield* takeN(seen, 2)
        assert.isBelow(first - offeredAt, 1000, "the job without a delay runs at once")
        assert.isAtLeast(second - offeredAt, 1000, "the delayed job waits for its delay")
      }))

    live(
      "a typed failure is retried by the queue's schedule, with the attempt number, until it succeeds",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("retry", { maxAttempts: 3 })
          const attempts = yield* Queue.unbounded<number>()
          yield* DurableQueue.consume(queue, {
            handler: (_, job) =>
              Effect.andThen(
                Queue.offer(attempts, job.attempts),
                job.attempts < 3
                  ? Effect.fail(new Rejected({ reason: "not yet", attempt: job.attempts }))
                  : Effect.succeed(42)
              )
          })
          const id = yield* DurableQueue.offer(queue, { n: 1 })
          assert.strictEqual(yield* DurableQueue.result(queue, id), 42)
          assert.deepStrictEqual([...(yield* takeN(attempts, 3))], [1, 2, 3])
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        })
    )

    live(
      "a job that fails every attempt is recorded as failed with its typed error, then requeued runs again",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("exhausted", { maxAttempts: 2 })
          let healthy = false
          const runs = yield* Queue.unbounded<number>()
          yield* DurableQueue.consume(queue, {
            handler: ({ n }, job) =>
              Effect.andThen(
                Queue.offer(runs, job.attempts),
                healthy ? Effect.succeed(n) : Effect.fail(new Rejected({ reason: "broken", attempt: job.attempts }))
              )
          })
          const offeredAt = yield* Clock.currentTimeMillis
          const id = yield* DurableQueue.offer(queue, { n: 9 }, { id: "always-fails" })
          const error = failureOf(yield* Effect.exit(DurableQueue.result(queue, id)))
          assert.instanceOf(error, Rejected)
          assert.strictEqual((error as Rejected).reason, "broken")
          assert.strictEqual((error as Rejected).attempt, 2, "the error of the last attempt is the one kept")
          const failed = yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 1)
          assert.strictEqual(failed[0].id, "always-fails")
          assert.strictEqual(failed[0].attempts, 2)
          assert.deepStrictEqual(failed[0].input, Option.some({ n: 9 }))
          assert.isTrue(Option.isSome(failed[0].error))
          assert.instanceOf(Option.getOrThrow(failed[0].error), Rejected)
          assert.include(failed[0].reason, "broken")
          // by the store's clock: the same machine's as ours here
          const failedAt = DateTime.toEpochMillis(Option.getOrThrow(failed[0].failedAt))
          assert.isAtLeast(failedAt, offeredAt - 50)
          assert.isAtMost(failedAt, (yield* Clock.currentTimeMillis) + 50)
          assert.deepStrictEqual([...(yield* takeN(runs, 2))], [1, 2])

          // a failed id stays de-duplicated: offering it again runs nothing
          yield* DurableQueue.offer(queue, { n: 10 }, { id: "always-fails" })
          healthy = true
          assert.isTrue(yield* DurableQueue.requeue(queue, id))
          assert.strictEqual(yield* DurableQueue.result(queue, id), 9)
          assert.deepStrictEqual([...(yield* takeN(runs, 1))], [1], "a requeued job starts again from attempt 1")
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
          assert.isFalse(yield* DurableQueue.requeue(queue, id), "a job no longer failed is not requeued")
          assert.isFalse(yield* DurableQueue.requeue(queue, "never-offered"))
        })
    )

    live(
      "a stored input that no longer decodes is recorded as failed once, without running",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("decode")
          const loose = DurableQueue.define({ name: queue.name, input: LooseInput, success: Schema.Number })
          yield* DurableQueue.offer(loose, { n: "not a number" }, { id: "bad" })
          yield* DurableQueue.offer(queue, { n: 2 }, { id: "good" })
          let calls = 0
          yield* DurableQueue.consume(queue, {
            handler: ({ n }) =>
              Effect.sync(() => {
                calls++
                return n
              })
          })
          assert.strictEqual(yield* DurableQueue.result(queue, "good"), 2)
          const error = failureOf(yield* Effect.exit(DurableQueue.result(queue, "bad")))
          assert.instanceOf(error, WorkerPoolError.JobSchemaError)
          assert.strictEqual((error as WorkerPoolError.JobSchemaError).side, "input")
          assert.strictEqual((error as WorkerPoolError.JobSchemaError).stage, "decode")
          const failed = yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 1)
          assert.strictEqual(failed[0].id, "bad")
          assert.strictEqual(failed[0].attempts, 1)
          assert.isTrue(Option.isNone(failed[0].input))
          assert.isTrue(failed[0].reason.length > 0)
          assert.strictEqual(calls, 1)
        })
    )

    live("an input that fails its schema is refused at the producer with JobSchemaError", () =>
      Effect.gen(function*() {
        const queue = queueOf("producer-check")
        const exit = yield* Effect.exit(DurableQueue.offer(queue, { n: "x" } as never, { id: "refused" }))
        const error = failureOf(exit)
        assert.instanceOf(error, WorkerPoolError.JobSchemaError)
        assert.strictEqual((error as WorkerPoolError.JobSchemaError).stage, "encode")
        // nothing was stored: the id is still free
        yield* DurableQueue.offer(queue, { n: 5 }, { id: "refused" })
        yield* DurableQueue.consume(queue, { handler: ({ n }) => Effect.succeed(n) })
        assert.strictEqual(yield* DurableQueue.result(queue, "refused"), 5)
      }))

    live(
      "a success its schema cannot encode fails the attempt with JobSchemaError, and is retried",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("bad-success", { maxAttempts: 2 })
          yield* DurableQueue.consume(queue, {
            handler: (_, job) => Effect.succeed(job.attempts === 1 ? ("not a number" as unknown as number) : 2)
          })
          const id = yield* DurableQueue.offer(queue, { n: 1 })
          assert.strictEqual(yield* DurableQueue.result(queue, id), 2)

          const always = queueOf("bad-success-final", { maxAttempts: 1 })
          yield* DurableQueue.consume(always, { handler: () => Effect.succeed("never a number" as unknown as number) })
          const badId = yield* DurableQueue.offer(always, { n: 1 })
          const error = failureOf(yield* Effect.exit(DurableQueue.result(always, badId)))
          assert.instanceOf(error, WorkerPoolError.JobSchemaError)
          assert.strictEqual((error as WorkerPoolError.JobSchemaError).side, "success")
          assert.strictEqual((error as WorkerPoolError.JobSchemaError).stage, "encode")
          const failed = yield* eventually(DurableQueue.failed(always), (jobs) => jobs.length === 1)
          assert.include(failed[0].reason, "JobSchemaError")
        })
    )

    live("an attempt that runs past its timeout fails with JobTimeout and is retried", () =>
      Effect.gen(function*() {
        const queue = queueOf("timeout", { maxAttempts: 2 })
        yield* DurableQueue.consume(queue, {
          timeout: "50 millis",
          handler: (_, job) => job.attempts === 1 ? Effect.never : Effect.succeed(job.attempts)
        })
        const id = yield* DurableQueue.offer(queue, { n: 1 })
        assert.strictEqual(yield* DurableQueue.result(queue, id), 2)

        const stuck = queueOf("timeout-final", { maxAttempts: 1 })
        yield* DurableQueue.consume(stuck, { timeout: "50 millis", handler: () => Effect.never })
        const stuckId = yield* DurableQueue.offer(stuck, { n: 1 })
        const error = failureOf(yield* Effect.exit(DurableQueue.result(stuck, stuckId)))
        assert.instanceOf(error, WorkerPoolError.JobTimeout)
      }))

    live(
      "closing a consumer releases its running job at its deadline without spending an attempt",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("release")
          const started = yield* Deferred.make<number>()
          const scope = yield* Scope.make()
          yield* DurableQueue.consume(queue, {
            shutdownTimeout: "50 millis",
            handler: (_, job) => Effect.andThen(Deferred.succeed(started, job.attempts), Effect.never)
          }).pipe(Scope.provide(scope))
          const id = yield* DurableQueue.offer(queue, { n: 1 })
          assert.strictEqual(yield* Deferred.await(started), 1)
          yield* Scope.close(scope, Exit.void)
          const attempts = yield* Queue.unbounded<number>()
          yield* DurableQueue.consume(queue, {
            handler: ({ n }, job) => Effect.as(Queue.offer(attempts, job.attempts), n)
          })
          assert.strictEqual(yield* DurableQueue.result(queue, id), 1)
          assert.deepStrictEqual([...(yield* takeN(attempts, 1))], [1], "the released job runs again as attempt 1")
        })
    )

    live("closing a consumer lets a running job finish within its deadline", () =>
      Effect.gen(function*() {
        const queue = queueOf("finish")
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        yield* DurableQueue.consume(queue, {
          shutdownTimeout: "10 seconds",
          handler: ({ n }) =>
            Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Deferred.await(release), n))
        }).pipe(Scope.provide(scope))
        const id = yield* DurableQueue.offer(queue, { n: 7 })
        yield* Deferred.await(started)
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        yield* Effect.sleep("50 millis")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(closing)
        assert.strictEqual(yield* DurableQueue.result(queue, id), 7)
      }))

    live("one consumer at concurrency 1 runs jobs in the order they were offered", () =>
      Effect.gen(function*() {
        const queue = queueOf("order")
        for (let n = 0; n < 20; n++) yield* DurableQueue.offer(queue, { n })
        const seen = yield* Queue.unbounded<number>()
        yield* DurableQueue.consume(queue, { handler: ({ n }) => Effect.as(Queue.offer(seen, n), n) })
        assert.deepStrictEqual([...(yield* takeN(seen, 20))], Array.from({ length: 20 }, (_, n) => n))
      }))

    live(
      "cleanup forgets completed jobs, so their ids can be offered again; failed ones stay unless asked",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("cleanup", { maxAttempts: 1 })
          const seen = yield* Queue.unbounded<number>()
          yield* DurableQueue.consume(queue, {
            handler: ({ n }, job) =>
              Effect.andThen(
                Queue.offer(seen, n),
                n < 0 ? Effect.fail(new Rejected({ reason: "negative", attempt: job.attempts })) : Effect.succeed(n)
              )
          })
          yield* DurableQueue.offer(queue, { n: 1 }, { id: "done" })
          yield* DurableQueue.offer(queue, { n: -1 }, { id: "broken" })
          assert.deepStrictEqual([...(yield* takeN(seen, 2))].sort(), [-1, 1])
          yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 1)
          yield* Effect.sleep("20 millis")
          yield* DurableQueue.cleanup(queue, { timeToLive: 0 })
          assert.strictEqual((yield* DurableQueue.failed(queue)).length, 1, "failed jobs are kept by default")
          yield* DurableQueue.offer(queue, { n: 2 }, { id: "done" })
          assert.deepStrictEqual([...(yield* takeN(seen, 1))], [2], "a cleaned-up id is free again")
          yield* Effect.sleep("20 millis")
          yield* DurableQueue.cleanup(queue, { timeToLive: 0, failedTimeToLive: 0 })
          assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        })
    )

    live("counts tell waiting, delayed, running and failed jobs apart", () =>
      Effect.gen(function*() {
        const queue = queueOf("counts", { maxAttempts: 1 })
        const empty = yield* DurableQueue.counts(queue)
        assert.strictEqual(empty.oldestWaitingMillis, undefined, "no job waits")
        const offeredAt = yield* Clock.currentTimeMillis
        yield* DurableQueue.offer(queue, { n: 1 })
        yield* DurableQueue.offer(queue, { n: 2 })
        yield* DurableQueue.offer(queue, { n: 3 }, { delay: "1 hour" })
        yield* Effect.sleep("300 millis")
        const { oldestWaitingMillis: oldest, ...before } = yield* DurableQueue.counts(queue)
        const age = (yield* Clock.currentTimeMillis) - offeredAt
        assert.strictEqual(before.failed, 0)
        if (before.waiting !== undefined) {
          assert.deepStrictEqual(before, { waiting: 2, delayed: 1, running: 0, failed: 0 })
        }
        if (capabilities.oldestWaiting === true) {
          assert.isDefined(oldest)
          // the store's clock and ours are the same machine's, read a few milliseconds apart
          assert.isAtLeast(oldest!, 250, "the first job in line has waited since it was offered")
          assert.isAtMost(oldest!, age + 50)
        } else {
          assert.strictEqual(oldest, undefined)
        }
        const release = yield* Deferred.make<void>()
        const started = yield* Queue.unbounded<number>()
        yield* DurableQueue.consume(queue, {
          handler: ({ n }, job) =>
            Effect.andThen(
              Queue.offer(started, n),
              n === 1
                ? Effect.fail(new Rejected({ reason: "one", attempt: job.attempts }))
                : Effect.as(Deferred.await(release), n)
            )
        })
        assert.deepStrictEqual([...(yield* takeN(started, 2))], [1, 2])
        const during = yield* eventually(DurableQueue.counts(queue), (counts) => counts.failed === 1)
        if (during.waiting !== undefined) {
          assert.deepStrictEqual(during, {
            waiting: 0,
            delayed: 1,
            running: 1,
            failed: 1,
            oldestWaitingMillis: undefined
          })
        }
        yield* Deferred.succeed(release, undefined)
      }))

    if (capabilities.oldestWaiting === true) {
      live(
        "a delayed job whose delay has ended waits, and its age counts from then, with no consumer to move it",
        () =>
          Effect.gen(function*() {
            const queue = queueOf("due")
            yield* DurableQueue.offer(queue, { n: 1 }, { delay: "1 second" })
            const before = yield* DurableQueue.counts(queue)
            assert.deepStrictEqual([before.waiting, before.delayed, before.oldestWaitingMillis], [0, 1, undefined])
            yield* Effect.sleep("1500 millis")
            const after = yield* DurableQueue.counts(queue)
            assert.deepStrictEqual([after.waiting, after.delayed], [1, 0])
            assert.isAtLeast(after.oldestWaitingMillis!, 400)
            assert.isAtMost(after.oldestWaitingMillis!, 700)
          })
      )
    }

    live(
      "the consumers of a queue are listed while they run, leave when they stop, and expire when silent",
      () =>
        Effect.gen(function*() {
          const queue = queueOf("consumers")
          assert.deepStrictEqual(yield* DurableQueue.consumers(queue), [])
          const before = yield* Clock.currentTimeMillis
          const first = yield* Scope.make()
          yield* DurableQueue.consume(queue, { name: "first", concurrency: 2, handler: ({ n }) => Effect.succeed(n) })
            .pipe(
              Scope.provide(first)
            )
          yield* DurableQueue.consume(queue, { name: "second", handler: ({ n }) => Effect.succeed(n) })
          const both = yield* eventually(DurableQueue.consumers(queue), (consumers) => consumers.length === 2)
          const after = yield* Clock.currentTimeMillis
          assert.deepStrictEqual(
            both.map((consumer) => [consumer.name, consumer.concurrency, consumer.running]).sort(),
            [["first", 2, 0], ["second", 1, 0]]
          )
          assert.strictEqual(new Set(both.map((consumer) => consumer.id)).size, 2)
          for (const consumer of both) {
            assert.isAtLeast(consumer.startedAt, before)
            assert.isAtMost(consumer.startedAt, after)
            // the store's clock: the same machine's as ours here
            assert.isAtLeast(consumer.seenAt, before - 50)
            assert.isAtMost(consumer.seenAt, after + 50)
          }
          yield* Scope.close(first, Exit.void)
          assert.deepStrictEqual(
            (yield* DurableQueue.consumers(queue)).map((consumer) => consumer.name),
            ["second"],
            "a consumer whose scope closed leaves the list at once"
          )
          // a consumer whose process died stops beating: the store forgets it after its time to live
          const backend = yield* DurableQueue.DurableQueueStore
          yield* backend.heartbeat(queue.name, {
            id: "silent",
            name: "silent",
            concurrency: 1,
            startedAt: before,
            running: 1,
            succeeded: 3,
            failed: 1
          }, Duration.millis(300))
          const listed = yield* DurableQueue.consumers(queue)
          assert.deepStrictEqual(listed.map((consumer) => consumer.name).sort(), ["second", "silent"])
          const silent = listed.find((consumer) => consumer.id === "silent")!
          assert.deepStrictEqual([silent.running, silent.succeeded, silent.failed], [1, 3, 1])
          yield* Effect.sleep("500 millis")
          assert.deepStrictEqual(
            (yield* DurableQueue.consumers(queue)).map((consumer) => consumer.name),
            ["second"],
            "the silent consumer expired, the live one did not"
          )
        })
    )

    live("remove takes a job out of the failed record and frees its id", () =>
      Effect.gen(function*() {
        const queue = queueOf("remove", { maxAttempts: 1 })
        const seen = yield* Queue.unbounded<number>()
        yield* DurableQueue.consume(queue, {
          handler: ({ n }, job) =>
            Effect.andThen(
              Queue.offer(seen, n),
              n < 0 ? Effect.fail(new Rejected({ reason: "negative", attempt: job.attempts })) : Effect.succeed(n)
            )
        })
        yield* DurableQueue.offer(queue, { n: -1 }, { id: "doomed" })
        yield* eventually(DurableQueue.failed(queue), (jobs) => jobs.length === 1)
        assert.isTrue(yield* DurableQueue.remove(queue, "doomed"))
        assert.deepStrictEqual(yield* DurableQueue.failed(queue), [])
        assert.isFalse(yield* DurableQueue.remove(queue, "doomed"))
        assert.strictEqual((yield* DurableQueue.counts(queue)).failed, 0)
        yield* DurableQueue.offer(queue, { n: 4 }, { id: "doomed" })
        assert.strictEqual(yield* DurableQueue.result(queue, "doomed"), 4)
      }))

    live("bad options fail with InvalidQueueOptions naming the option", () =>
      Effect.gen(function*() {
        const badName = DurableQueue.define({ name: "a{b}", input: Input, success: Schema.Number })
        const nameError = failureOf(yield* Effect.exit(DurableQueue.offer(badName, { n: 1 })))
        assert.instanceOf(nameError, WorkerPoolError.InvalidQueueOptions)
        assert.strictEqual((nameError as WorkerPoolError.InvalidQueueOptions).option, "name")
        const badAttempts = DurableQueue.define({ name: "q", input: Input, success: Schema.Number, maxAttempts: 0 })
        const attemptsError = failureOf(
          yield* Effect.exit(DurableQueue.consume(badAttempts, { handler: () => Effect.succeed(1) }))
        )
        assert.strictEqual((attemptsError as WorkerPoolError.InvalidQueueOptions).option, "maxAttempts")
        const queue = queueOf("options", { keep: false })
        const delayError = failureOf(
          yield* Effect.exit(DurableQueue.offer(queue, { n: 1 }, { delay: "soon" as never }))
        )
        assert.strictEqual((delayError as WorkerPoolError.InvalidQueueOptions).option, "delay")
        const idError = failureOf(yield* Effect.exit(DurableQueue.offer(queue, { n: 1 }, { id: "" })))
        assert.strictEqual((idError as WorkerPoolError.InvalidQueueOptions).option, "id")
        const resultError = failureOf(yield* Effect.exit(DurableQueue.result(queue, "x")))
        assert.strictEqual((resultError as WorkerPoolError.InvalidQueueOptions).option, "resultTimeToLive")
      }))
  })
