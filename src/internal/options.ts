/**
 * Validation of pool and job options into their resolved form. Options arrive as unknown values (from JavaScript,
 * casts or `Config`), so each check starts from the value's shape: a malformed option, at any depth, becomes an
 * `InvalidPoolOptions` or `InvalidJobOptions` naming it (`retry.schedule`, `concurrency.max`) and its value, never
 * a throw. Each field is read once. Names the checks do not know are ignored, so options may be spread from a larger
 * object.
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { OverflowStrategy, Retry } from "../WorkerPool.ts"
import { InvalidJobOptions, InvalidPoolOptions } from "../WorkerPoolError.ts"

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
  readonly retry: ResolvedRetry | undefined
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

/**
 * The most workers a pool may have (`concurrency`, `concurrency.max`, `resize`). Each worker is a fiber that lives as
 * long as the pool: 10,000 of them start in under 0.1 s and take about 20 MB, 100,000 take over a second and about
 * 200 MB, so a size above this is taken for a typo rather than a plan.
 *
 * @internal
 */
export const maxConcurrency = 10_000

// -----------------------------------------------------------------------------
// pool options
// -----------------------------------------------------------------------------

/**
 * Checks the options of a pool built around a handler (`make`): an object with a function `handler`, and valid
 * settings. Nothing is read before the effect runs.
 *
 * @internal
 */
export const resolveHandler = <H>(
  options: { readonly handler: H }
): Effect.Effect<{ readonly handler: H; readonly settings: ResolvedSettings }, InvalidPoolOptions> =>
  Effect.suspend(() => {
    if (!isRecord(options)) {
      return invalidPool(new Fault("options", options, "must be an object such as { handler, concurrency: 4 }"))
    }
    const handler = options.handler
    if (typeof handler !== "function") {
      return invalidPool(new Fault("handler", handler, "must be a function (input, job) => Effect"))
    }
    const settings = settingsOf(options)
    return settings instanceof Fault ? invalidPool(settings) : Exit.succeed({ handler, settings })
  })

/**
 * Checks the settings of a pool (everything but the handler) and resolves them.
 *
 * @internal
 */
export const resolveSettings = (options: unknown): Effect.Effect<ResolvedSettings, InvalidPoolOptions> =>
  Effect.suspend(() => {
    if (!isRecord(options)) {
      return invalidPool(new Fault("options", options, "must be an object such as { concurrency: 4 }, or left out"))
    }
    const settings = settingsOf(options)
    return settings instanceof Fault ? invalidPool(settings) : Exit.succeed(settings)
  })

/**
 * Checks the shape of `layerConfig`'s options, then loads the settings from `Config`: `config` must be a `Config`,
 * or an object whose leaves are all `Config`s, and what it loads must be an object of settings.
 *
 * @internal
 */
export const loadConfig = <S, H, R>(
  options: { readonly handler: H; readonly config: Config.Wrap<S>; readonly retry?: R | undefined }
): Effect.Effect<S & { readonly handler: H; readonly retry: R | undefined }, InvalidPoolOptions | Config.ConfigError> =>
  Effect.suspend(() => {
    if (!isRecord(options)) {
      return invalidPool(new Fault("options", options, "must be an object such as { handler, config }"))
    }
    const { config, handler, retry } = options
    const fault = configFault(config, "config")
    if (fault !== undefined) return invalidPool(fault)
    return Effect.flatMap(
      Config.unwrap(config as Config.Wrap<S>),
      (settings) =>
        isRecord(settings)
          ? Exit.succeed({ ...settings, handler, retry } as S & { readonly handler: H; readonly retry: R | undefined })
          : invalidPool(
            new Fault(
              "config",
              settings,
              "must load an object of settings: for one setting, give { concurrency: Config.Int(\"POOL_CONCURRENCY\") }"
            )
          )
    )
  })

