import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** Forks `self` as a child of the current fiber and starts it at once, before the current fiber yields. */
export const fork = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.forkChild(self, { startImmediately: true })

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
