/**
 * Validation of pool and job options into their resolved form. Every check names the option and the value.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { InvalidJobOptions, InvalidPoolOptions } from "../WorkerPoolError.ts"

/** @internal */
export type OverflowStrategy = "suspend" | "fail" | "dropping" | "sliding"

/** @internal */
export interface ElasticConcurrency {
  readonly min: number
  readonly max: number
  readonly idleTimeout?: Duration.Input | undefined
}

/** @internal */
export interface RetryPolicy<E> {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly while?: ((error: E) => boolean) | undefined
  readonly timeouts?: boolean | undefined
  readonly defects?: boolean | undefined
}

/** @internal */
export type Retry<E> = Schedule.Schedule<unknown, unknown> | RetryPolicy<E>

/** @internal */
export interface RateLimit {
  readonly limit: number
  readonly interval: Duration.Input
}

/** @internal */
export interface PoolSettings {
  readonly concurrency?: number | ElasticConcurrency | undefined
  readonly capacity?: number | undefined
  readonly overflow?: OverflowStrategy | undefined
  readonly timeout?: Duration.Input | undefined
  readonly shutdownTimeout?: Duration.Input | undefined
  readonly name?: string | undefined
  readonly rateLimit?: RateLimit | undefined
  readonly metrics?: boolean | undefined
  readonly tracing?: boolean | undefined
}

/** @internal */
export interface ResolvedSettings {
  /** fewest workers kept alive */
  readonly minWorkers: number
  /** most workers at once: at most this many jobs run at any instant */
  readonly maxWorkers: number
  /** milliseconds a worker above `minWorkers` may stay idle before it stops */
  readonly idleTimeout: number
  readonly capacity: number
  readonly overflow: OverflowStrategy
  /** milliseconds; `Infinity` when jobs have no default timeout */
  readonly timeout: number
  /** milliseconds; `Infinity` waits for ever */
  readonly shutdownTimeout: number
  readonly name: string
  /** the default retry policy of jobs, if any */
  readonly retry: Retry<any> | undefined
  /** at most `limit` starts in any window of `intervalMillis` */
  readonly rateLimit: { readonly limit: number; readonly intervalMillis: number } | undefined
  /** whether the pool registers its metric series */
  readonly metrics: boolean
  /** whether a job submitted inside a span runs in a child span of it */
  readonly tracing: boolean
}

/** @internal */
export const defaults = {
  concurrency: 1,
  idleTimeout: 10_000,
  capacity: 1024,
  overflow: "suspend",
  shutdownTimeout: 30_000,
  name: "worker-pool"
} as const

const overflows: ReadonlyArray<string> = ["suspend", "fail", "dropping", "sliding"]

/** @internal */
export const resolveSettings = (
  options: PoolSettings & { readonly retry?: Retry<any> | undefined }
): Effect.Effect<ResolvedSettings, InvalidPoolOptions> =>
  Effect.suspend(() => {
    const invalid = (option: string, value: unknown, reason: string) =>
      Exit.fail(new InvalidPoolOptions({ option, value, reason }))
    const { capacity, name, overflow } = options
    const sizing = resolveConcurrency(options.concurrency)
    if (sizing instanceof InvalidPoolOptions) return Exit.fail(sizing)
    if (capacity !== undefined && !isPositiveInteger(capacity)) {
      return invalid("capacity", capacity, "must be an integer of at least 1 (the queue is always bounded)")
    }
    if (overflow !== undefined && !overflows.includes(overflow)) {
      return invalid("overflow", overflow, `must be one of ${overflows.map((o) => `"${o}"`).join(", ")}`)
    }
    if (name !== undefined && (typeof name !== "string" || name.length === 0)) {
      return invalid("name", name, "must be a non-empty string")
    }
    const timeout = options.timeout === undefined ? Infinity : durationMillis(options.timeout)
    if (timeout === undefined || timeout <= 0) {
      return invalid("timeout", options.timeout, "must be a positive duration (or \"Infinity\" for none)")
    }
    const shutdownTimeout = options.shutdownTimeout === undefined
      ? defaults.shutdownTimeout
      : durationMillis(options.shutdownTimeout)
    if (shutdownTimeout === undefined || shutdownTimeout < 0) {
      return invalid("shutdownTimeout", options.shutdownTimeout, "must be a duration of 0 or more (or \"Infinity\")")
    }
    const retry = options.retry
    if (retry !== undefined) {
      const reason = checkRetry(retry)
      if (reason !== undefined) return invalid("retry", retry, reason)
    }
    let rateLimit: ResolvedSettings["rateLimit"] = undefined
    if (options.rateLimit !== undefined) {
      const { interval, limit } = (options.rateLimit ?? {}) as Partial<RateLimit>
      if (!isPositiveInteger(limit) || (limit as number) > maxRateLimit) {
        return invalid(
          "rateLimit.limit",
          limit,
          `must be an integer from 1 to ${
            maxRateLimit.toLocaleString("en-US")
          } (the limiter keeps one start time per ` +
            "allowed start: for more, use a shorter interval)"
        )
      }
      const intervalMillis = durationMillis(interval)
      if (intervalMillis === undefined || intervalMillis <= 0 || intervalMillis === Infinity) {
        return invalid("rateLimit.interval", interval, "must be a positive, finite duration")
      }
      rateLimit = { limit: limit as number, intervalMillis }
    }
    for (const flag of ["metrics", "tracing"] as const) {
      const value = options[flag]
      if (value !== undefined && typeof value !== "boolean") return invalid(flag, value, "must be true or false")
    }
    return Exit.succeed<ResolvedSettings>({
      ...sizing,
      capacity: capacity ?? defaults.capacity,
      overflow: overflow ?? defaults.overflow,
      timeout,
      shutdownTimeout,
      name: name ?? defaults.name,
      retry,
      rateLimit,
      metrics: options.metrics ?? true,
      tracing: options.tracing ?? true
    })
  })

