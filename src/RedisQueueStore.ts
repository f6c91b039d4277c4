/**
 * A `PersistedQueueStore` on Redis that costs one round trip per job, and less under load: completing a job claims
 * the consumer's next one in the same script, the completions of a consumer's jobs that end together share one
 * script, and idle consumers are woken by the server (pub/sub, published only while one waits) instead of polling.
 * It plugs into `PersistedQueue` exactly as the stock stores do, with the same guarantees: at-least-once delivery,
 * locks with expiry and refresh, a dead consumer's jobs redelivered once its locks expire, attempts counted at
 * claim, the retry schedule's delays, de-duplication by id, delays, the failed-jobs record and cleanup. Every step
 * is one Lua script, and every settlement is fenced on the claim's token: a consumer whose lock expired cannot
 * complete, fail or release a job another consumer holds.
 *
 * Written against Effect's abstract `Redis` service, so it runs wherever that service is provided (the Node
 * binding is `@effect/platform-node`'s `NodeRedis`). Time is the server's (`TIME`), so the hosts' clocks need not
 * agree.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as SecureRandom from "effect/crypto/SecureRandom"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as Redis from "effect/persistence/Redis"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { deadLetterCause } from "./internal/deadLetter.ts"
import { resolveTimings } from "./internal/durableOptions.ts"
import type { InvalidQueueOptions } from "./WorkerPoolError.ts"

/**
 * The options of the store.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Starts every key. Put a hash tag in it (`"app:{thumbnails}:"`) to keep a queue in one Redis Cluster slot. */
  readonly prefix?: string | undefined
  /** How long a claim stays locked without a refresh. Default `"30 seconds"`. */
  readonly lockExpiration?: Duration.Input | undefined
  /** How often a consumer refreshes its claims' locks. Default `"10 seconds"`. */
  readonly lockRefreshInterval?: Duration.Input | undefined
  /**
   * The longest an idle consumer waits without a wake-up before it looks again: a safety net for a lost pub/sub
   * message, not the pickup latency. Default `"1 second"`.
   */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * The keys of one queue: `<prefix><name>:<part>`.
 *
 * @category models
 * @since 0.1.0
 */
export const keysOf = (prefix: string, name: string) => {
  const base = `${prefix}${name}`
  return {
    waiting: `${base}:waiting`,
    delayed: `${base}:delayed`,
    jobs: `${base}:jobs`,
    attempts: `${base}:attempts`,
    active: `${base}:active`,
    owner: `${base}:owner`,
    failed: `${base}:failed`,
    ids: `${base}:ids`,
    wake: `${base}:wake`,
    idle: `${base}:idle`,
    ready: `${base}:ready`
  } as const
}

