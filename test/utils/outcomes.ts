import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** Fails the test (with `label`) when `self` has not ended within `ms` of real time: a hang is a failure. */
export const within = <A, E, R>(self: Effect.Effect<A, E, R>, label: string, ms = 3000): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.timeoutOption(self, ms),
    (option) => Option.isSome(option) ? Effect.succeed(option.value) : Effect.die(new Error(`hung: ${label}`))
  )

/** The tag of a failure's typed error, or "defect" / "interrupted", or "ok:<value>". */
export const outcome = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return `ok:${String(exit.value)}`
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) {
    const e = error.value as { readonly _tag?: string }
    return typeof e === "object" && e !== null && typeof e._tag === "string" ? e._tag : String(e)
  }
  return Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "defect"
}