const configFault = (wrap: unknown, path: string): Fault | undefined => {
  if (Config.isConfig(wrap)) return undefined
  if (!isRecord(wrap)) {
    return new Fault(path, wrap, "must be a Config, or an object of them such as { concurrency: Config.Int(\"N\") }")
  }
  for (const key of Object.keys(wrap)) {
    const fault = configFault(wrap[key], `${path}.${key}`)
    if (fault !== undefined) return fault
  }
  return undefined
}

const overflows: ReadonlyArray<unknown> = ["suspend", "fail", "dropping", "sliding"]

const settingsOf = (options: Readonly<Record<string, unknown>>): ResolvedSettings | Fault => {
  const { capacity, concurrency, metrics, name, overflow, rateLimit, retry, shutdownTimeout, timeout, tracing } =
    options
  const sizing = sizingOf(concurrency)
  if (sizing instanceof Fault) return sizing
  if (capacity !== undefined && !isIntegerIn(capacity, 1, Number.MAX_SAFE_INTEGER)) {
    return new Fault(
      "capacity",
      capacity,
      "must be an integer from 1 to Number.MAX_SAFE_INTEGER (the queue is always bounded)"
    )
  }
  if (overflow !== undefined && !overflows.includes(overflow)) {
    return new Fault("overflow", overflow, `must be one of ${overflows.map((o) => `"${o}"`).join(", ")}`)
  }
  if (name !== undefined && (typeof name !== "string" || name.length === 0)) {
    return new Fault("name", name, "must be a non-empty string")
  }
  const timeoutMillis = timeout === undefined
    ? Infinity
    : durationOf("timeout", timeout, (ms) => ms > 0, "must be a positive duration, or \"Infinity\" for none")
  if (timeoutMillis instanceof Fault) return timeoutMillis
  const shutdownMillis = shutdownTimeout === undefined ? defaults.shutdownTimeout : durationOf(
    "shutdownTimeout",
    shutdownTimeout,
    (ms) => ms >= 0,
    "must be a duration of 0 (interrupt at once) or more, or \"Infinity\" to wait for ever"
  )
  if (shutdownMillis instanceof Fault) return shutdownMillis
  const retryPolicy = retry === undefined ? undefined : retryOf(retry, retryShape)
  if (retryPolicy instanceof Fault) return retryPolicy
  const rate = rateLimit === undefined ? undefined : rateLimitOf(rateLimit)
  if (rate instanceof Fault) return rate
  for (const [flag, value] of [["metrics", metrics], ["tracing", tracing]] as const) {
    if (value !== undefined && typeof value !== "boolean") return new Fault(flag, value, "must be true or false")
  }
  return {
    ...sizing,
    capacity: (capacity as number | undefined) ?? defaults.capacity,
    overflow: (overflow as OverflowStrategy | undefined) ?? defaults.overflow,
    timeout: timeoutMillis,
    shutdownTimeout: shutdownMillis,
    name: (name as string | undefined) ?? defaults.name,
    retry: retryPolicy,
    rateLimit: rate,
    metrics: metrics !== false,
    tracing: tracing !== false
  }
}

const rateLimitOf = (rateLimit: unknown): ResolvedSettings["rateLimit"] | Fault => {
  if (!isRecord(rateLimit)) {
    return new Fault("rateLimit", rateLimit, "must be { limit, interval }: at most limit starts in any interval")
  }
  const { interval, limit } = rateLimit
  if (!isIntegerIn(limit, 1, maxRateLimit)) {
    return new Fault(
      "rateLimit.limit",
      limit,
      `must be an integer from 1 to ${maxRateLimit.toLocaleString("en-US")} (the limiter keeps one start time per ` +
        "allowed start: for more, use a shorter interval)"
    )
  }
  const intervalMillis = durationOf(
    "rateLimit.interval",
    interval,
    (ms) => ms > 0 && ms < Infinity,
    "must be a positive, finite duration"
  )
  return intervalMillis instanceof Fault ? intervalMillis : { limit, intervalMillis }
}

/** The largest `rateLimit.limit`: its log of start times takes 8 bytes per allowed start (80 MB here). */
const maxRateLimit = 10_000_000