/**
 * Builds the store in the current scope. Closing the scope releases, to the head of their queues and without
 * spending an attempt, the jobs it claimed ahead of a taker and never handed out. A bad option fails with
 * `InvalidQueueOptions` naming it (`lockRefreshInterval` must be shorter than `lockExpiration`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<PersistedQueue.PersistedQueueStore["Service"], InvalidQueueOptions, Redis.Redis | Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const clock = yield* Clock.Clock
    const storeScope = yield* Effect.scope
    const prefix = options.prefix ?? "ewp:"
    const timings = yield* resolveTimings(options, { pollInterval: Duration.seconds(1) })
    const lockMillis = Math.max(1, Duration.toMillis(timings.lockExpiration))
    const refreshMillis = Math.max(1, Duration.toMillis(timings.lockRefreshInterval))
    const pollMillis = Math.max(1, Duration.toMillis(timings.pollInterval))
    const ackRetry = Schedule.min([Schedule.exponential(200, 1.5), Schedule.spaced(5000)]).pipe(
      Schedule.upTo({ duration: lockMillis })
    )

    // Scripts run by EVALSHA straight on the connection: each is loaded on first use, and again when the server
    // has lost it (a restart, SCRIPT FLUSH).
    const runner = <A>(script: LuaScript) => {
      let sha: string | undefined
      const load = Effect.map(redis.send<string>("SCRIPT", "LOAD", script.lua), (loaded) => {
        sha = loaded
      })
      const evalSha = (args: ReadonlyArray<string>) => redis.send<A>("EVALSHA", sha!, script.keys, ...args)
      const loadThenEval = (args: ReadonlyArray<string>) => Effect.flatMap(load, () => evalSha(args))
      return (args: ReadonlyArray<string>): Effect.Effect<A, Redis.RedisError> =>
        sha === undefined
          ? loadThenEval(args)
          : Effect.catchIf(evalSha(args), isNoScript, () => loadThenEval(args))
    }
    const offerScript = runner<number>(offerLua)
    const takeScript = runner<ReadonlyArray<string | number>>(takeLua)
    const completeScript = runner<ReadonlyArray<string | number>>(completeLua)
    const retryScript = runner<number>(retryLua)
    const failScript = runner<number>(failLua)
    const releaseScript = runner<number>(releaseLua)
    const refreshScript = runner<number>(refreshLua)
    const cleanupScript = runner<number>(cleanupLua)

    // A claim's token is unique per acquisition: this store's id, then a number per claiming script.
    const storeId = SecureRandom.uuidV4Unsafe()
    let claims = 0
    const nextTokenPrefix = () => `${prefix}lock:${storeId}:${++claims}:`
    const lockArg = String(lockMillis)
    // how long the idle key outlives a consumer's last look: its next poll sets it again
    const idleArg = String(2 * pollMillis + 1000)

    const mailboxes = new Map<string, Mailbox>()
    const maxAttemptsOf = new Map<string, number>()
    const keysByName = new Map<string, Keys>()
    const keysFor = (name: string): Keys => {
      let keys = keysByName.get(name)
      if (keys === undefined) {
        keys = keysOf(prefix, name)
        keysByName.set(name, keys)
      }
      return keys
    }

    /** Claimed elements become the takers'; surplus ones wait in the mailbox for the next take. */
    const deliver = (mailbox: Mailbox, reply: ReadonlyArray<unknown>, from: number) => {
      const elements: Array<Claim> = []
      for (let i = from; i + 3 < reply.length; i += 4) {
        const claim: Claim = {
          id: String(reply[i]),
          payload: String(reply[i + 1]),
          attempts: Number(reply[i + 2]),
          token: String(reply[i + 3]),
          name: mailbox.name
        }
        mailbox.held.set(claim.token, claim)
        elements.push(claim)
      }
      if (elements.length > 0) Queue.offerAllUnsafe(mailbox.queue, elements)
      return elements.length
    }

    /** A script's answer says in how many milliseconds the next delayed job or lock expiry is due. */
    const nextWake = (mailbox: Mailbox, delta: unknown) => {
      const millis = Number(delta)
      if (millis === -2) return
      mailbox.wakeAt = Number.isFinite(millis) && millis >= 0 ? clock.currentTimeMillisUnsafe() + millis : 0
    }

    const mailboxOf = (name: string): Effect.Effect<Mailbox> =>
      Effect.suspend(() => {
        const existing = mailboxes.get(name)
        return existing !== undefined ?
          Effect.succeed(existing) :
          Effect.flatMap(Queue.unbounded<Claim>(), (queue) => openMailbox(name, queue))
      })

    const openMailbox = (name: string, queue: Queue.Queue<Claim>): Effect.Effect<Mailbox> =>
      Effect.suspend(() => {
        const existing = mailboxes.get(name)
        if (existing !== undefined) return Effect.succeed(existing)
        const keys = keysFor(name)
        const mailbox: Mailbox = {
          name,
          keys,
          claimKeys: takeKeys(keys),
          queue,
          takers: 0,
          held: new Map(),
          nudge: Latch.makeUnsafe(false),
          hasTakers: Latch.makeUnsafe(false),
          wakeAt: 0,
          lastFull: 0,
          completions: [],
          completing: false
        }
        mailboxes.set(name, mailbox)
        const fetch = Effect.gen(function*() {
          while (true) {
            yield* mailbox.hasTakers.await
            mailbox.nudge.closeUnsafe()
            const want = mailbox.takers - Queue.sizeUnsafe(mailbox.queue)
            // A claim in flight is never abandoned: its jobs reach the mailbox, which the store releases at close.
            const got = want <= 0 ? 0 : yield* takeScript([
              ...mailbox.claimKeys,
              nextTokenPrefix(),
              String(want),
              lockArg,
              String(maxAttemptsOf.get(name) ?? 2147483647),
              idleArg
            ]).pipe(
              Effect.map((reply) => {
                nextWake(mailbox, reply[0])
                return deliver(mailbox, reply, 1)
              }),
              Effect.uninterruptible
            )
            if (got > 0) {
              yield* Effect.yieldNow
              continue
            }
            if (want <= 0) {
              // the mailbox holds enough for its takers: wait for a taker it cannot serve
              yield* mailbox.nudge.await
              continue
            }
            const until = mailbox.wakeAt > 0
              ? Math.max(1, mailbox.wakeAt - clock.currentTimeMillisUnsafe())
              : pollMillis
            yield* Effect.raceFirst(mailbox.nudge.await, Effect.sleep(Math.min(until, pollMillis)))
          }
        }).pipe(
          Effect.tapCause((cause) =>
            Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logWarning("Redis queue store: fetch failed", cause)
          ),
          Effect.retry(Schedule.spaced(500)),
          Effect.interruptible
        )
        // Wake-ups: every offer, release and retry publishes in how many milliseconds its job becomes visible.
        const listen = Effect.gen(function*() {
          const messages = yield* redis.subscribe(keys.wake)
          while (true) {
            const message = yield* Queue.take(messages)
            const delay = Number(message.message)
            if (!(delay > 0)) {
              mailbox.nudge.openUnsafe()
            } else {
              const at = clock.currentTimeMillisUnsafe() + delay
              if (mailbox.wakeAt === 0 || at < mailbox.wakeAt) {
                mailbox.wakeAt = at
                mailbox.nudge.openUnsafe()
              }
            }
          }
        }).pipe(
          Effect.scoped,
          Effect.tapCause((cause) =>
            Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logWarning("Redis queue store: wake-ups lost", cause)
          ),
          Effect.retry(Schedule.spaced(500)),
          Effect.interruptible
        )
        return Effect.gen(function*() {
          yield* Effect.forkIn(fetch, storeScope)
          yield* Effect.forkIn(listen, storeScope)
          return mailbox
        })
      })

    const fullClaim = (mailbox: Mailbox) => {
      const now = clock.currentTimeMillisUnsafe()
      if (now - mailbox.lastFull < 100) return "0"
      mailbox.lastFull = now
      return "1"
    }

    // A settlement is retried (a lost connection) for as long as the lock would last, then the settling fiber dies.
    // The first attempt runs without the schedule, which is only built when it fails.
    const acked = <A>(effect: Effect.Effect<A, Redis.RedisError>): Effect.Effect<A> =>
      Effect.orDie(Effect.catch(effect, () => Effect.retry(effect, ackRetry)))

    const ack = (claim: Claim, effect: Effect.Effect<unknown, Redis.RedisError>) =>
      Effect.ensuring(acked(effect), Effect.sync(() => mailboxes.get(claim.name)?.held.delete(claim.token)))

    const release = (mailbox: Mailbox, claim: Claim) =>
      ack(
        claim,
        releaseScript([
          mailbox.keys.waiting,
          mailbox.keys.attempts,
          mailbox.keys.active,
          mailbox.keys.owner,
          mailbox.keys.wake,
          mailbox.keys.ready,
          claim.id,
          claim.token
        ])
      )

    const releaseUntaken = (mailbox: Mailbox) =>
      Effect.flatMap(
        Queue.clear(mailbox.queue),
        (claims) => Effect.forEach(claims, (claim) => release(mailbox, claim), { concurrency: 16, discard: true })
      )

    // Locks of held claims are refreshed; claims made ahead of a taker that nobody took are released.
    yield* Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(refreshMillis)
        for (const mailbox of mailboxes.values()) {
          if (mailbox.takers === 0 && Queue.sizeUnsafe(mailbox.queue) > 0) {
            yield* releaseUntaken(mailbox)
          }
          if (mailbox.held.size === 0) continue
          const args: Array<string> = [mailbox.keys.active, mailbox.keys.owner, lockArg]
          for (const claim of mailbox.held.values()) args.push(claim.id, claim.token)
          yield* Effect.ignore(refreshScript(args))
        }
      }
    }).pipe(Effect.interruptible, Effect.forkScoped)

    yield* Effect.addFinalizer(() =>
      Effect.forEach(mailboxes.values(), releaseUntaken, { concurrency: "unbounded", discard: true })
    )

    const take = (options: TakeOptions): Effect.Effect<Taken, never, Scope.Scope> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          maxAttemptsOf.set(options.name, options.maxAttempts)
          const mailbox = mailboxes.get(options.name)
          return mailbox === undefined
            ? Effect.flatMap(mailboxOf(options.name), (mailbox) => takeFrom(mailbox, options, restore))
            : takeFrom(mailbox, options, restore)
        })
      )

    const takeFrom = (
      mailbox: Mailbox,
      options: TakeOptions,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<Taken, never, Scope.Scope> => {
      // a claim waiting in the mailbox is taken at once (the common case: a completion claimed it for this taker)
      const ready = Queue.takeUnsafe(mailbox.queue)
      if (ready !== undefined && Exit.isSuccess(ready)) return accept(mailbox, ready.value, options, restore)
      mailbox.takers++
      mailbox.hasTakers.openUnsafe()
      // the fetcher claims only for takers the mailbox cannot serve
      if (mailbox.takers > Queue.sizeUnsafe(mailbox.queue)) mailbox.nudge.openUnsafe()
      return Effect.flatMap(
        Effect.onExit(restore(Queue.take(mailbox.queue)), () =>
          Effect.sync(() => {
            mailbox.takers--
            if (mailbox.takers === 0) mailbox.hasTakers.closeUnsafe()
          })),
        (claim) => accept(mailbox, claim, options, restore)
      )
    }

    const accept = (
      mailbox: Mailbox,
      claim: Claim,
      options: TakeOptions,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<Taken, never, Scope.Scope> => {
      const element = parseJson(claim.payload)
      if (Option.isNone(element)) {
        // a payload that is not JSON can never be processed: it goes to the failed record, and the next is taken
        return Effect.andThen(
          failClaim(mailbox, claim, "the stored payload is not valid JSON"),
          restore(take(options))
        )
      }
      const taken: Taken = { id: claim.id, attempts: claim.attempts, element: element.value }
      // `settle` needs nothing from the taker's context: the finalizer goes on the scope as it is
      return Effect.flatMap(
        Effect.scope,
        (scope) => Effect.as(Scope.addFinalizerExit(scope, (exit) => settle(mailbox, claim, options, exit)), taken)
      )
    }

    const failClaim = (mailbox: Mailbox, claim: Claim, reason: string) =>
      ack(
        claim,
        failScript([
          mailbox.keys.jobs,
          mailbox.keys.attempts,
          mailbox.keys.active,
          mailbox.keys.owner,
          mailbox.keys.failed,
          mailbox.keys.ids,
          claim.id,
          claim.token,
          failedRecord(claim, reason, clock.currentTimeMillisUnsafe())
        ])
      )

    const settle = (
      mailbox: Mailbox,
      claim: Claim,
      options: TakeOptions,
      exit: Exit.Exit<unknown, unknown>
    ): Effect.Effect<void> => {
      if (Exit.isSuccess(exit)) return complete(mailbox, claim, options.maxAttempts)
      const keys = mailbox.keys
      const dead = deadLetterCause(exit.cause)
      const failWith = (cause: Cause.Cause<unknown>) => failClaim(mailbox, claim, Cause.pretty(cause))
      if (dead !== undefined) return failWith(dead)
      if (Cause.hasInterruptsOnly(exit.cause)) return release(mailbox, claim)
      if (claim.attempts >= options.maxAttempts) return failWith(exit.cause)
      return Effect.flatMap(options.retryDelay(claim.attempts), (delay) =>
        ack(
          claim,
          retryScript([
            keys.delayed,
            keys.active,
            keys.owner,
            keys.wake,
            claim.id,
            claim.token,
            String(Math.max(0, Math.ceil(Duration.toMillis(delay))))
          ])
        ))
    }

    // Completions are settled in batches, one script per batch, which also claims a next job for every taker it
    // completes for (they come back for one at once). While a batch is in flight the completions that arrive wait
    // for it, and the first of them then sends the next batch: one completion alone goes at once, and under load
    // a batch holds what completed during the previous one's round trip. A claim nobody takes is released at the
    // next lock refresh, or when the store closes.
    // Uninterruptible: a completion that stopped waiting could be the one chosen to send the next batch.
    const complete = (mailbox: Mailbox, claim: Claim, maxAttempts: number): Effect.Effect<void> =>
      Effect.uninterruptible(Effect.suspend(() => {
        const completion: Completion = { claim, maxAttempts, resume: undefined, outcome: undefined }
        mailbox.completions.push(completion)
        if (!mailbox.completing) {
          mailbox.completing = true
          return sendCompletions(mailbox)
        }
        return Effect.callback<void>((resume) => {
          if (completion.outcome !== undefined) resume(completion.outcome)
          else completion.resume = resume
        })
      }))

    const sendCompletions = (mailbox: Mailbox): Effect.Effect<void> =>
      Effect.suspend(() => {
        const batch = mailbox.completions
        mailbox.completions = []
        const args: Array<string> = [
          ...mailbox.claimKeys,
          nextTokenPrefix(),
          lockArg,
          String(batch[0].maxAttempts),
          fullClaim(mailbox),
          idleArg,
          String(batch.length)
        ]
        for (const { claim } of batch) args.push(claim.id, claim.token)
        return Effect.flatMap(Effect.exit(acked(completeScript(args))), (exit) => {
          for (const { claim } of batch) mailbox.held.delete(claim.token)
          if (Exit.isSuccess(exit)) {
            nextWake(mailbox, exit.value[0])
            deliver(mailbox, exit.value, 1)
          }
          const outcome: Effect.Effect<void> = Exit.asVoid(exit)
          // the first completion of the batch is this fiber's own
          for (let i = 1; i < batch.length; i++) wake(batch[i], outcome)
          const next = mailbox.completions[0]
          if (next === undefined) mailbox.completing = false
          else wake(next, sendCompletions(mailbox))
          return outcome
        })
      })

    const wake = (completion: Completion, outcome: Effect.Effect<void>) => {
      if (completion.resume !== undefined) completion.resume(outcome)
      else completion.outcome = outcome
    }

    const scanKeys = (pattern: string) =>
      Effect.gen(function*() {
        const found: Array<string> = []
        let cursor = "0"
        do {
          const [next, batch] = yield* redis.send<[string, Array<string>]>(
            "SCAN",
            cursor,
            "MATCH",
            pattern,
            "COUNT",
            "100"
          )
          cursor = next
          for (const key of batch) found.push(key)
        } while (cursor !== "0")
        return found
      })

    return PersistedQueue.PersistedQueueStore.of({
      offer: ({ delay, element, id, isCustomId, name }) => {
        const keys = keysFor(name)
        return Effect.mapError(
          Effect.map(
            offerScript([
              keys.waiting,
              keys.delayed,
              keys.jobs,
              keys.ids,
              keys.wake,
              keys.idle,
              keys.ready,
              id,
              JSON.stringify(element),
              delay === undefined ? "0" : String(Math.max(0, Math.ceil(Duration.toMillis(delay)))),
              isCustomId ? "1" : "0"
            ]),
            () => {
              mailboxes.get(name)?.nudge.openUnsafe()
            }
          ),
          (error) =>
            new PersistedQueue.PersistedQueueError({
              message: "Failed to offer element to persisted queue",
              cause: error
            })
        )
      },
      take,
      cleanup: ({ failedTimeToLive, timeToLive }) =>
        Effect.gen(function*() {
          const idsKeys = yield* scanKeys(`${escapeGlob(prefix)}*:ids`)
          yield* Effect.forEach(
            idsKeys,
            (key) =>
              cleanupScript([
                key,
                `${key.slice(0, -":ids".length)}:failed`,
                String(Duration.toMillis(timeToLive)),
                String(failedTimeToLive === undefined ? -1 : Duration.toMillis(failedTimeToLive))
              ]).pipe(Effect.repeat({ while: (removed) => removed >= 1000 })),
            { concurrency: 16, discard: true }
          )
        }).pipe(
          Effect.mapError((error) =>
            new PersistedQueue.PersistedQueueError({ message: "Failed to clean up persisted queue", cause: error })
          )
        )
    })
  })

