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
