/**
 * Where accepted jobs wait before they start: the ready queue, the lines of their keys, and the retry delays. A
 * queued job is in exactly one of them, as its phase says; `counters.queued` counts them all.
 */
import { dropsBefore, isQueued, type Job } from "./job.ts"
import type { PoolState } from "./state.ts"

/**
 * Makes a queued job ready to start, unless its key belongs to another job: then it waits in the key's line.
 */
export const enqueue = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>): void => {
  const key = job.key
  if (key !== undefined && !self.keys.acquire(key, job)) {
    job.phase = "Keyed"
    return
  }
  job.phase = "Ready"
  // A new submission (the newest rank, first attempt) joins the FIFO part of the ready queue; a keyed job that
  // waited for its turn (an older rank) and a retry (an attempt that already ran) join the ordered part.
  self.ready.push(job, job.rank === self.ranks && job.attempt === 1)
}

/**
 * Passes the key of `job`, which is done with it, to the next job of its line, which becomes ready. Returns true
 * when a job became ready.
 */
export const passKey = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>): boolean => {
  const key = job.key
  if (key === undefined) return false
  const next = self.keys.release(key, job)
  if (next === undefined) return false
  enqueue(self, next)
  return true
}

/**
 * Takes a job that has not started out of wherever it waits, before it settles (cancelled, dropped, shut down). A
 * job whose retry schedule is being stepped has its stepping fiber interrupted.
 */
export const unqueue = <I, A, E>(self: PoolState<I, A, E>, job: Job<I, A, E>): void => {
  const counters = self.counters
  counters.queued--
  switch (job.phase) {
    case "Ready": {
      self.ready.remove(job)
      break
    }
    case "Keyed": {
      job.phase = "Done"
      self.keys.leave(job.key!, job)
      break
    }
    case "Retrying": {
      counters.retrying--
      if (job.heapIndex >= 0) self.retries.remove(job)
      const rare = job.rare!
      const stepping = rare.stepping
      if (stepping !== undefined) {
        rare.stepping = undefined
        self.stepping.delete(job)
        stepping.interruptUnsafe()
      }
      break
    }
  }
}

/**
 * The job `"sliding"` drops to make room: among every queued job (ready, waiting for its key, between attempts),
 * the lowest priority, then the oldest submission.
 */
export const slidingVictim = <I, A, E>(self: PoolState<I, A, E>): Job<I, A, E> | undefined => {
  let victim = self.ready.firstInOrder()
  const consider = (job: Job<I, A, E>) => {
    if (isQueued(job) && (victim === undefined || dropsBefore(job, victim))) victim = job
  }
  for (const job of self.ready.unordered()) consider(job)
  for (const job of self.keys.waitingJobs()) consider(job)
  for (const job of self.retries.values()) consider(job)
  for (const job of self.stepping) consider(job)
  return victim
}

/**
 * Takes every job that has not started out of the queue, in submission order: jobs ready, waiting for their key,
 * and between attempts.
 */
export const takeAllQueued = <I, A, E>(self: PoolState<I, A, E>): Array<Job<I, A, E>> => {
  const left: Array<Job<I, A, E>> = [
    ...self.keys.takeAllWaiting(),
    ...self.retries.values(),
    ...self.stepping,
    ...self.ready.takeAll()
  ]
  for (const job of left) {
    if (job.phase === "Retrying") {
      unqueue(self, job)
    } else {
      // the ready queue and the key lines have already let go of it
      self.counters.queued--
      job.phase = "Done"
    }
  }
  left.sort((a, b) => a.seq - b.seq)
  return left
}
