import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/**
 * Counts the fibers started by `self` (and by anything it forks), and how many of them are still alive when
 * `self` ends. Pool fibers inherit the services of the fiber that builds the pool, so a pool built inside
 * `self` is counted.
 */
export const trackFibers = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly result: A; readonly started: number; readonly alive: number }, E, R> =>
  Effect.suspend(() => {
    let started = 0
    let ended = 0
    const tracker: Metric.FiberRuntimeMetricsService = {
      recordFiberStart: () => {
        started++
      },
      recordFiberEnd: () => {
        ended++
      }
    }
    return self.pipe(
      Effect.provideService(Metric.FiberRuntimeMetrics, tracker),
      Effect.map((result) => ({ result, started, alive: started - ended }))
    )
  })

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

/** The sum that invariant 9 says equals `submitted`. */
export const accounted = (s: {
  readonly succeeded: number
  readonly failed: number
  readonly defects: number
  readonly timedOut: number
  readonly cancelled: number
  readonly dropped: number
  readonly shutdown: number
  readonly queued: number
  readonly running: number
}): number =>
  s.succeeded + s.failed + s.defects + s.timedOut + s.cancelled + s.dropped + s.shutdown + s.queued + s.running
