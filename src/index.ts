/**
 * @since 0.1.0
 */

/**
 * A worker pool for Effect: worker fibers fed by a bounded queue, typed errors, exact timeouts and cancellation,
 * and a scope-safe shutdown.
 *
 * @since 0.1.0
 */
export * as WorkerPool from "./WorkerPool.ts"

/**
 * The same pool on threads: a job definition with schemas, the thread side that serves it, and a pool whose
 * workers each own a thread.
 *
 * @since 0.1.0
 */
export * as ThreadPool from "./ThreadPool.ts"

/**
 * A durable queue fed to a pool: jobs offered from any process, consumed by local pools in any number of
 * processes, on a memory, Redis or PostgreSQL store.
 *
 * @since 0.1.0
 */
export * as DurableQueue from "./DurableQueue.ts"

/**
 * A `PersistedQueueStore` on Redis with one round trip per job and server wake-ups: the durable queue's default
 * Redis store.
 *
 * @since 0.1.0
 */
export * as RedisQueueStore from "./RedisQueueStore.ts"

/**
 * The errors a worker pool produces besides a job's own error.
 *
 * @since 0.1.0
 */
export * as WorkerPoolError from "./WorkerPoolError.ts"

/**
 * The metrics every pool reports through `effect/Metric`.
 *
 * @since 0.1.0
 */
export * as WorkerPoolMetrics from "./WorkerPoolMetrics.ts"
