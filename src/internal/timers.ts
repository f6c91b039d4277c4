/**
 * The pool's one timer fiber. It serves every deadline the pool has: running jobs' timeouts, idle workers' deadlines
 * (above the minimum), retry delays, and the instant the rate limit opens for a job it held back. It sleeps until
 * the earliest of them on the pool's `Clock` (so the `TestClock` drives it), is started only when the first
 * deadline is armed, and is restarted only when a deadline earlier than the one it sleeps for is armed.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { DeadlineHeap, Timed } from "./heap.ts"
import { timedOut } from "./job.ts"
import { requeue } from "./retry.ts"
import type { PoolState } from "./state.ts"
import { dispatch, releaseSlot, stopJob } from "./worker.ts"

/** Puts `item` in `heap` with `deadline`, and makes sure the timer wakes by then. */
export const arm = <T extends Timed>(
  self: PoolState<any, any, any>,
  heap: DeadlineHeap<T>,
  item: T,
  deadline: number
): void => {
  heap.push(item, deadline)
  wakeBy(self, deadline)
}

/** Makes sure the timer wakes by `deadline`. */
export const wakeBy = (self: PoolState<any, any, any>, deadline: number): void => {
  if (self.timerWake !== undefined) {
    const wake = self.timerWake
    self.timerWake = undefined
    wake()
  } else if (self.timerFiber === undefined || deadline < self.timerArmedAt) {
    self.timerFiber?.interruptUnsafe()
    self.timerFiber = self.fork(timer(self))
  }
}

/** Acts on every deadline that has passed. */
const expireDue = (self: PoolState<any, any, any>, now: number): void => {
  let job = self.timeouts.peek()
  while (job !== undefined && job.deadline <= now) {
    self.timeouts.pop()
    if (job.phase === "Running") stopJob(self, job, timedOut)
    job = self.timeouts.peek()
  }
  let slot = self.idleDeadlines.peek()
  while (slot !== undefined && slot.deadline <= now) {
    self.idleDeadlines.pop()
    if (self.workers > self.minWorkers && slot.wake !== undefined) releaseSlot(self, slot)
    slot = self.idleDeadlines.peek()
  }
  let retry = self.retries.peek()
  while (retry !== undefined && retry.deadline <= now) {
    self.retries.pop()
    requeue(self, retry)
    retry = self.retries.peek()
  }
  if (self.rateWakeAt <= now) {
    self.rateWakeAt = Infinity
    dispatch(self)
  }
}

const earliest = (self: PoolState<any, any, any>): number =>
  Math.min(
    self.timeouts.peek()?.deadline ?? Infinity,
    self.idleDeadlines.peek()?.deadline ?? Infinity,
    self.retries.peek()?.deadline ?? Infinity,
    self.rateWakeAt
  )

const timer = (self: PoolState<any, any, any>): Effect.Effect<void> => {
  const loop: Effect.Effect<void> = Effect.suspend(() => {
    const now = self.clock.currentTimeMillisUnsafe()
    expireDue(self, now)
    if (self.lifecycle._tag === "Closed") return Effect.void
    const deadline = earliest(self)
    self.timerArmedAt = deadline
    if (deadline === Infinity) return Effect.andThen(waitForDeadline, loop)
    return Effect.andThen(Effect.sleep(deadline - now), loop)
  })
  const waitForDeadline = Effect.callback<void>((resume) => {
    self.timerWake = () => resume(Exit.void)
    return Effect.sync(() => {
      self.timerWake = undefined
    })
  })
  return loop
}
