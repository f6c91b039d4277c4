/**
 * The errors a worker pool can produce besides a job's own error. Each is a tagged error with fields a program
 * can act on; a job's own typed failure is never wrapped in one of these.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The pool no longer takes jobs, or it shut down before an accepted job finished: the job was still queued at
 * the shutdown deadline, it was interrupted by `shutdown`, or its submitter was still waiting for room when
 * intake stopped. `jobId` is set when the job had an id.
 *
 * @category errors
 * @since 0.1.0
 */
export class PoolShutdown extends Schema.TaggedError<PoolShutdown>("effect-worker-pool/PoolShutdown")(
  "PoolShutdown",
  {
    pool: Schema.String,
    jobId: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    return this.jobId === undefined
      ? `worker pool "${this.pool}" is shut down and takes no more jobs`
      : `job "${this.jobId}" did not finish: worker pool "${this.pool}" shut down`
  }
}

/**
 * There was no room in the queue: `trySubmit` on a full queue, or any submission when `overflow` is `"fail"`.
 *
 * @category errors
 * @since 0.1.0
 */
export class QueueFull extends Schema.TaggedError<QueueFull>("effect-worker-pool/QueueFull")("QueueFull", {
  pool: Schema.String,
  capacity: Schema.Number
}) {
  override get message(): string {
    return `worker pool "${this.pool}" is full: ${this.capacity} jobs queued`
  }
}

/**
 * The job was accepted and then discarded by the overflow strategy: `"dropping"` discards the new job, `"sliding"`
 * the oldest queued one.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobDropped extends Schema.TaggedError<JobDropped>("effect-worker-pool/JobDropped")("JobDropped", {
  pool: Schema.String,
  jobId: Schema.String,
  overflow: Schema.Literals(["dropping", "sliding"])
}) {
  override get message(): string {
    return `job "${this.jobId}" was dropped by worker pool "${this.pool}" (overflow: ${this.overflow})`
  }
}

/**
 * The job ran longer than its timeout. By the time this error is seen, the job was interrupted and its finalizers
 * have run.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobTimeout extends Schema.TaggedError<JobTimeout>("effect-worker-pool/JobTimeout")("JobTimeout", {
  pool: Schema.String,
  jobId: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `job "${this.jobId}" in worker pool "${this.pool}" timed out after ${this.timeoutMillis} ms`
  }
}

/**
 * A pool option is invalid. `option` names it, `value` is what was given and `reason` says what is allowed.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidPoolOptions
  extends Schema.TaggedError<InvalidPoolOptions>("effect-worker-pool/InvalidPoolOptions")("InvalidPoolOptions", {
    option: Schema.String,
    value: Schema.Unknown,
    reason: Schema.String
  })
{
  override get message(): string {
    return `invalid worker pool option "${this.option}" (${describe(this.value)}): ${this.reason}`
  }
}

/**
 * A per-job option given to `execute`, `submit` or `trySubmit` is invalid. `option` names it, `value` is what was
 * given and `reason` says what is allowed. The job was not accepted.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidJobOptions
  extends Schema.TaggedError<InvalidJobOptions>("effect-worker-pool/InvalidJobOptions")("InvalidJobOptions", {
    option: Schema.String,
    value: Schema.Unknown,
    reason: Schema.String
  })
{
  override get message(): string {
    return `invalid job option "${this.option}" (${describe(this.value)}): ${this.reason}`
  }
}

/**
 * A thread of a thread pool ended while it ran the job: an uncaught exception, `process.exit`, running out of
 * memory. Only that job fails; the thread is replaced. `exitCode` is set when the thread reported one, and `reason`
 * says what the platform reported (the uncaught error's message, or the exit).
 *
 * @category errors
 * @since 0.1.0
 */
export class ThreadCrashed extends Schema.TaggedError<ThreadCrashed>("effect-worker-pool/ThreadCrashed")(
  "ThreadCrashed",
  {
    pool: Schema.String,
    jobId: Schema.String,
    thread: Schema.Number,
    exitCode: Schema.optional(Schema.Number),
    reason: Schema.String
  }
) {
  override get message(): string {
    return `the thread of worker ${this.thread} in pool "${this.pool}" crashed while running job "${this.jobId}": ${this.reason}`
  }
}

