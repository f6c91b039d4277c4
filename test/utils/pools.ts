import { WorkerPool } from "../../src/index.ts"

/**
 * A pool that stops at once when the test's scope closes (`shutdownTimeout: 0`): a test that fails midway never
 * leaves the close waiting on virtual time.
 */
export const makePool = <I, A, E = never, R = never>(options: WorkerPool.Options<I, A, E, R>) =>
  WorkerPool.make({ shutdownTimeout: 0, ...options })

/** An executor that stops at once when the test's scope closes (`shutdownTimeout: 0`), like `makePool`. */
export const makeExecutor = (options: Parameters<typeof WorkerPool.makeExecutor>[0]) =>
  WorkerPool.makeExecutor({ shutdownTimeout: 0, ...options })
