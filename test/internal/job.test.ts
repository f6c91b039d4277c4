import { assert, describe, it } from "@effect/vitest"
import { infoOf, Job, Rare } from "../../src/internal/job.ts"

const plain = () => new Job(7, 7, { payload: 1 }, Infinity, undefined, undefined)

const keyed = () => new Job(8, 3, "input", 1_000, "order-8", new Rare(2, "customer-1", undefined, undefined))

const started = <J extends Job<any, any, any>>(job: J): J => {
  job.phase = "Running"
  job.attempt = 2
  job.startedAt = 1_234
  job.worker = 3
  return job
}

describe("infoOf", () => {
  it("holds exactly the JobInfo fields, and nothing of the job record", () => {
    const info = infoOf(started(keyed()), "billing", 1_234)
    assert.deepStrictEqual(Object.keys(info).sort(), [
      "attempt",
      "id",
      "key",
      "pool",
      "priority",
      "startedAt",
      "worker"
    ])
    assert.notInstanceOf(info, Job)
    assert.isFalse("input" in info, "the handler has its input already")
    assert.isFalse("phase" in info)
  })

  it("reads the job's id, attempt, priority, key, start, worker and the pool's name", () => {
    assert.deepStrictEqual({ ...infoOf(started(keyed()), "billing", 1_234) }, {
      id: "order-8",
      attempt: 2,
      priority: 2,
      key: "customer-1",
      startedAt: 1_234,
      worker: 3,
      pool: "billing"
    })
  })

  it("a job with no id, priority or key of its own reads its number as id, priority 0 and no key", () => {
    const info = infoOf(started(plain()), "p", 1_234)
    assert.strictEqual(info.id, "7")
    assert.strictEqual(info.priority, 0)
    assert.isUndefined(info.key)
    assert.isTrue(Object.hasOwn(info, "key"), "key is there, undefined")
  })

  it("is frozen: assigning to it throws and changes nothing", () => {
    const info = infoOf(started(keyed()), "billing", 1_234)
    assert.isTrue(Object.isFrozen(info))
    const writable = info as unknown as Record<string, unknown>
    assert.throws(() => {
      writable.attempt = 9
    }, TypeError)
    assert.throws(() => {
      writable.extra = 1
    }, TypeError)
    assert.strictEqual(info.attempt, 2)
  })

  it("is a snapshot: later changes to the job do not show in it", () => {
    const job = started(keyed())
    const info = infoOf(job, "billing", 1_234)
    job.attempt = 3
    job.startedAt = 9_999
    job.worker = 1
    job.rare = new Rare(-5, "customer-2", undefined, undefined)
    assert.deepStrictEqual({ ...info }, {
      id: "order-8",
      attempt: 2,
      priority: 2,
      key: "customer-1",
      startedAt: 1_234,
      worker: 3,
      pool: "billing"
    })
    const next = infoOf(job, "billing", 9_999)
    assert.strictEqual(next.attempt, 3, "the next attempt gets a snapshot of its own")
    assert.strictEqual(next.key, "customer-2")
    assert.notStrictEqual(next, info)
  })
})