// -----------------------------------------------------------------------------
// concurrency
// -----------------------------------------------------------------------------

/**
 * Resolves `concurrency` (also the argument of `resize`): a number gives a fixed pool, `{ min, max, idleTimeout }`
 * an elastic one.
 *
 * @internal
 */
export const resolveConcurrency = (
  concurrency: unknown
): { readonly minWorkers: number; readonly maxWorkers: number; readonly idleTimeout: number } | InvalidPoolOptions => {
  const sizing = sizingOf(concurrency)
  return sizing instanceof Fault ? poolError(sizing) : sizing
}

const sizeRange = `an integer from 1 to ${maxConcurrency.toLocaleString("en-US")}`

const sizeBound = `must be at most ${maxConcurrency.toLocaleString("en-US")}: each worker is a fiber that lives as ` +
  "long as the pool, and 100,000 of them take over a second and about 200 MB to start, so a larger size is taken " +
  "for a typo"

const sizingOf = (
  concurrency: unknown
): { readonly minWorkers: number; readonly maxWorkers: number; readonly idleTimeout: number } | Fault => {
  if (concurrency === undefined) {
    return { minWorkers: defaults.concurrency, maxWorkers: defaults.concurrency, idleTimeout: defaults.idleTimeout }
  }
  if (!isRecord(concurrency)) {
    if (isIntegerIn(concurrency, 1, maxConcurrency)) {
      return { minWorkers: concurrency, maxWorkers: concurrency, idleTimeout: defaults.idleTimeout }
    }
    return new Fault(
      "concurrency",
      concurrency,
      isAboveBound(concurrency) ? sizeBound : `must be ${sizeRange}, or { min, max, idleTimeout? } for an elastic pool`
    )
  }
  const { idleTimeout, max, min } = concurrency
  if (!isIntegerIn(max, 1, maxConcurrency)) {
    return new Fault(
      "concurrency.max",
      max,
      isAboveBound(max) ? sizeBound : `must be ${sizeRange} (an elastic size is { min, max, idleTimeout? })`
    )
  }
  if (!isIntegerIn(min, 0, max)) {
    return new Fault("concurrency.min", min, `must be an integer from 0 to concurrency.max (${max})`)
  }
  const idleMillis = idleTimeout === undefined
    ? defaults.idleTimeout
    : durationOf("concurrency.idleTimeout", idleTimeout, (ms) => ms > 0, "must be a positive duration")
  if (idleMillis instanceof Fault) return idleMillis
  return { minWorkers: min, maxWorkers: max, idleTimeout: idleMillis }
}

const isAboveBound = (n: unknown): boolean => typeof n === "number" && Number.isInteger(n) && n > maxConcurrency

// -----------------------------------------------------------------------------
// job options
// -----------------------------------------------------------------------------

/**
 * Checks a job's own options. Returns the error, or `undefined` when they are valid (the common case passes no
 * options and skips this).
 *
 * @internal
 */
export const checkJobOptions = (options: unknown): InvalidJobOptions | undefined => {
  const fault = jobFault(options)
  return fault === undefined ? undefined : jobError(fault)
}

const jobFault = (options: unknown): Fault | undefined => {
  if (!isRecord(options)) {
    return new Fault("options", options, "must be an object such as { id, timeout, priority, key, retry }, or left out")
  }
  const { id, key, priority, retry, timeout } = options
  if (priority !== undefined && !Number.isFinite(priority)) {
    return new Fault("priority", priority, "must be a finite number")
  }
  if (key !== undefined && (typeof key !== "string" || key.length === 0)) {
    return new Fault("key", key, "must be a non-empty string")
  }
  if (retry !== undefined && retry !== false) {
    const policy = retryOf(retry, `${retryShape}, or false to turn the pool's retry off`)
    if (policy instanceof Fault) return policy
  }
  if (id !== undefined && (typeof id !== "string" || id.length === 0)) {
    return new Fault("id", id, "must be a non-empty string")
  }
  if (timeout !== undefined) {
    const millis = durationOf(
      "timeout",
      timeout,
      (ms) => ms > 0,
      "must be a positive duration, or \"Infinity\" for none"
    )
    if (millis instanceof Fault) return millis
  }
  return undefined
}

