import { assert, describe, it } from "@effect/vitest"
import { SlidingLog } from "../../src/internal/rateLimit.ts"
import { random, seedOr } from "./random.ts"

describe("SlidingLog", () => {
  it("a new log allows a start at any instant", () => {
    assert.strictEqual(new SlidingLog(3, 1_000).opensAt(), -Infinity)
  })

  it("allows `limit` starts at one instant, then opens when the oldest of them is `interval` old", () => {
    const log = new SlidingLog(3, 100)
    log.record(0)
    log.record(0)
    assert.strictEqual(log.opensAt(), -Infinity, "two starts out of three")
    log.record(0)
    assert.strictEqual(log.opensAt(), 100)
    log.record(100)
    log.record(100)
    assert.strictEqual(log.opensAt(), 100, "the third start at 0 is still one interval old at 100")
    log.record(100)
    assert.strictEqual(log.opensAt(), 200)
  })

  it("opensAt is the oldest of the last `limit` starts plus the interval", () => {
    const log = new SlidingLog(2, 10)
    log.record(1)
    log.record(5)
    assert.strictEqual(log.opensAt(), 11)
    log.record(11)
    assert.strictEqual(log.opensAt(), 15)
    log.record(20)
    assert.strictEqual(log.opensAt(), 21)
    log.record(40)
    assert.strictEqual(log.opensAt(), 30)
  })

  it("a limit of 1 spaces starts by at least the interval", () => {
    const log = new SlidingLog(1, 50)
    log.record(0)
    assert.strictEqual(log.opensAt(), 50)
    log.record(70)
    assert.strictEqual(log.opensAt(), 120)
  })

  const seed = seedOr(2_024)
  it(`no window of \`interval\` ever holds more than \`limit\` starts, and a start is refused only when one would (seed ${seed})`, () => {
    const rng = random(seed)
    for (let run = 0; run < 200; run++) {
      const limit = rng.int(1, 6)
      const interval = rng.int(1, 100)
      const log = new SlidingLog(limit, interval)
      const starts: Array<number> = []
      let now = rng.int(0, 1_000)
      for (let attempt = 0; attempt < 300; attempt++) {
        const at = `seed ${seed}, run ${run} (limit ${limit}, interval ${interval}), attempt ${attempt}, now ${now}`
        // brute force: the starts in the window of `interval` that ends at `now`, ends included (starts are in
        // time order, so the count stops at the first one out of the window)
        let inWindow = 0
        for (let i = starts.length - 1; i >= 0 && starts[i] > now - interval; i--) inWindow++
        const allowed = now >= log.opensAt()
        assert.strictEqual(allowed, inWindow < limit, `allowed, ${at}`)
        const expectedOpensAt = starts.length < limit ? -Infinity : starts[starts.length - limit] + interval
        assert.strictEqual(log.opensAt(), expectedOpensAt, `opensAt, ${at}`)
        if (allowed && rng.next() < 0.9) {
          log.record(now)
          starts.push(now)
        }
        const roll = rng.next()
        if (roll < 0.3) continue // several attempts at one instant
        now = roll < 0.5 && !allowed ? log.opensAt() : now + rng.int(1, Math.ceil(interval / 2))
      }
      // The fullest window of `interval` may as well open at a start: count from each start.
      for (let i = 0; i < starts.length; i++) {
        let inWindow = 0
        for (let j = i; j < starts.length && starts[j] < starts[i] + interval; j++) inWindow++
        assert.isAtMost(inWindow, limit, `the window from ${starts[i]} (seed ${seed}, run ${run})`)
      }
    }
  })
})
