import * as Effect from "effect/Effect"

/** A handler that sleeps `ms` virtual milliseconds and returns its input. */
export const sleeper = (ms: number) => Effect.sleep(ms).pipe(Effect.as(ms))

/** Records how many handlers run at once. */
export const concurrencyProbe = () => {
  let current = 0
  let max = 0
  return {
    around: <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          current++
          if (current > max) max = current
        }),
        () => self,
        () =>
          Effect.sync(() => {
            current--
          })
      ),
    get current() {
      return current
    },
    get max() {
      return max
    }
  }
}