/**
 * Checks the options of `executeAll`: `failFast`, and the job options every job of the group gets.
 *
 * @internal
 */
export const resolveGroupOptions = <O extends { readonly failFast?: boolean | undefined }>(
  options: O | undefined
): { readonly jobOptions: Omit<O, "failFast"> | undefined; readonly failFast: boolean } | InvalidJobOptions => {
  if (options === undefined) return { jobOptions: undefined, failFast: true }
  if (!isRecord(options)) {
    return jobError(
      new Fault(
        "options",
        options,
        "must be an object such as { failFast, priority, key, timeout, retry }, or left out"
      )
    )
  }
  const { failFast, ...jobOptions } = options as Readonly<Record<string, unknown>>
  if (failFast !== undefined && typeof failFast !== "boolean") {
    return jobError(new Fault("failFast", failFast, "must be true or false"))
  }
  return checkJobOptions(jobOptions) ?? { jobOptions: jobOptions as Omit<O, "failFast">, failFast: failFast !== false }
}

/**
 * Checks the options of `executeStream`. `concurrency` defaults to `maxWorkers`, the pool's largest size.
 *
 * @internal
 */
export const resolveStreamOptions = (
  options: unknown,
  maxWorkers: number
): { readonly concurrency: number; readonly ordered: boolean } | InvalidJobOptions => {
  if (options === undefined) return { concurrency: maxWorkers, ordered: true }
  if (!isRecord(options)) {
    return jobError(
      new Fault("options", options, "must be an object such as { concurrency, ordered }, or left out")
    )
  }
  const { concurrency, ordered } = options
  if (concurrency !== undefined && !isIntegerIn(concurrency, 1, Number.MAX_SAFE_INTEGER)) {
    return jobError(
      new Fault("concurrency", concurrency, "must be an integer of at least 1 (the stream's jobs in flight at once)")
    )
  }
  if (ordered !== undefined && typeof ordered !== "boolean") {
    return jobError(new Fault("ordered", ordered, "must be true or false"))
  }
  return { concurrency: concurrency ?? maxWorkers, ordered: ordered !== false }
}

// -----------------------------------------------------------------------------
// retry
// -----------------------------------------------------------------------------

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

/**
 * Resolves a retry policy that was checked already (a pool's, or a job's own).
 *
 * @internal
 */
export const resolveRetry = (retry: Retry<any>): ResolvedRetry =>
  Schedule.isSchedule(retry)
    ? { schedule: retry, while: undefined, timeouts: false, defects: false }
    : {
      schedule: retry.schedule,
      while: retry.while,
      timeouts: retry.timeouts === true,
      defects: retry.defects === true
    }

const retryShape = "must be a Schedule, or { schedule, while?, timeouts?, defects? }"

const retryOf = (retry: unknown, shape: string): ResolvedRetry | Fault => {
  if (Schedule.isSchedule(retry)) {
    return { schedule: retry as Schedule.Schedule<unknown, unknown>, while: undefined, timeouts: false, defects: false }
  }
  if (!isRecord(retry)) return new Fault("retry", retry, shape)
  const { defects, schedule, timeouts } = retry
  const predicate = retry.while
  if (!Schedule.isSchedule(schedule)) {
    return new Fault("retry.schedule", schedule, "must be a Schedule, such as Schedule.recurs(3)")
  }
  if (predicate !== undefined && typeof predicate !== "function") {
    return new Fault("retry.while", predicate, "must be a function that takes a failure and returns true to retry it")
  }
  if (timeouts !== undefined && typeof timeouts !== "boolean") {
    return new Fault("retry.timeouts", timeouts, "must be true (retry jobs that time out) or false")
  }
  if (defects !== undefined && typeof defects !== "boolean") {
    return new Fault("retry.defects", defects, "must be true (retry jobs that die) or false")
  }
  return {
    schedule: schedule as Schedule.Schedule<unknown, unknown>,
    while: predicate as ((error: unknown) => boolean) | undefined,
    timeouts: timeouts === true,
    defects: defects === true
  }
}

