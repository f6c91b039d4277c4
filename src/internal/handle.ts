/**
 * The handle `submit` returns: the job's id, its outcome once settled, and the effects to wait for it, poll it or
 * cancel it, with nothing of the engine on it.
 *
 * A handle holds its job only until the job settles; from then on it holds the outcome alone (the job record lets go
 * of it), so that a program that keeps many handles (submit everything, then await everything) keeps a small object
 * per job, not the job's whole record. A success keeps its value alone, not an `Exit` around it (a kept handle is one
 * object of three fields, 48 bytes on 64-bit V8, not two objects); `await` and `poll` wrap the value as they read it.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import type { JobHandle } from "../WorkerPool.ts"
import { Job, type PoolError } from "./job.ts"
import type { PoolState } from "./state.ts"
import { awaitJob, cancelAndAwait } from "./submit.ts"

/** @internal the handle's type id; the public module exports it as `JobHandleTypeId` */
export const JobHandleTypeId = "~effect-worker-pool/JobHandle" as const

/** Hands a settled job's outcome to its handle, which lets go of the job. Set by `Handle`'s static block. */
export let settleHandle: <A, E>(handle: Handle<A, E>, exit: Exit.Exit<A, E | PoolError>) => void

/** A failure's exit, as a settled handle keeps it: a class of its own, which no value a job returns can be. */
class Failed<A, E> {
  readonly exit: Exit.Failure<A, E>
  constructor(exit: Exit.Failure<A, E>) {
    this.exit = exit
  }
}

/**
 * A handle's outcome, once settled (`undefined` while the job is in the pool). A function of the module, not a private
 * method of `Handle`: a class with a private method stamps each instance with a brand, one more field per handle.
 */
const exitOf = <A, E>(
  state: Job<any, A, E> | Failed<A, E | PoolError> | A
): Exit.Exit<A, E | PoolError> | undefined => {
  if (state instanceof Job) return undefined
  if (state instanceof Failed) return state.exit
  return state === undefined ? Exit.void as Exit.Exit<A> : Exit.succeed(state as A)
}

export class Handle<A, E> implements JobHandle<A, E | PoolError> {
  readonly #self: PoolState<any, A, E>
  /**
   * the job until it settles; then a success's value, or a failure's exit wrapped in `Failed` (a job never returns a
   * `Job` or a `Failed`: neither class leaves the engine)
   */
  #state: Job<any, A, E> | Failed<A, E | PoolError> | A
  /** the job's own id, or its number (turned into a string when read) */
  readonly #id: string | number

  constructor(self: PoolState<any, A, E>, job: Job<any, A, E>) {
    this.#self = self
    this.#id = job.customId ?? job.seq
    this.#state = job
    if (job.exit === undefined) job.onSettled = this
    else settleHandle(this, job.exit)
  }

  static {
    settleHandle = (handle, exit) => {
      handle.#state = exit._tag === "Success" ? exit.value : new Failed(exit)
    }
  }

  get [JobHandleTypeId](): typeof JobHandleTypeId {
    return JobHandleTypeId
  }

  get id(): string {
    const id = this.#id
    return typeof id === "string" ? id : String(id)
  }

  get await(): Effect.Effect<A, E | PoolError> {
    const state = this.#state
    return state instanceof Job ? awaitJob(state) : exitOf(state)!
  }

  get poll(): Effect.Effect<Option.Option<Exit.Exit<A, E | PoolError>>> {
    return Effect.sync(() => Option.fromUndefinedOr(exitOf(this.#state)))
  }

  get interrupt(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const state = this.#state
      return state instanceof Job
        ? Effect.withFiber((fiber) => cancelAndAwait(this.#self, state, fiber.id))
        : Effect.void
    })
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  toJSON(): unknown {
    const state = this.#state
    return state instanceof Job
      ? { _id: "JobHandle", id: this.id, pool: this.#self.name, phase: state.phase, attempt: state.attempt }
      : { _id: "JobHandle", id: this.id, pool: this.#self.name, phase: "Done" }
  }

  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }

  toString(): string {
    return Inspectable.toStringUnknown(this.toJSON())
  }
}
