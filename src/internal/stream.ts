/**
 * `executeStream`: a stream of inputs through the pool, with no fiber per element.
 *
 * One producer fiber, owned by the output stream's scope, pulls the input stream a chunk at a time and submits one job
 * per element (waiting for room as `submit` does); the stream hears of each job as it is accepted, inline, and of its
 * outcome as it settles. The output stream's pull takes every result that is ready (in input order, or as the jobs
 * finished) as one chunk. At most `concurrency` of the stream's jobs are in the pool at once (a settled job's slot is
 * taken by the next element at once, inline, with no fiber woken: the producer wakes only to pull the next chunk or
 * to wait for room in the pool), and at most `2 × concurrency` elements are between their submission and the
 * emission of their result, so that a consumer that stops pulling stops the stream's jobs, as it would
 * `Stream.mapEffect`'s.
 *
 * How the stream ends:
 *
 * - the input stream ends: every result is emitted, then the output ends;
 * - the input stream fails (or is interrupted): the results of the elements before it are emitted, then the output
 *   fails with its error;
 * - a job fails, or a submission is turned away: the output fails at once with that failure, and the stream's other
 *   jobs are cancelled at once, not when the consumer next pulls (it may be busy downstream);
 * - the output's scope closes (its consumer took what it wanted, failed or was interrupted): the producer is
 *   stopped, and the stream's jobs still in the pool are cancelled, the ones that have not started first; in a pool
 *   that is shutting down (not draining) they are left to the shutdown, which returns the queued ones' inputs, and
 *   waited for.
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import type * as Scheduler from "effect/Scheduler"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type { SubmitError } from "../WorkerPoolError.ts"
import { Job, type PoolError } from "./job.ts"
import { cancelAllUnsafe, endAll, submitInGroup } from "./pool.ts"
import { isStopping, type PoolState } from "./state.ts"
import { offer, submitterSpan } from "./submit.ts"

/** One element in flight: its job from its acceptance until it settles, then (ordered) its value. */
class Entry<A> {
  job: Job<any, A, any> | undefined = undefined
  value: A | undefined = undefined
  done = false
}

/**
 * What the producer stops with once the stream has failed (a job's failure or a submission turned away): that failure
 * is the stream's already, and the producer's own exit is not looked at.
 */
const stop: Effect.Effect<never, unknown> = Effect.fail("stopped")

/**
 * Runs one job per element of `items` through the pool, with at most `concurrency` of them in the pool and twice as
 * many between their submission and the emission of their result. `bind` turns the stream's context into the
 * function that makes a job's input of an element (the executor binds each effect to the caller's services).
 */
