/**
 * Submitters waiting for room in the queue (`overflow: "suspend"`), in arrival order. A waiting submitter is data,
 * not a fiber per job: one `Waiter` object, which is also the effect its fiber runs if it is interrupted while it
 * waits, so that waiting allocates no closure. A waiter that gives up stays in the list as a tombstone until it
 * reaches the head, or until tombstones outnumber the live waiters.
 */
import type * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"
import type { JobOptions } from "../WorkerPool.ts"
import { Fifo } from "./fifo.ts"
import type { PoolState } from "./state.ts"

/**
 * A waiting submitter. `forExecute` tells an `execute` caller (resumed with the job's outcome) from a `submit`
 * caller (resumed with the job as soon as it is accepted).
 */
export class Waiter<I> extends Effectable.Class<void> {
  /** the pool it waits for */
  readonly pool: PoolState<I, any, any>
  readonly input: I
  readonly options: JobOptions | undefined
  readonly forExecute: boolean
  readonly reply: (exit: Exit.Exit<any, any>) => void
  readonly onCancel: (waiter: Waiter<I>) => Effect.Effect<void>
  readonly parent: Tracer.AnySpan | undefined
  /** the job it became, once admitted */
  job: unknown = undefined
  /** taken off the list: admitted or turned away */
  taken = false
  gaveUp = false

  constructor(
    pool: PoolState<I, any, any>,
    input: I,
    options: JobOptions | undefined,
    forExecute: boolean,
    reply: (exit: Exit.Exit<any, any>) => void,
    onCancel: (waiter: Waiter<I>) => Effect.Effect<void>,
    parent: Tracer.AnySpan | undefined
  ) {
    super()
    this.pool = pool
    this.input = input
    this.options = options
    this.forExecute = forExecute
    this.reply = reply
    this.onCancel = onCancel
    this.parent = parent
  }

  asEffect(): Effect.Effect<void> {
    return this.onCancel(this)
  }
}

const minTombstones = 1024

export class WaitList<I> {
  private readonly list = new Fifo<Waiter<I>>()
  /** the first live waiter once `peek` has looked at it: off the list, still waiting */
  private first: Waiter<I> | undefined = undefined
  private tombstones = 0
  /** live waiters */
  size = 0

  push(waiter: Waiter<I>): void {
    this.size++
    this.list.push(waiter)
  }

  /** The waiter that arrived first, left in place. */
  peek(): Waiter<I> | undefined {
    const first = this.first
    if (first !== undefined) {
      if (!first.gaveUp) return first
      this.first = undefined
      this.tombstones--
    }
    while (this.list.length > 0) {
      const waiter = this.list.shift()!
      if (waiter.gaveUp) {
        this.tombstones--
        continue
      }
      this.first = waiter
      return waiter
    }
    return undefined
  }

  /** Takes the waiter that arrived first. */
  take(): Waiter<I> | undefined {
    const waiter = this.peek()
    if (waiter === undefined) return undefined
    this.first = undefined
    this.size--
    waiter.taken = true
    return waiter
  }

  /** A waiter gives up its place (it was interrupted). Returns false when it was no longer waiting. */
  giveUp(waiter: Waiter<I>): boolean {
    if (waiter.gaveUp || waiter.taken) return false
    waiter.gaveUp = true
    this.size--
    if (++this.tombstones > minTombstones && this.tombstones > this.size) {
      this.list.filter((w) => !w.gaveUp)
      this.tombstones = 0
    }
    return true
  }

  /** Takes every waiter, in arrival order. */
  takeAll(): Array<Waiter<I>> {
    const all: Array<Waiter<I>> = []
    let waiter = this.take()
    while (waiter !== undefined) {
      all.push(waiter)
      waiter = this.take()
    }
    this.tombstones = 0
    return all
  }
}
