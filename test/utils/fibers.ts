import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** Forks `self` as a child of the current fiber and starts it at once, before the current fiber yields. */
export const fork = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.forkChild(self, { startImmediately: true })

/**
 * Counts the fibers started by `self` (and by anything it forks), and how many of them are still alive when
 * `self` ends. Pool fibers inherit the services of the fiber that builds the pool, so a pool built inside
 * `self` is counted.
 *
 * `alive: 0` means something only if fibers were counted: a test also asserts a lower bound on `started` (the
 * fibers it forked and the workers the pool must have started), and `trackFibers` itself dies when it counted no
 * fiber at all, which is what a broken count looks like.
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
      Effect.flatMap((result) =>
        started === 0
          ? Effect.die(
            new Error("trackFibers counted no fiber: the count is broken, and `alive: 0` would prove nothing")
          )
          : Effect.succeed({ result, started, alive: started - ended })
      )
    )
  })