/**
 * Provides the store as the `PersistedQueueStore` service.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<PersistedQueue.PersistedQueueStore, InvalidQueueOptions, Redis.Redis> =>
  Layer.effect(PersistedQueue.PersistedQueueStore, make(options))

/**
 * The failed-jobs record of a job, as `PersistedQueue`'s stores write it: `{"id":..,"element":..,"attempts":..,
 * "lastFailure":..,"failedAt":..}`, with the element as stored.
 *
 * @category models
 * @since 0.1.0
 */
export const failedRecord = (
  claim: { readonly id: string; readonly payload: string; readonly attempts: number },
  reason: string,
  failedAt: number
): string =>
  `{"id":${JSON.stringify(claim.id)},"element":${claim.payload},"attempts":${claim.attempts},"lastFailure":${
    JSON.stringify(reason)
  },"failedAt":${failedAt}}`

interface TakeOptions {
  readonly name: string
  readonly maxAttempts: number
  readonly retryDelay: (attempts: number) => Effect.Effect<Duration.Duration>
}

interface Taken {
  readonly id: string
  readonly attempts: number
  readonly element: unknown
}

interface Claim {
  readonly id: string
  readonly payload: string
  readonly attempts: number
  readonly token: string
  readonly name: string
}

type Keys = ReturnType<typeof keysOf>

