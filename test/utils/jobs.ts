import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { WorkerPool } from "../../src/index.ts"

/** The typed error of the tests' handlers: which input failed, on which attempt, and whether to retry it. */
export class Boom extends Schema.TaggedError<Boom>()("Boom", {
  input: Schema.Number,
  attempt: Schema.Number,
  retryable: Schema.Boolean
}) {}

/** A handler that sleeps `ms` virtual milliseconds and returns its input. */
export const sleeper = (ms: number) => Effect.sleep(ms).pipe(Effect.as(ms))

/** Records how many handlers run at once. */
export const concurrencyProbe = () => {
  let current = 0
  let max = 0
  return {
    around: <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          current++
          if (current > max) max = current
        }),
        () => self,
        () =>
          Effect.sync(() => {
            current--
          })
      ),
    get current() {
      return current
    },
    get max() {
      return max
    }
  }
}

/** One start of a handler (a job's attempt), as the handler saw it. */
export interface Start {
  readonly input: number
  readonly at: number
  readonly attempt: number
  readonly priority: number
  readonly key: string | undefined
}

/** Records every start of a handler with the virtual time and the JobInfo it received. */
export const recorder = () => {
  const starts: Array<Start> = []
  return {
    starts,
    record: (input: number, job: WorkerPool.JobInfo): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.sync(() => {
          starts.push({ input, at, attempt: job.attempt, priority: job.priority, key: job.key })
        })),
    inputs: () => starts.map((s) => s.input),
    times: () => starts.map((s) => s.at),
    of: (input: number) => starts.filter((s) => s.input === input)
  }
}

/** Every window of length `interval` holds at most `limit` of the given start times. */
export const assertWindows = (starts: ReadonlyArray<number>, limit: number, interval: number) => {
  const sorted = [...starts].sort((a, b) => a - b)
  for (let i = 0; i + limit < sorted.length; i++) {
    assert.isAtLeast(
      sorted[i + limit] - sorted[i],
      interval,
      `more than ${limit} starts within ${interval} ms: ${sorted.join(",")}`
    )
  }
}

/** The job (as its handle's `poll` saw it) settled, interrupted and nothing else. */
export const isInterrupted = (exit: Option.Option<Exit.Exit<unknown, unknown>>): boolean =>
  Option.isSome(exit) && Exit.isFailure(exit.value) && Cause.hasInterruptsOnly(exit.value.cause)
