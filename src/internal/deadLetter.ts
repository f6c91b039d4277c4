/**
 * `PersistedQueue` marks a job whose stored input fails to decode with a `DeadLetter` failure, so that its store
 * records it as failed at once instead of retrying it. The class is internal to Effect; its tag is what a store
 * can see.
 *
 * @internal
 */
import * as Cause from "effect/Cause"

const deadLetterTag = "~effect/persistence/PersistedQueue/DeadLetter"

/**
 * The failure that dead-letters a job, as `PersistedQueue`'s own: its `take` goes on to the next job, and every store
 * records the job as failed at once. `cause` is why its input could not be decoded. @internal
 */
export class DeadLetter {
  readonly _tag = deadLetterTag
  readonly cause: Cause.Cause<unknown>
  constructor(cause: Cause.Cause<unknown>) {
    this.cause = cause
  }
}

/** The decode failure's cause when `cause` marks a dead letter. @internal */
export const deadLetterCause = (cause: Cause.Cause<unknown>): Cause.Cause<unknown> | undefined => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason)) {
      const error = reason.error as { readonly _tag?: unknown; readonly cause?: unknown }
      if (typeof error === "object" && error !== null && error._tag === deadLetterTag && Cause.isCause(error.cause)) {
        return error.cause
      }
    }
  }
  return undefined
}