/** A successful attempt waiting to be settled in a batch. */
interface Completion {
  readonly claim: Claim
  readonly maxAttempts: number
  /** resumes the fiber that waits for the batch */
  resume: ((outcome: Effect.Effect<void>) => void) | undefined
  /** the batch's outcome, when it came before the fiber waited */
  outcome: Effect.Effect<void> | undefined
}

interface Mailbox {
  readonly name: string
  readonly keys: Keys
  /** the keys of a claiming script */
  readonly claimKeys: ReadonlyArray<string>
  readonly queue: Queue.Queue<Claim>
  takers: number
  /** Claims this store holds, by token: handed out or waiting in the mailbox. Their locks are refreshed. */
  readonly held: Map<string, Claim>
  readonly nudge: Latch.Latch
  readonly hasTakers: Latch.Latch
  /** When the next delayed job becomes visible or the next lock expires (this process's clock), 0 when unknown. */
  wakeAt: number
  /** When a completion last made a full claim: one does at least every 100 ms, to recover and promote jobs. */
  lastFull: number
  /** Completions waiting for the next batch. */
  completions: Array<Completion>
  /** Whether a batch of completions is in flight. */
  completing: boolean
}

/** A Lua script and how many of its arguments are keys. */
interface LuaScript {
  readonly lua: string
  readonly keys: string
}

