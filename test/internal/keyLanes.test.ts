import { assert, describe, it } from "@effect/vitest"
import type { Fifo } from "../../src/internal/fifo.ts"
import { KeyLanes } from "../../src/internal/keyLanes.ts"
import { random, seedOr } from "./random.ts"

/** A job as the lanes see it: whether it still waits in a line is the caller's to say. */
interface J {
  readonly name: string
  readonly key: string
  waiting: boolean
}

const lanesOf = () => new KeyLanes<J>((job) => job.waiting)

const job = (name: string, key = "k"): J => ({ name, key, waiting: false })

const names = (jobs: Iterable<J>): Array<string> => Array.from(jobs, (j) => j.name)

/** Acquires the job's key as the pool does: a job that did not get it is marked as waiting. */
const acquire = (lanes: KeyLanes<J>, j: J): boolean => {
  const holds = lanes.acquire(j.key, j)
  if (!holds) j.waiting = true
  return holds
}

/** Passes the key on from `j` as the pool does: the next job holds the key and no longer waits. */
const release = (lanes: KeyLanes<J>, j: J): J | undefined => {
  const next = lanes.release(j.key, j)
  if (next !== undefined) next.waiting = false
  return next
}

/** A waiting job leaves its line as the pool does: it is marked first, then the lanes are told. */
const leave = (lanes: KeyLanes<J>, j: J): void => {
  j.waiting = false
  lanes.leave(j.key, j)
}

/** Private state, read to see that a compaction or a reuse happened. */
const internals = (lanes: KeyLanes<J>) =>
  lanes as unknown as {
    readonly lanes: Map<string, { readonly waiting: Fifo<J> }>
    readonly free: ReadonlyArray<unknown>
  }