/**
 * A thread did not start: its entry file failed to load, ended before it served, or did not report ready in time.
 * Building the pool fails with it when a first thread does not start; a job fails with it when the thread that
 * was to replace a crashed or stopped one does not start.
 *
 * @category errors
 * @since 0.1.0
 */
export class ThreadStartFailed extends Schema.TaggedError<ThreadStartFailed>("effect-worker-pool/ThreadStartFailed")(
  "ThreadStartFailed",
  {
    pool: Schema.String,
    entry: Schema.String,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `a thread of pool "${this.pool}" did not start from "${this.entry}": ${this.reason}`
  }
}

/**
 * A value crossing between the pool and a thread failed its schema: `side` says which value (the job's `"input"`,
 * its `"success"` value or its typed `"error"`), `stage` whether it failed to `"encode"` (before it was sent) or to
 * `"decode"` (once it arrived), and `reason` why.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobSchemaError extends Schema.TaggedError<JobSchemaError>("effect-worker-pool/JobSchemaError")(
  "JobSchemaError",
  {
    pool: Schema.String,
    jobId: Schema.String,
    side: Schema.Literals(["input", "success", "error"]),
    stage: Schema.Literals(["encode", "decode"]),
    reason: Schema.String
  }
) {
  override get message(): string {
    return `job "${this.jobId}" in pool "${this.pool}": its ${this.side} failed to ${this.stage}: ${this.reason}`
  }
}

/**
 * A durable queue's store could not be reached or answered with an error. `queue` names the queue, `operation` what
 * was being done (`"offer"`, `"consume"`, `"result"`, `"failed"`, `"requeue"`,
 * `"remove"`, `"counts"`, `"cleanup"`) and `reason` what the store reported.
 * Nothing was lost: an offer that fails with it may or may not have been stored, so offer it again with the same
 * `id` to be sure it is stored once.
 *
 * @category errors
 * @since 0.1.0
 */
export class DurableQueueError extends Schema.TaggedError<DurableQueueError>("effect-worker-pool/DurableQueueError")(
  "DurableQueueError",
  {
    queue: Schema.String,
    operation: Schema.Literals([
      "offer",
      "consume",
      "result",
      "failed",
      "requeue",
      "remove",
      "counts",
      "cleanup",
      "consumers"
    ]),
    reason: Schema.String
  }
) {
  override get message(): string {
    return `durable queue "${this.queue}": ${this.operation} failed: ${this.reason}`
  }
}

/**
 * A durable queue's definition or an option given to one of its operations is invalid. `option` names it, `value`
 * is what was given and `reason` says what is allowed.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidQueueOptions
  extends Schema.TaggedError<InvalidQueueOptions>("effect-worker-pool/InvalidQueueOptions")("InvalidQueueOptions", {
    queue: Schema.String,
    option: Schema.String,
    value: Schema.Unknown,
    reason: Schema.String
  })
{
  override get message(): string {
    return `invalid option "${this.option}" (${describe(this.value)}) of durable queue "${this.queue}": ${this.reason}`
  }
}

/**
 * The ways a job on a thread pool can end besides its handler's result and the pool's own `JobError`s.
 *
 * @category models
 * @since 0.1.0
 */
export type ThreadError = ThreadCrashed | ThreadStartFailed | JobSchemaError

/**
 * The errors a submission itself can fail with: the job was not accepted.
 *
 * @category models
 * @since 0.1.0
 */
export type SubmitError = PoolShutdown | QueueFull | InvalidJobOptions

/**
 * The pool's own ways for an accepted job to end without its handler's result.
 *
 * @category models
 * @since 0.1.0
 */
export type JobError = JobTimeout | JobDropped | PoolShutdown

const describe = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value)
  if (value === undefined || value === null) return String(value)
  return Array.isArray(value) ? "array" : typeof value
}