const isNoScript = (error: Redis.RedisError): boolean => String(error.cause).includes("NOSCRIPT")

const parseJson = Option.liftThrowable((payload: string): unknown => JSON.parse(payload))

const escapeGlob = (pattern: string): string => pattern.replace(/[\\*?[\]]/g, "\\$&")

const takeKeys = (keys: Keys) => [
  keys.waiting,
  keys.delayed,
  keys.jobs,
  keys.attempts,
  keys.active,
  keys.owner,
  keys.failed,
  keys.ids,
  keys.idle,
  keys.ready
]

// The server's clock, in milliseconds.
const nowLua = `
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`

// Claims up to n jobs from the head of the queue, one per taker; the claims go to out, as id, payload, attempts,
// token. A full claim first recovers claims whose lock expired (to the head of the queue, or to the failed record
// after the last attempt) and makes due delayed jobs visible; a quick one does that only when the queue runs short.
// Returns in how many milliseconds the next delayed job or lock expiry is due: -1 when none, -2 when not looked at.
const claimLua = `
local function json_id(id)
  return (string.gsub(cjson.encode(id), "\\\\/", "/"))
end

local function recover(k_waiting, k_jobs, k_attempts, k_active, k_owner, k_failed, k_ids, k_ready, max_attempts, now)
  local expired = redis.call("ZRANGEBYSCORE", k_active, "-inf", now, "LIMIT", 0, 100)
  for _, id in ipairs(expired) do
    redis.call("ZREM", k_active, id)
    redis.call("HDEL", k_owner, id)
    local attempts = tonumber(redis.call("HGET", k_attempts, id) or "0")
    local payload = redis.call("HGET", k_jobs, id)
    if payload then
      if attempts >= max_attempts then
        redis.call("RPUSH", k_failed, '{"id":' .. json_id(id) .. ',"element":' .. payload .. ',"attempts":' ..
          attempts .. ',"lastFailure":"Lock expired after final attempt","failedAt":' .. now .. '}')
        redis.call("HDEL", k_attempts, id)
        redis.call("HDEL", k_jobs, id)
        redis.call("ZADD", k_ids, "XX", "+inf", id)
      else
        redis.call("LPUSH", k_waiting, id)
        redis.call("HSET", k_ready, id, now)
      end
    end
  end
end

local function pop(k_waiting, k_jobs, k_attempts, k_active, k_owner, k_ready, token_prefix, first, n, lock_ms, now,
  out)
  local got = 0
  if n <= 0 then return 0 end
  local ids = redis.call("LPOP", k_waiting, n)
  if not ids then return 0 end
  redis.call("HDEL", k_ready, unpack(ids))
  for _, id in ipairs(ids) do
    local payload = redis.call("HGET", k_jobs, id)
    if payload then
      local attempts = redis.call("HINCRBY", k_attempts, id, 1)
      local token = token_prefix .. (first + got)
      redis.call("HSET", k_owner, id, token)
      redis.call("ZADD", k_active, now + lock_ms, id)
      out[#out + 1] = id
      out[#out + 1] = payload
      out[#out + 1] = attempts
      out[#out + 1] = token
      got = got + 1
    end
  end
  return got
end

local function claim(k_waiting, k_delayed, k_jobs, k_attempts, k_active, k_owner, k_failed, k_ids, k_idle, k_ready,
  token_prefix, n, lock_ms, max_attempts, now, out, full, idle_ms)
  local got = 0
  if not full then
    -- the common case of a busy consumer: the queue has jobs, and one pop is all it takes
    got = pop(k_waiting, k_jobs, k_attempts, k_active, k_owner, k_ready, token_prefix, 1, n, lock_ms, now, out)
    if got == n then return -2 end
  end
  recover(k_waiting, k_jobs, k_attempts, k_active, k_owner, k_failed, k_ids, k_ready, max_attempts, now)
  local due = redis.call("ZRANGEBYSCORE", k_delayed, "-inf", now, "WITHSCORES", "LIMIT", 0, 100)
  if #due > 0 then
    -- ready since their delay ended
    local ids = {}
    for i = 1, #due, 2 do
      ids[#ids + 1] = due[i]
    end
    redis.call("RPUSH", k_waiting, unpack(ids))
    redis.call("ZREM", k_delayed, unpack(ids))
    redis.call("HSET", k_ready, unpack(due))
  end
  got = got + pop(k_waiting, k_jobs, k_attempts, k_active, k_owner, k_ready, token_prefix, got + 1, n - got, lock_ms,
    now, out)
  if got < n and redis.call("PTTL", k_idle) < idle_ms then
    -- a taker is left waiting: offers wake the consumers up until one takes a job
    redis.call("SET", k_idle, "1", "PX", idle_ms)
  end
  local wake = -1
  local first_delayed = redis.call("ZRANGE", k_delayed, 0, 0, "WITHSCORES")
  if first_delayed[2] then wake = tonumber(first_delayed[2]) end
  local first_active = redis.call("ZRANGE", k_active, 0, 0, "WITHSCORES")
  if first_active[2] and (wake == -1 or tonumber(first_active[2]) < wake) then wake = tonumber(first_active[2]) end
  if wake == -1 then return -1 end
  return math.max(0, wake - now)
end
`

