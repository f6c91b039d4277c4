/**
 * The pool's lifecycle: pausing, resizing, and the three ways to stop (`drain`, `shutdown`, and closing the scope,
 * which drains within `shutdownTimeout` and then shuts down what is left).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import type { Concurrency } from "../WorkerPool.ts"
import { InvalidPoolOptions } from "../WorkerPoolError.ts"
import type { Job } from "./job.ts"
import { resolveConcurrency } from "./options.ts"
import { takeAllQueued } from "./queue.ts"
import { settleShutdown, signalIfIdle } from "./settle.ts"
import { closed, draining, open, paused, type PoolState, stopping } from "./state.ts"
import { awaitSettled, rejectWaiters } from "./submit.ts"
import { dispatch, rebalance, releaseAll, stopJob } from "./worker.ts"

/** Stops intake. What is queued will still run: a paused pool resumes, since it must finish its work. */
const stopIntake = (self: PoolState<any, any, any>): void => {
  if (self.lifecycle._tag !== "Open") return
  const wasPaused = self.lifecycle.paused
  self.lifecycle = draining
  rejectWaiters(self)
  if (wasPaused) dispatch(self)
}

/**
 * Settles every job that has not started with `PoolShutdown`, and stops the running ones (on behalf of fiber `by`),
 * which settle with `PoolShutdown` once their finalizers have run. Returns the inputs of the jobs that never
 * started, in submission order (those between attempts among them).
 */
const abort = <I>(self: PoolState<I, any, any>, by: number): Array<I> => {
  // Stopping before the waiting submitters are turned away: a fiber that hears of it inline (a group of
  // `executeAll`) sees a pool that settles every job itself, not one that only drains.
  const wasOpen = self.lifecycle._tag === "Open"
  if (wasOpen || self.lifecycle._tag === "Draining") self.lifecycle = stopping
  if (wasOpen) rejectWaiters(self)
  const unstarted: Array<I> = []
  for (const job of takeAllQueued(self)) {
    unstarted.push(job.input)
    settleShutdown(self, job)
  }
  for (const slot of self.slots) {
    if (slot.job !== undefined) stopJob(self, slot.job, { _tag: "Shutdown", by })
  }
  signalIfIdle(self)
  return unstarted
}

/** Waits until nothing is queued or running. */
export const awaitIdle = (self: PoolState<any, any, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (self.counters.queued === 0 && self.counters.running === 0) return Effect.void
    self.idleSignal ??= Deferred.makeUnsafe<void>()
    return Deferred.await(self.idleSignal)
  })

/** Stops the workers and the timer: the pool is closed. */
const stopWorkers = (self: PoolState<any, any, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (self.lifecycle._tag === "Closed") return Effect.void
    self.lifecycle = closed
    releaseAll(self)
    self.timerWake = undefined
    return FiberSet.clear(self.fibers)
  })

export const drain = (self: PoolState<any, any, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    stopIntake(self)
    return Effect.andThen(awaitIdle(self), stopWorkers(self))
  })

export const shutdown = <I>(self: PoolState<I, any, any>): Effect.Effect<Array<I>> =>
  Effect.withFiber((fiber) => {
    if (isInside(self, fiber)) return stopFromInside(self, fiber)
    const unstarted = abort(self, fiber.id)
    return Effect.as(Effect.andThen(awaitIdle(self), stopWorkers(self)), unstarted)
  })

/**
 * Closing the pool's scope: a drain bounded by `shutdownTimeout`, then a shutdown of what is left. When the scope is
 * closed from inside the pool (by one of its jobs), see `stopFromInside`.
 */
export const close = (self: PoolState<any, any, any>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    // closed already: by `drain` or `shutdown`, or from inside, whose own job may still be running
    if (self.lifecycle._tag === "Closed") return Effect.void
    if (isInside(self, fiber)) return Effect.asVoid(stopFromInside(self, fiber))
    stopIntake(self)
    const deadline = self.settings.shutdownTimeout
    const graceful = deadline === Infinity
      ? awaitIdle(self)
      : deadline === 0
      ? Effect.void
      : Effect.asVoid(Effect.timeoutOption(awaitIdle(self), deadline))
    return graceful.pipe(
      Effect.andThen(Effect.suspend(() => {
        abort(self, fiber.id)
        return awaitIdle(self)
      })),
      Effect.andThen(stopWorkers(self))
    )
  })

/**
 * Whether `fiber` is one of the pool's own: a worker (which records itself in its slot as it starts, before it runs
 * a job) or any other fiber of the pool's set (a retry schedule's step, once started).
 */
const isInside = (self: PoolState<any, any, any>, fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  for (const slot of self.slots) if (slot.fiber === fiber) return true
  const fibers = self.fibers.state
  return fibers._tag === "Open" && fibers.backing.has(fiber as Fiber.Fiber<void>)
}

/**
 * Stopping the pool from inside: its scope closed, or `shutdown` run, on one of its own fibers (a handler, a retry
 * policy or schedule closes the scope the pool was built in, or runs `shutdown` where it cannot be interrupted, as a
 * scope's finalizers run). A drain, or a shutdown that waits for every job, would wait for the very job that is
 * stopping the pool, and so would the close of the pool's fibers. So the pool shuts down at once: every other job
 * settles with `PoolShutdown` (the running ones once their finalizers have run) before the stop returns, and the
 * job that stops the pool is stopped too, settling with `PoolShutdown` once the stop has returned to it and its
 * fiber is interruptible again. That fiber, the one running the stop, is the one the stop does not wait for: it ends
 * with the job. Returns the inputs of the jobs that never started.
 */
const stopFromInside = <I>(
  self: PoolState<I, any, any>,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<Array<I>> => {
  const others: Array<Job<any, any, any>> = []
  for (const slot of self.slots) {
    if (slot.job !== undefined && slot.fiber !== fiber) others.push(slot.job)
  }
  const unstarted = abort(self, fiber.id)
  const fibers = self.fibers.state
  if (fibers._tag === "Open") fibers.backing.delete(fiber as Fiber.Fiber<void>)
  return Effect.as(
    Effect.andThen(Effect.forEach(others, awaitSettled, { discard: true }), stopWorkers(self)),
    unstarted
  )
}

/** Holds jobs back from starting. Only an open pool pauses: a pool that stops must still finish its queued jobs. */
export const pause = (self: PoolState<any, any, any>): Effect.Effect<void> =>
  Effect.sync(() => {
    if (self.lifecycle._tag === "Open") self.lifecycle = paused
  })

export const resume = (self: PoolState<any, any, any>): Effect.Effect<void> =>
  Effect.sync(() => {
    if (self.lifecycle._tag === "Open") self.lifecycle = open
    dispatch(self)
  })

/** Changes the pool's size bounds; an invalid size leaves the pool unchanged. */
export const resize = (
  self: PoolState<any, any, any>,
  concurrency: number | Concurrency
): Effect.Effect<void, InvalidPoolOptions> =>
  Effect.suspend(() => {
    const sizing = resolveConcurrency(
      typeof concurrency === "object" && concurrency !== null && concurrency.idleTimeout === undefined
        ? Array.isArray(concurrency) ? concurrency : { ...concurrency, idleTimeout: self.idleTimeout }
        : concurrency
    )
    if (sizing instanceof InvalidPoolOptions) return Exit.fail(sizing)
    self.minWorkers = sizing.minWorkers
    self.maxWorkers = sizing.maxWorkers
    self.idleTimeout = sizing.idleTimeout
    rebalance(self)
    return Exit.void
  })