/**
 * Resolves `concurrency`: a number gives a fixed pool, `{ min, max, idleTimeout }` an elastic one.
 *
 * @internal
 */
export const resolveConcurrency = (
  concurrency: number | ElasticConcurrency | undefined
): { readonly minWorkers: number; readonly maxWorkers: number; readonly idleTimeout: number } | InvalidPoolOptions => {
  if (concurrency === undefined) {
    return { minWorkers: defaults.concurrency, maxWorkers: defaults.concurrency, idleTimeout: defaults.idleTimeout }
  }
  if (typeof concurrency !== "object" || concurrency === null) {
    return isPositiveInteger(concurrency)
      ? { minWorkers: concurrency, maxWorkers: concurrency, idleTimeout: defaults.idleTimeout }
      : new InvalidPoolOptions({
        option: "concurrency",
        value: concurrency,
        reason: "must be an integer of at least 1, or { min, max, idleTimeout }"
      })
  }
  const { max, min } = concurrency
  if (!isPositiveInteger(max)) {
    return new InvalidPoolOptions({ option: "concurrency.max", value: max, reason: "must be an integer of at least 1" })
  }
  if (typeof min !== "number" || !Number.isInteger(min) || min < 0 || min > max) {
    return new InvalidPoolOptions({
      option: "concurrency.min",
      value: min,
      reason: `must be an integer from 0 to concurrency.max (${max})`
    })
  }
  const idleTimeout = concurrency.idleTimeout === undefined
    ? defaults.idleTimeout
    : durationMillis(concurrency.idleTimeout)
  if (idleTimeout === undefined || idleTimeout <= 0) {
    return new InvalidPoolOptions({
      option: "concurrency.idleTimeout",
      value: concurrency.idleTimeout,
      reason: "must be a positive duration"
    })
  }
  return { minWorkers: min, maxWorkers: max, idleTimeout }
}

/**
 * Checks a job's own options. Returns the error, or `undefined` when they are valid (the common case passes no
 * options and skips this).
 *
 * @internal
 */
export const checkJobOptions = (options: {
  readonly id?: string | undefined
  readonly timeout?: Duration.Input | undefined
  readonly priority?: number | undefined
  readonly key?: string | undefined
  readonly retry?: Retry<any> | false | undefined
}): InvalidJobOptions | undefined => {
  if (options.priority !== undefined && !Number.isFinite(options.priority)) {
    return new InvalidJobOptions({ option: "priority", value: options.priority, reason: "must be a finite number" })
  }
  if (options.key !== undefined && (typeof options.key !== "string" || options.key.length === 0)) {
    return new InvalidJobOptions({ option: "key", value: options.key, reason: "must be a non-empty string" })
  }
  if (options.retry !== undefined && options.retry !== false) {
    const reason = checkRetry(options.retry)
    if (reason !== undefined) return new InvalidJobOptions({ option: "retry", value: options.retry, reason })
  }
  if (options.id !== undefined && (typeof options.id !== "string" || options.id.length === 0)) {
    return new InvalidJobOptions({ option: "id", value: options.id, reason: "must be a non-empty string" })
  }
  if (options.timeout !== undefined) {
    const millis = durationMillis(options.timeout)
    if (millis === undefined || millis <= 0) {
      return new InvalidJobOptions({
        option: "timeout",
        value: options.timeout,
        reason: "must be a positive duration (or \"Infinity\" for none)"
      })
    }
  }
  return undefined
}

/**
 * A retry policy in its resolved form: what to retry, and the schedule that says when and how often.
 *
 * @internal
 */
export interface ResolvedRetry {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly while: ((error: unknown) => boolean) | undefined
  readonly timeouts: boolean
  readonly defects: boolean
}

/** @internal */
export const resolveRetry = (retry: Retry<any>): ResolvedRetry =>
  Schedule.isSchedule(retry)
    ? { schedule: retry, while: undefined, timeouts: false, defects: false }
    : {
      schedule: retry.schedule,
      while: retry.while,
      timeouts: retry.timeouts === true,
      defects: retry.defects === true
    }

const checkRetry = (retry: unknown): string | undefined => {
  if (Schedule.isSchedule(retry)) return undefined
  const reason = "must be a Schedule or { schedule, while?, timeouts?, defects? }"
  if (typeof retry !== "object" || retry === null) return reason
  const policy = retry as RetryPolicy<unknown>
  if (!Schedule.isSchedule(policy.schedule)) return reason
  if (policy.while !== undefined && typeof policy.while !== "function") return "`while` must be a function"
  return undefined
}

/** @internal */
export const durationMillis = (input: unknown): number | undefined => {
  if (typeof input === "number") return Number.isNaN(input) ? undefined : input
  const duration = Duration.fromInput(input as Duration.Input)
  if (Option.isNone(duration)) return undefined
  const millis = Duration.toMillis(duration.value)
  return Number.isNaN(millis) ? undefined : millis
}

/** The largest `rateLimit.limit`: its log of start times takes 8 bytes per allowed start (80 MB here). */
const maxRateLimit = 10_000_000

const isPositiveInteger = (n: unknown): boolean => typeof n === "number" && Number.isInteger(n) && n >= 1