// Publishes a wake-up only while a consumer waits for jobs (the idle key): a busy consumer claims the next job
// when it completes one, and hears nothing. The first job offered to idle consumers clears the key; those still
// idle once they looked again set it again.
const offerLua: LuaScript = {
  keys: "7",
  lua: `
local id = ARGV[1]
if ARGV[4] == "1" then
  if redis.call("ZADD", KEYS[4], "NX", "+inf", id) == 0 then
    return 0
  end
elseif redis.call("HEXISTS", KEYS[3], id) == 1 then
  return 0
end
redis.call("HSET", KEYS[3], id, ARGV[2])
local delay = tonumber(ARGV[3])
if delay > 0 then
  ${nowLua}
  redis.call("ZADD", KEYS[2], now + delay, id)
  if redis.call("EXISTS", KEYS[6]) == 1 then
    redis.call("PUBLISH", KEYS[5], tostring(delay))
  end
else
  ${nowLua}
  redis.call("RPUSH", KEYS[1], id)
  redis.call("HSET", KEYS[7], id, now)
  if redis.call("DEL", KEYS[6]) == 1 then
    redis.call("PUBLISH", KEYS[5], "0")
  end
end
return 1
`
}

const takeLua: LuaScript = {
  keys: "10",
  lua: `
${nowLua}
${claimLua}
local out = { 0 }
out[1] = claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), now, out, true, tonumber(ARGV[5]))
return out
`
}