describe("KeyLanes", () => {
  it("the first job of a key takes it and later jobs of the key wait, while other keys are independent", () => {
    const lanes = lanesOf()
    const [a, b, c, other] = [job("a"), job("b"), job("c"), job("other", "k2")]
    assert.isTrue(acquire(lanes, a))
    assert.isFalse(acquire(lanes, b))
    assert.isFalse(acquire(lanes, c))
    assert.isTrue(acquire(lanes, other), "another key is free")
    assert.deepStrictEqual(names(lanes.waitingJobs()), ["b", "c"])
  })

  it("the holder acquiring its key again goes ahead without joining the line", () => {
    const lanes = lanesOf()
    const [a, b] = [job("a"), job("b")]
    acquire(lanes, a)
    acquire(lanes, b)
    assert.isTrue(lanes.acquire("k", a))
    assert.deepStrictEqual(names(lanes.waitingJobs()), ["b"])
    assert.strictEqual(release(lanes, a), b)
    assert.isUndefined(release(lanes, b), "the holder was not queued behind itself")
  })

  it("releasing passes the key to the waiting jobs in submission order, then frees the key", () => {
    const lanes = lanesOf()
    const all = ["a", "b", "c", "d"].map((n) => job(n))
    all.forEach((j) => acquire(lanes, j))
    assert.strictEqual(release(lanes, all[0]), all[1])
    assert.isTrue(lanes.acquire("k", all[1]), "the job the key passed to holds it")
    assert.isFalse(acquire(lanes, job("late")), "a new job waits behind the new holder")
    assert.strictEqual(release(lanes, all[1]), all[2])
    assert.strictEqual(release(lanes, all[2]), all[3])
    assert.strictEqual(release(lanes, all[3])?.name, "late")
  })

  it("the last release frees the key for the next job", () => {
    const lanes = lanesOf()
    const [a, b] = [job("a"), job("b")]
    acquire(lanes, a)
    assert.isUndefined(release(lanes, a))
    assert.isTrue(acquire(lanes, b))
    assert.deepStrictEqual(names(lanes.waitingJobs()), [])
  })

  it("a release by a job that does not hold the key does nothing", () => {
    const lanes = lanesOf()
    const [a, b, c] = [job("a"), job("b"), job("c")]
    acquire(lanes, a)
    acquire(lanes, b)
    acquire(lanes, c)
    assert.isUndefined(release(lanes, b), "a waiting job")
    assert.isUndefined(release(lanes, job("stranger")), "a job never seen")
    assert.isUndefined(lanes.release("no such key", a), "a key with no lane")
    assert.deepStrictEqual(names(lanes.waitingJobs()), ["b", "c"])
    assert.strictEqual(release(lanes, a), b, "the holder still holds the key")
  })

  it("a released key passes to the next job still waiting, skipping those that left", () => {
    const lanes = lanesOf()
    const all = ["a", "b", "c", "d", "e"].map((n) => job(n))
    all.forEach((j) => acquire(lanes, j))
    leave(lanes, all[1])
    leave(lanes, all[2])
    leave(lanes, all[4])
    assert.deepStrictEqual(names(lanes.waitingJobs()), ["d"])
    assert.strictEqual(release(lanes, all[0]), all[3])
    assert.isUndefined(release(lanes, all[3]), "only jobs that left were behind it")
    assert.isTrue(acquire(lanes, job("next")), "the key is free again")
  })

  it("leaving a key that has no lane does nothing", () => {
    const lanes = lanesOf()
    lanes.leave("nobody", job("x", "nobody"))
    assert.isTrue(acquire(lanes, job("a", "nobody")))
  })

  it("more than 1024 jobs leaving a line, half of it or more, are compacted away, keeping the order", () => {
    const lanes = lanesOf()
    const holder = job("holder")
    acquire(lanes, holder)
    const line = Array.from({ length: 3000 }, (_, i) => job(`w${i}`))
    line.forEach((j) => acquire(lanes, j))
    // 1501 tombstones are more than half the line of 3000: the 1501st leave compacts it.
    const left = new Set(line.filter((_, i) => i % 2 === 1 || i === 0).slice(0, 1501))
    for (const j of left) leave(lanes, j)
    const stay = line.filter((j) => !left.has(j))
    assert.strictEqual(internals(lanes).lanes.get("k")!.waiting.length, stay.length, "only waiting jobs remain")
    assert.deepStrictEqual(names(lanes.waitingJobs()), names(stay))
    const order: Array<J> = []
    for (let h: J | undefined = holder; h !== undefined; h = release(lanes, h)) order.push(h)
    assert.deepStrictEqual(names(order), names([holder, ...stay]))
  })

  it("the lane of a freed key is reused for another key, with nothing left over from before", () => {
    const lanes = lanesOf()
    const [a, b, c] = [job("a", "k1"), job("b", "k1"), job("c", "k1")]
    acquire(lanes, a)
    acquire(lanes, b)
    acquire(lanes, c)
    leave(lanes, c)
    assert.strictEqual(release(lanes, a), b)
    assert.isUndefined(release(lanes, b))
    assert.strictEqual(internals(lanes).free.length, 1, "the lane of k1 is kept for reuse")
    const [d, e] = [job("d", "k2"), job("e", "k2")]
    assert.isTrue(acquire(lanes, d))
    assert.strictEqual(internals(lanes).free.length, 0, "k2 took the free lane")
    assert.deepStrictEqual(names(lanes.waitingJobs()), [], "no job of k1 is left in the reused lane")
    assert.isFalse(acquire(lanes, e))
    assert.isUndefined(release(lanes, a), "the old holder of the lane does not hold k2")
    assert.strictEqual(release(lanes, d), e)
    assert.isUndefined(release(lanes, e))
    assert.isTrue(acquire(lanes, job("f", "k1")), "k1 is free")
  })

  it("at most 1024 lanes of freed keys are kept for reuse", () => {
    const lanes = lanesOf()
    const holders = Array.from({ length: 1100 }, (_, i) => job(`h${i}`, `key${i}`))
    holders.forEach((j) => acquire(lanes, j))
    holders.forEach((j) => release(lanes, j))
    assert.strictEqual(internals(lanes).free.length, 1024)
    assert.strictEqual(internals(lanes).lanes.size, 0)
  })

  it("waitingJobs lists the jobs still waiting, line by line, each line in submission order", () => {
    const lanes = lanesOf()
    const jobs = ["a1", "b1", "a2", "b2", "a3", "b3", "a4"].map((n) => job(n, n[0]))
    jobs.forEach((j) => acquire(lanes, j))
    assert.deepStrictEqual(names(lanes.waitingJobs()), ["a2", "a3", "a4", "b2", "b3"])
    leave(lanes, jobs[4])
    release(lanes, jobs[1])
    assert.deepStrictEqual(names(lanes.waitingJobs()), ["a2", "a4", "b3"], "no leaver and no holder")
  })

  it("takeAllWaiting empties every line and returns the jobs still waiting, while the holders keep their keys", () => {
    const lanes = lanesOf()
    const jobs = ["a1", "b1", "a2", "b2", "a3", "b3"].map((n) => job(n, n[0]))
    jobs.forEach((j) => acquire(lanes, j))
    leave(lanes, jobs[3])
    const taken = lanes.takeAllWaiting()
    assert.deepStrictEqual(names(taken), ["a2", "a3", "b3"])
    for (const j of taken) j.waiting = false
    assert.deepStrictEqual(names(lanes.waitingJobs()), [])
    assert.deepStrictEqual(lanes.takeAllWaiting(), [])
    const late = job("a late", "a")
    assert.isFalse(acquire(lanes, late), "a1 still holds a")
    assert.strictEqual(release(lanes, jobs[0]), late, "the taken jobs are out of the line")
    assert.isUndefined(release(lanes, jobs[1]), "b's line is empty")
  })

  const seed = seedOr(4_242)
  it(`random acquires, leaves and releases match a brute-force model (seed ${seed})`, () => {
    const rng = random(seed)
    const lanes = lanesOf()
    // the model: per key in use, its holder and the jobs still waiting, in submission order
    const model = new Map<string, { holder: J; line: Array<J> }>()
    const waiting: Array<J> = []
    let count = 0
    let compactions = 0
    const lineLengths = () => {
      let n = 0
      for (const lane of internals(lanes).lanes.values()) n += lane.waiting.length
      return n
    }
    const forget = (j: J) => {
      const i = waiting.indexOf(j)
      waiting[i] = waiting[waiting.length - 1]
      waiting.pop()
    }
    for (let step = 0; step < 24_000; step++) {
      const phase = Math.floor(step / 4_000) % 3 // grow, leave most, drain
      const keys = phase === 0 && step % 8_000 < 4_000 ? ["a", "b"] : ["a", "b", "c", "d", "e", "f"]
      const roll = rng.next()
      const at = `seed ${seed}, step ${step}`
      const before = lineLengths()
      if (roll < [0.75, 0.1, 0.2][phase]) {
        const j = job(`j${count++}`, rng.pick(keys))
        const lane = model.get(j.key)
        assert.strictEqual(acquire(lanes, j), lane === undefined, `acquire, ${at}`)
        if (lane === undefined) model.set(j.key, { holder: j, line: [] })
        else {
          lane.line.push(j)
          waiting.push(j)
        }
      } else if (roll < [0.9, 0.9, 0.4][phase] && waiting.length > 0) {
        const j = waiting[rng.int(0, waiting.length - 1)]
        forget(j)
        const line = model.get(j.key)!.line
        line.splice(line.indexOf(j), 1)
        leave(lanes, j)
      } else if (roll < 0.999) {
        const key = rng.pick(keys)
        const lane = model.get(key)
        if (lane === undefined) {
          assert.isUndefined(lanes.release(key, job("stranger", key)), `release of a free key, ${at}`)
        } else if (rng.next() < 0.1 && lane.line.length > 0) {
          assert.isUndefined(release(lanes, lane.line[0]), `release by a waiting job, ${at}`)
        } else {
          const expected = lane.line.shift()
          assert.strictEqual(release(lanes, lane.holder)?.name, expected?.name, `release, ${at}`)
          if (expected === undefined) model.delete(key)
          else {
            forget(expected)
            lane.holder = expected
          }
        }
      } else {
        const expected = Array.from(model.values()).flatMap((lane) => lane.line)
        const taken = lanes.takeAllWaiting()
        assert.deepStrictEqual(names(taken), names(expected), `takeAllWaiting, ${at}`)
        for (const j of taken) j.waiting = false
        for (const lane of model.values()) lane.line = []
        waiting.length = 0
      }
      if (lineLengths() < before - 1) compactions++
      if (step % 5 === 0) {
        const expected = Array.from(model.values()).flatMap((lane) => lane.line)
        assert.deepStrictEqual(names(lanes.waitingJobs()), names(expected), `waitingJobs, ${at}`)
      }
    }
    assert.isAbove(compactions, 0, `the run compacts a line at least once (seed ${seed})`)
  })
})
