/**
 * The options every durable store shares, resolved and checked once when its layer is built.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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
