/**
 * Per-key ordering: jobs that share a key run one at a time, in submission order. Each key in use has a lane: the
 * one job that holds the key (ready, running or between attempts) and the later jobs of the key, waiting in line.
 * Passing the key on makes the next waiting job the holder. A job that leaves the line early (cancelled, dropped)
 * stays in it as a tombstone until its turn, or until tombstones are most of the line.
 *
 * Lanes of keys with no job left are kept for reuse (most keys hold one job at a time), so opening a lane usually
 * allocates nothing.
 */
import { Fifo } from "./fifo.ts"

/** A key's lane. A class, not an object literal, so that V8 never pretenures lanes (see `Fifo`). */
class Lane<J> {
  holder: J | undefined
  readonly waiting = new Fifo<J>()
  tombstones = 0
  constructor(holder: J) {
    this.holder = holder
  }
}

/** How many free lanes are kept for reuse. */
const maxFreeLanes = 1024
/** Compacting a line waits for this many tombstones, and for tombstones to be half the line. */
const minTombstones = 1024

export class KeyLanes<J> {
  private readonly lanes = new Map<string, Lane<J>>()
  private readonly free: Array<Lane<J>> = []
  /** whether a job in a line still waits there */
  private readonly isWaiting: (job: J) => boolean

  constructor(isWaiting: (job: J) => boolean) {
    this.isWaiting = isWaiting
  }

  /**
   * Whether `job` holds `key` and may go ahead: it already does, or the key is free and it takes it. Otherwise the
   * job joins the key's line and waits.
   */
  acquire(key: string, job: J): boolean {
    const lane = this.lanes.get(key)
    if (lane === undefined) {
      const free = this.free.pop()
      if (free === undefined) {
        this.lanes.set(key, new Lane(job))
      } else {
        free.holder = job
        this.lanes.set(key, free)
      }
      return true
    }
    if (lane.holder === job) return true
    lane.waiting.push(job)
    return false
  }

  /**
   * Passes `key` on from `job`, which is done with it: returns the next job in line, which now holds the key, or
   * `undefined` when no job is left (the lane closes). Does nothing when `job` does not hold the key.
   */
  release(key: string, job: J): J | undefined {
    const lane = this.lanes.get(key)
    if (lane === undefined || lane.holder !== job) return undefined
    while (lane.waiting.length > 0) {
      const next = lane.waiting.shift()!
      if (!this.isWaiting(next)) {
        lane.tombstones--
        continue
      }
      lane.holder = next
      return next
    }
    this.lanes.delete(key)
    if (this.free.length < maxFreeLanes) {
      lane.holder = undefined
      lane.tombstones = 0
      this.free.push(lane)
    }
    return undefined
  }

  /** Records that `job`, waiting in the line of `key`, has left it (the caller has marked it as no longer waiting). */
  leave(key: string, job: J): void {
    const lane = this.lanes.get(key)
    if (lane === undefined) return
    if (++lane.tombstones > minTombstones && lane.tombstones * 2 > lane.waiting.length) {
      lane.waiting.filter((j) => j !== job && this.isWaiting(j))
      lane.tombstones = 0
    }
  }

  /** Every job waiting in a line, line by line, each line in submission order. */
  *waitingJobs(): Iterable<J> {
    for (const lane of this.lanes.values()) {
      const waiting = lane.waiting
      for (let i = 0; i < waiting.length; i++) {
        const job = waiting.at(i)
        if (this.isWaiting(job)) yield job
      }
    }
  }

  /** Empties every line; returns the jobs that were still waiting. The holders keep their keys. */
  takeAllWaiting(): Array<J> {
    const all: Array<J> = []
    for (const lane of this.lanes.values()) {
      const waiting = lane.waiting
      for (let job = waiting.shift(); job !== undefined; job = waiting.shift()) if (this.isWaiting(job)) all.push(job)
      lane.tombstones = 0
    }
    return all
  }
}