// -----------------------------------------------------------------------------
// durations
// -----------------------------------------------------------------------------

/**
 * The milliseconds of a `Duration.Input`, or `undefined` when the value is not one. Stricter than
 * `Duration.fromInput` where it would read a mistake as zero (which a `shutdownTimeout` takes as "at once"): a
 * `[seconds, nanos]` pair with a NaN, or an object with no unit field (`{ secs: 5 }`) or a unit that is not a number.
 *
 * @internal
 */
export const durationMillis = (input: unknown): number | undefined => {
  switch (typeof input) {
    case "number":
      return Number.isNaN(input) ? undefined : input
    case "string":
    case "bigint":
      return millisOf(input as Duration.Input)
    case "object": {
      if (input === null) return undefined
      if (Duration.isDuration(input)) return millisOf(input)
      if (Array.isArray(input)) {
        if (input.length !== 2) return undefined
        const [seconds, nanos] = input as ReadonlyArray<unknown>
        return isNumber(seconds) && isNumber(nanos) ? millisOf([seconds, nanos]) : undefined
      }
      return millisOf(durationObjectOf(input as Readonly<Record<string, unknown>>))
    }
  }
  return undefined
}

const units = [
  "weeks",
  "days",
  "hours",
  "minutes",
  "seconds",
  "milliseconds",
  "microseconds",
  "nanoseconds"
] as const

/** A copy of a duration object's unit fields, each read once; `undefined` if none is there or one is not a number. */
const durationObjectOf = (input: Readonly<Record<string, unknown>>): Duration.DurationObject | undefined => {
  const copy: { -readonly [K in typeof units[number]]?: number } = {}
  let found = false
  for (const unit of units) {
    const value = input[unit]
    if (value === undefined) continue
    if (!isNumber(value)) return undefined
    copy[unit] = value
    found = true
  }
  return found ? copy : undefined
}

const millisOf = (input: Duration.Input | undefined): number | undefined => {
  if (input === undefined) return undefined
  const duration = Duration.fromInput(input)
  if (Option.isNone(duration)) return undefined
  const millis = Duration.toMillis(duration.value)
  return Number.isNaN(millis) ? undefined : millis
}

const durationForms = "milliseconds, a string such as \"5 seconds\", { seconds: 5 }, [seconds, nanos] or a Duration"

/** Reads a duration option: its milliseconds, or a fault saying that it is not a duration or what range it needs. */
const durationOf = (
  option: string,
  value: unknown,
  inRange: (millis: number) => boolean,
  range: string
): number | Fault => {
  const millis = durationMillis(value)
  if (millis === undefined) return new Fault(option, value, `is not a duration (${durationForms}); it ${range}`)
  return inRange(millis) ? millis : new Fault(option, value, range)
}

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

/** A malformed option: its full name (`retry.schedule`), the value given, and what is allowed. */
class Fault {
  readonly option: string
  readonly value: unknown
  readonly reason: string
  constructor(option: string, value: unknown, reason: string) {
    this.option = option
    this.value = value
    this.reason = reason
  }
}

const poolError = (fault: Fault): InvalidPoolOptions =>
  new InvalidPoolOptions({ option: fault.option, value: fault.value, reason: fault.reason })

const jobError = (fault: Fault): InvalidJobOptions =>
  new InvalidJobOptions({ option: fault.option, value: fault.value, reason: fault.reason })

const invalidPool = (fault: Fault): Exit.Exit<never, InvalidPoolOptions> => Exit.fail(poolError(fault))

/** An object that may hold options: not `null`, not an array. */
const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const isNumber = (u: unknown): u is number => typeof u === "number" && !Number.isNaN(u)

const isIntegerIn = (n: unknown, min: number, max: number): n is number =>
  typeof n === "number" && Number.isInteger(n) && n >= min && n <= max
