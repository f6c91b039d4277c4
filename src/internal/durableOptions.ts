/**
 * The options every durable store shares, resolved and checked once when its layer is built.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { InvalidQueueOptions } from "../WorkerPoolError.ts"
import { durationMillis } from "./options.ts"

/**
 * A `Duration.Input` read strictly: `None` for what is not a duration, where `Duration.fromInput` would read a
 * mistake (`NaN`, `{}`) as zero.
 *
 * @internal
 */
export const decodeDuration = (input: unknown): Option.Option<Duration.Duration> => {
  const millis = durationMillis(input)
  if (millis === undefined || millis === -Infinity) return Option.none()
  return Option.some(millis === Infinity ? Duration.infinity : Duration.millis(millis))
}

/**
 * The longest delay a job can wait, before its first attempt or between attempts: `Number.MAX_SAFE_INTEGER`
 * milliseconds, about 285,000 years. Every store keeps such a due time (PostgreSQL's timestamps end in the year
 * 294276, a little later), so that a delay means the same on every store: an offer asks for at most this much, and a
 * retry schedule's longer delays (or infinite ones) wait this long.
 *
 * @internal
 */
export const maxDelay: Duration.Duration = Duration.millis(Number.MAX_SAFE_INTEGER)

/** The text given as the reason a longer delay was refused. */
export const delayRule = "a finite duration of at most Number.MAX_SAFE_INTEGER milliseconds (about 285,000 years)"

/**
 * A queue's retry schedule with every delay capped at `maxDelay`.
 *
 * @internal
 */
export const boundedDelays = <Input>(schedule: Schedule.Schedule<any, Input>): Schedule.Schedule<any, Input> =>
  Schedule.modifyDelay(schedule, ({ duration }) => Effect.succeed(Duration.min(duration, maxDelay)))

/**
 * Whether `id` can be a job's id: a non-empty string of at most 255 characters, with no lone surrogate (Redis and
 * PostgreSQL keep text as UTF-8, where every lone surrogate becomes U+FFFD: two such ids would be one job, and one
 * job's outcome would answer for the other) and no NUL (PostgreSQL's text cannot hold it). Every store takes the same
 * ids, so that swapping a layer never changes which ids work.
 *
 * @internal
 */
export const isJobId = (id: unknown): id is string =>
  typeof id === "string" && id.length > 0 && id.length <= 255 && !loneSurrogate.test(id) && !id.includes("\u0000")

/** The text `isJobId` gives as the reason an id was refused. */
export const jobIdRule = "a non-empty string of at most 255 characters, without lone surrogates or NUL"

/** A UTF-16 code unit of a surrogate pair without its other half (with the `u` flag, a pair is one code point). */
const loneSurrogate = /\p{Cs}/u

/** @internal */
export interface StoreTimings {
  readonly pollInterval?: Duration.Input | undefined
  readonly lockExpiration?: Duration.Input | undefined
  readonly lockRefreshInterval?: Duration.Input | undefined
}

/** @internal */
export interface ResolvedTimings {
  readonly pollInterval: Duration.Duration
  readonly lockExpiration: Duration.Duration
  readonly lockRefreshInterval: Duration.Duration
}

/** An invalid store option: it concerns every queue of the store, so `queue` is `"*"`. @internal */
export const invalidStoreOption = (option: string, value: unknown, reason: string): InvalidQueueOptions =>
  new InvalidQueueOptions({ queue: "*", option, value, reason })

/** @internal */
export const resolveTimings = (
  options: StoreTimings,
  defaults: { readonly pollInterval: Duration.Duration }
): Effect.Effect<ResolvedTimings, InvalidQueueOptions> =>
  Effect.gen(function*() {
    const pollInterval = yield* duration("pollInterval", options.pollInterval, defaults.pollInterval)
    const lockExpiration = yield* duration("lockExpiration", options.lockExpiration, Duration.seconds(30))
    const lockRefreshInterval = yield* duration(
      "lockRefreshInterval",
      options.lockRefreshInterval,
      Duration.seconds(10)
    )
    if (!Duration.isLessThan(lockRefreshInterval, lockExpiration)) {
      return yield* invalidStoreOption(
        options.lockRefreshInterval === undefined ? "lockExpiration" : "lockRefreshInterval",
        options.lockRefreshInterval ?? options.lockExpiration,
        "lockRefreshInterval must be shorter than lockExpiration (default 10 s and 30 s), or locks lapse while jobs run"
      )
    }
    return { pollInterval, lockExpiration, lockRefreshInterval }
  })

const duration = (
  option: string,
  input: Duration.Input | undefined,
  fallback: Duration.Duration
): Effect.Effect<Duration.Duration, InvalidQueueOptions> => {
  if (input === undefined) return Effect.succeed(fallback)
  const decoded = decodeDuration(input)
  return Option.isSome(decoded) && Duration.isPositive(decoded.value) && Duration.isFinite(decoded.value)
    ? Effect.succeed(decoded.value)
    : Effect.fail(invalidStoreOption(option, input, "a positive, finite duration"))
}