// Fenced: a claim that is no longer the job's owner changes nothing.
const fenceLua = `
if redis.call("HGET", k_owner, id) ~= token then
  return false
end
redis.call("HDEL", k_owner, id)
redis.call("ZREM", k_active, id)
`

// Completes a batch of claims (id and token pairs, each fenced on its own), then claims as many next jobs.
const completeLua: LuaScript = {
  keys: "10",
  lua: `
${nowLua}
${claimLua}
local k_owner, k_active = KEYS[6], KEYS[5]
local function settle(id, token)
  ${fenceLua}
  redis.call("HDEL", KEYS[4], id)
  redis.call("HDEL", KEYS[3], id)
  if redis.call("ZSCORE", KEYS[8], id) then
    redis.call("ZADD", KEYS[8], "XX", now, id)
  end
end
local count = tonumber(ARGV[6])
for i = 7, 6 + 2 * count, 2 do
  settle(ARGV[i], ARGV[i + 1])
end
local out = { 0 }
out[1] = claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
  ARGV[1], count, tonumber(ARGV[2]), tonumber(ARGV[3]), now, out, ARGV[4] == "1", tonumber(ARGV[5]))
return out
`
}

const retryLua: LuaScript = {
  keys: "4",
  lua: `
${nowLua}
local k_active, k_owner = KEYS[2], KEYS[3]
local id, token = ARGV[1], ARGV[2]
${fenceLua}
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[3]), id)
redis.call("PUBLISH", KEYS[4], ARGV[3])
return 1
`
}

