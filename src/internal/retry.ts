/**
 * Retry: what a job's policy says of an attempt that ended, and the time between attempts.
 *
 * The user's code in a policy (its `while` predicate, its schedule's steps) never runs in the pool's bookkeeping:
 * the predicate runs on the job's worker as an effect, and the schedule is stepped in a fiber of its own, whose end
 * (whatever it is) decides the job's next step. A job between attempts is queued: it counts in `queued` and
 * `retrying`, `shutdown` reports it, and the drain deadline settles it.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import { JobTimeout } from "../WorkerPoolError.ts"
import { type Ending, type Job, Rare } from "./job.ts"
import { type ResolvedRetry, resolveRetry } from "./options.ts"
import { enqueue } from "./queue.ts"
import { settle, settleRan, settleShutdown, signalIfIdle } from "./settle.ts"
import { currentTime, type PoolState, stampOf } from "./state.ts"
import { admitWaiters } from "./submit.ts"
import { arm } from "./timers.ts"
import { dispatch } from "./worker.ts"

/** What a policy's schedule receives when an ending is not to be retried. */
export const NoRetry: unique symbol = Symbol.for("effect-worker-pool/NoRetry")

/** The policy that applies to a job: its own, else the pool's; `undefined` for none. */
export const policyOf = (self: PoolState<any, any, any>, job: Job<any, any, any>): ResolvedRetry | undefined => {
  const own = job.rare === undefined ? undefined : job.rare.retry
  if (own === false) return undefined
  return own === undefined ? self.retry : resolveRetry(own)
}

/**
 * The `while` predicate that decides whether an attempt's typed failure is retried, when there is one to ask: the
 * attempt failed with a typed error (no ending of the pool's), under a policy that has a predicate.
 */
export const predicateFor = (
  self: PoolState<any, any, any>,
  job: Job<any, any, any>,
  exit: Exit.Exit<unknown, unknown>
): ((error: unknown) => boolean) | undefined => {
  if (job.ending !== undefined || Exit.isSuccess(exit)) return undefined
  if (self.retry === undefined && (job.rare === undefined || job.rare.retry === undefined)) return undefined
  const policy = policyOf(self, job)
  return policy === undefined || !Cause.hasFails(exit.cause) ? undefined : policy.while
}

/**
 * What the schedule of a job whose attempt ended receives, or `NoRetry` when that ending is not retried: a typed
 * failure its policy accepts (`accepted` is the predicate's answer, when it was asked), a timeout or a defect when
 * the policy asks for them; never a cancellation or a shutdown.
 */
export const retryInput = (
  self: PoolState<any, any, any>,
  job: Job<any, any, any>,
  exit: Exit.Exit<unknown, unknown>,
  accepted: boolean
): unknown => {
  if (self.retry === undefined && (job.rare === undefined || job.rare.retry === undefined)) return NoRetry
  const policy = policyOf(self, job)
  if (policy === undefined) return NoRetry
  const ending = job.ending
  if (ending !== undefined) {
    return ending._tag === "TimedOut" && policy.timeouts
      ? new JobTimeout({ pool: self.name, jobId: job.id, timeoutMillis: job.timeoutMillis })
      : NoRetry
  }
  if (Exit.isSuccess(exit)) return NoRetry
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "Some") return accepted ? error.value : NoRetry
  if (!policy.defects) return NoRetry
  const defect = Cause.findDefect(exit.cause)
  return defect._tag === "Success" ? defect.success : NoRetry
}

/**
 * Puts a job whose attempt ended between attempts: its schedule is stepped in a fiber of its own, which decides
 * when it runs again, or that its last attempt's outcome stands. The job holds no worker meanwhile, but keeps its
 * key.
 */
export const scheduleRetry = <I, A, E>(
  self: PoolState<I, A, E>,
  job: Job<I, A, E>,
  input: unknown,
  last: Exit.Exit<A, E>
): void => {
  const ending = job.ending
  job.ending = undefined
  job.phase = "Retrying"
  self.counters.queued++
  self.counters.retrying++
  const rare = job.rare ??= new Rare(0, undefined, undefined, undefined)
  const policy = policyOf(self, job)!
  const step = Effect.suspend(() =>
    rare.retryStep === undefined
      ? Effect.flatMap(Schedule.toStep(policy.schedule), (step) => {
        rare.retryStep = step
        return step(self.clock.currentTimeMillisUnsafe(), input)
      })
      : rare.retryStep(self.clock.currentTimeMillisUnsafe(), input)
  )
  self.stepping.add(job)
  const fiber = self.fork(step)
  rare.stepping = fiber
  // The fiber's end, whatever it is (a decision, the schedule's end, a failure, a defect, even a fiber killed by a
  // value that is not an effect), is the step's outcome. A job cancelled meanwhile has let go of the fiber.
  fiber.addObserver((decision) => {
    if (rare.stepping !== fiber) return
    rare.stepping = undefined
    self.stepping.delete(job)
    afterStep(self, job, ending, last, decision as Exit.Exit<any, unknown>)
  })
}

const afterStep = <I, A, E>(
  self: PoolState<I, A, E>,
  job: Job<I, A, E>,
  ending: Ending | undefined,
  last: Exit.Exit<A, E>,
  decision: Exit.Exit<[unknown, Duration.Duration], unknown>
): void => {
  if (Exit.isSuccess(decision)) {
    self.counters.retried++
    job.attempt++
    const wait = Duration.toMillis(decision.value[1])
    if (wait > 0) arm(self, self.retries, job, self.clock.currentTimeMillisUnsafe() + wait)
    else requeue(self, job)
    return
  }
  self.counters.queued--
  self.counters.retrying--
  if (Pull.isDoneCause(decision.cause)) {
    // the schedule ended: the last attempt's outcome stands
    job.ending = ending
    settleRan(self, job, last)
  } else if (Cause.hasInterruptsOnly(decision.cause) && self.lifecycle._tag !== "Open") {
    settleShutdown(self, job)
  } else {
    // the schedule failed or died: that is the job's outcome
    self.counters.countExit(decision)
    settle(self, job, decision as Exit.Exit<never, unknown> as Exit.Exit<A, E>)
  }
  admitWaiters(self)
  signalIfIdle(self)
}

/** A job whose retry delay has passed re-enters the queue, behind the jobs already there. */
export const requeue = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>): void => {
  self.counters.retrying--
  job.rank = ++self.ranks
  job.queuedAt = stampOf(self, currentTime(self))
  enqueue(self, job)
  dispatch(self)
}