export const executeStream = <X, I, A, E, E2, R, R2>(
  self: PoolState<I, A, E>,
  items: Stream.Stream<X, E2, R2>,
  concurrency: number,
  ordered: boolean,
  bind: Effect.Effect<(item: X) => I, never, R>
): Stream.Stream<A, E | E2 | PoolError | SubmitError, R | R2> =>
  Stream.unwrap(Effect.gen(function*() {
    const toInput = yield* bind
    /** the fiber that runs the stream, on whose behalf its jobs are cancelled */
    const by = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.id))
    /** set as the output's scope closes, before the producer is stopped */
    let closing = false
    /** elements submitted whose result has not been emitted */
    let held = 0
    const buffered = 2 * concurrency
    /** elements whose job is in the pool (submitted, not settled) */
    let inPool = 0
    /** whether the producer may submit one more element */
    const hasRoom = (): boolean => inPool < concurrency && held < buffered
    /** ordered: the held elements in input order, from `head` on; unordered: the results ready, the jobs running */
    const entries: Array<Entry<A>> = []
    let head = 0
    let ready: Array<A> = []
    const unsettled = new Set<Entry<A>>()
    /** whether the producer still runs, and the input stream's failure once it has ended */
    let producing = true
    let inputFailure: Cause.Cause<E2> | undefined
    /** a job's failure, or a submission turned away: the stream's failure, at once */
    let failure: Cause.Cause<E | PoolError | SubmitError> | undefined
    /** the output's pull waiting for a result, and the producer waiting for a slot */
    let wakePull: ((exit: Exit.Exit<void>) => void) | undefined
    let producerWaiting: ((exit: Exit.Exit<void>) => void) | undefined
    /** the chunk being submitted, its next element, and whether the pool had no room for it */
    let chunk: ReadonlyArray<X> = []
    let next = 0
    let blocked = false
    let feeding = false
    let producerSpan: (self: PoolState<I, A, E>) => Tracer.AnySpan | undefined = submitterSpan
    let pullDispatcher: Scheduler.SchedulerDispatcher | undefined
    let wakeScheduled = false

    /**
     * Wakes the waiting pull. Mostly in a task of its fiber's scheduler, not inline: a result is heard of inside the
     * worker that settled it, and the other workers settle theirs in the same turn, so that the pull, run after them,
     * takes them as one chunk instead of waking once per result. `now`: inline, when the producer cannot go on until
     * the pull takes what is ready (the elements held reached their bound), or the stream has ended.
     */
    const notify = (now: boolean): void => {
      if (wakePull === undefined) return
      if (now) return resumePull()
      if (!wakeScheduled) {
        wakeScheduled = true
        pullDispatcher!.scheduleTask(scheduledWake, 0)
      }
    }
    const resumePull = (): void => {
      const resume = wakePull
      if (resume !== undefined) {
        wakePull = undefined
        resume(Exit.void)
      }
    }
    const scheduledWake = (): void => {
      wakeScheduled = false
      resumePull()
    }
    /**
     * The stream fails: its other jobs are cancelled at once (left to a shutdown, which settles them itself), not
     * when the consumer next pulls, which may be long after if it is busy downstream.
     */
    const fail = (cause: Cause.Cause<E | PoolError | SubmitError>): void => {
      if (failure !== undefined) return
      failure = cause
      if (!isStopping(self)) cancelAllUnsafe(self, unsettledJobs(), by)
      notify(true)
      wakeProducer()
    }
    const settled = (entry: Entry<A>) => (exit: Exit.Exit<A, E | PoolError>): void => {
      entry.job = undefined
      inPool--
      if (!ordered) unsettled.delete(entry)
      if (Exit.isFailure(exit)) return fail(exit.cause)
      if (ordered) {
        entry.value = exit.value
        entry.done = true
        if (entries[head].done) notify(held >= buffered)
      } else {
        ready.push(exit.value)
        notify(held >= buffered)
      }
      feed()
    }
    // A job can settle inline as it is placed, before its acceptance is heard of: it is then left out.
    const accepted = (entry: Entry<A>, job: Job<any, A, E>): void => {
      if (job.exit !== undefined) return
      entry.job = job
      if (!ordered) unsettled.add(entry)
      // a submitter admitted after the stream failed: its job is cancelled with the others
      if (failure !== undefined && !isStopping(self)) cancelAllUnsafe(self, [job], by)
    }
    const wakeProducer = (): void => {
      const resume = producerWaiting
      if (resume !== undefined) {
        producerWaiting = undefined
        resume(Exit.void)
      }
    }
    /** Whether the producer has something to do: its chunk is submitted, the pool has no room, or the stream failed. */
    const producerCalled = (): boolean => failure !== undefined || blocked || next >= chunk.length
    /**
     * Submits the current chunk's elements, in order, while the stream and the pool have room, synchronously: from
     * the producer, and inline wherever a slot frees (a job settles, the pull takes results), so that a settled job's
     * slot is taken by the next element with no fiber woken. An element the pool has no room for is left to the
     * producer, which waits for room as `submit` does; so is the end of the chunk (the producer pulls the next).
     */
    const feed = (): void => {
      // nothing more is submitted once the output's scope closes, even while the producer is being stopped
      if (feeding || blocked || closing || chunk.length === 0) return
      feeding = true
      while (!blocked && next < chunk.length && failure === undefined && hasRoom()) {
        const entry = enter()
        const result = offer(self, toInput(chunk[next]), undefined, false, settled(entry), producerSpan)
        if (result instanceof Job) {
          next++
          accepted(entry, result)
        } else if (result !== undefined) {
          next++
          fail(Cause.fail(result))
        } else {
          leave()
          blocked = true
        }
      }
      feeding = false
      if (producerCalled()) wakeProducer()
    }
    /** An element takes its slots (and, ordered, its place in line). */
    const enter = (): Entry<A> => {
      const entry = new Entry<A>()
      if (ordered) entries.push(entry)
      held++
      inPool++
      return entry
    }
    /** The element the pool had no room for gives its slots back, for the producer to submit it again. */
    const leave = (): void => {
      if (ordered) entries.pop()
      held--
      inPool--
    }
    const awaitCall = Effect.callback<void>((resume) => {
      if (producerCalled()) return resume(Exit.void)
      producerWaiting = resume
      return Effect.sync(() => {
        producerWaiting = undefined
      })
    })
    /** Waits for room in the pool for the element `feed` left, as `submit` does, then feeds on. */
    const submitBlocked = Effect.suspend(() => {
      const entry = enter()
      const onAccepted = (job: Job<any, A, E>) => accepted(entry, job)
      const submitted = submitInGroup(self, toInput(chunk[next]), undefined, settled(entry), onAccepted)
      return Effect.matchCauseEffect(submitted, {
        onFailure: (cause): Effect.Effect<never, unknown> => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          fail(cause)
          return stop
        },
        onSuccess: () =>
          Effect.sync(() => {
            next++
            blocked = false
            feed()
          })
      })
    })
    /**
     * Submits a chunk: `feed` does it, here and wherever a slot frees; the producer waits until the chunk is
     * submitted, or until it must wait for room in the pool. It stops at the stream's failure, whether or not it was
     * its own, so that nothing more is submitted.
     */
    const rest: Effect.Effect<void, unknown> = Effect.suspend(() => {
      if (failure !== undefined) return stop
      if (blocked) return Effect.andThen(submitBlocked, rest)
      if (next >= chunk.length) return Effect.void
      return Effect.andThen(awaitCall, rest)
    })
    const submitChunk = (items: ReadonlyArray<X>): Effect.Effect<void, unknown> =>
      Effect.suspend(() => {
        chunk = items
        next = 0
        feed()
        return rest
      })
    const produce = Effect.suspend(() => {
      // the span of the fiber that runs the stream's producer: the parent of its jobs' spans, wherever they are fed
      const span = submitterSpan(self)
      producerSpan = () => span
      return Stream.runForEachArray(items, submitChunk)
    }).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          producing = false
          // the producer's own interruption, as the output's scope closes, is no ending of the input
          if (Exit.isFailure(exit) && failure === undefined && !(closing && Cause.hasInterruptsOnly(exit.cause))) {
            inputFailure = exit.cause as Cause.Cause<E2>
          }
          notify(true)
        })
      ),
      Effect.ignore
    )

    /** The stream's jobs still in the pool. */
    const unsettledJobs = (): Array<Job<any, A, E>> => {
      const jobs: Array<Job<any, A, E>> = []
      if (ordered) {
        for (let i = head; i < entries.length; i++) {
          const job = entries[i].job
          if (job !== undefined) jobs.push(job)
        }
      } else {
        for (const entry of unsettled) if (entry.job !== undefined) jobs.push(entry.job)
      }
      return jobs
    }
    /** The results ready to emit, as one chunk, with their slots given back; `undefined` if none is. */
    const takeReady = (): Arr.NonEmptyArray<A> | undefined => {
      let taken: Array<A>
      if (ordered) {
        let end = head
        while (end < entries.length && entries[end].done) end++
        if (end === head) return undefined
        taken = new Array(end - head)
        for (let i = head; i < end; i++) {
          const entry = entries[i]
          taken[i - head] = entry.value as A
          entry.value = undefined
        }
        head = end
        if (head === entries.length) {
          entries.length = 0
          head = 0
        } else if (head >= 1024 && head * 2 >= entries.length) {
          entries.splice(0, head)
          head = 0
        }
      } else {
        if (ready.length === 0) return undefined
        taken = ready
        ready = []
      }
      held -= taken.length
      feed()
      return taken as Arr.NonEmptyArray<A>
    }
    const awaitChange = Effect.withFiber((fiber) =>
      Effect.callback<void>((resume) => {
        wakePull = resume
        pullDispatcher = fiber.currentDispatcher
        return Effect.sync(() => {
          wakePull = undefined
        })
      })
    )
    const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E | E2 | PoolError | SubmitError> = Effect.suspend(() => {
      if (failure !== undefined) return Effect.failCause(failure)
      const taken = takeReady()
      if (taken !== undefined) return Exit.succeed(taken)
      if (!producing && held === 0) return inputFailure === undefined ? Cause.done() : Effect.failCause(inputFailure)
      return Effect.flatMap(awaitChange, () => pull)
    })

    // The scope closes in reverse: the producer is marked as stopped and stops, then the jobs left in the pool end.
    yield* Effect.addFinalizer(() => Effect.suspend(() => endAll(self, unsettledJobs())))
    yield* Effect.forkScoped(produce)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closing = true
      })
    )
    return Stream.fromPull(Effect.succeed(pull))
  }))