const failLua: LuaScript = {
  keys: "6",
  lua: `
local k_active, k_owner = KEYS[3], KEYS[4]
local id, token = ARGV[1], ARGV[2]
${fenceLua}
redis.call("HDEL", KEYS[2], id)
redis.call("HDEL", KEYS[1], id)
redis.call("RPUSH", KEYS[5], ARGV[3])
redis.call("ZADD", KEYS[6], "+inf", id)
return 1
`
}

const releaseLua: LuaScript = {
  keys: "6",
  lua: `
${nowLua}
local k_active, k_owner = KEYS[3], KEYS[4]
local id, token = ARGV[1], ARGV[2]
${fenceLua}
if redis.call("HINCRBY", KEYS[2], id, -1) <= 0 then
  redis.call("HDEL", KEYS[2], id)
end
redis.call("LPUSH", KEYS[1], id)
redis.call("HSET", KEYS[6], id, now)
redis.call("PUBLISH", KEYS[5], "0")
return 1
`
}

const refreshLua: LuaScript = {
  keys: "2",
  lua: `
${nowLua}
local at = now + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  if redis.call("HGET", KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call("ZADD", KEYS[1], "XX", at, ARGV[i])
  end
end
return 1
`
}

// Forgets completed ids older than the time to live, and failed records older than theirs (-1: keep them).
const cleanupLua: LuaScript = {
  keys: "2",
  lua: `
${nowLua}
local removed = redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. (now - tonumber(ARGV[1])))
local failed_ttl = tonumber(ARGV[2])
local trimmed = 0
if failed_ttl >= 0 then
  local cutoff = now - failed_ttl
  while trimmed < 1000 do
    local head = redis.call("LINDEX", KEYS[2], 0)
    if not head then break end
    local failed_at = tonumber(string.match(head, ',"failedAt":([^,}]+)}$'))
    if failed_at ~= nil and failed_at > cutoff then break end
    local ok, record = pcall(cjson.decode, head)
    if ok and type(record) == "table" and record.id then
      redis.call("ZREM", KEYS[1], record.id)
    end
    redis.call("LPOP", KEYS[2])
    trimmed = trimmed + 1
  end
end
return trimmed
`
}
