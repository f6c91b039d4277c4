import { assert, describe, it } from "@effect/vitest"
import { boundariesMillis, Durations } from "../../src/internal/histogram.ts"
import { random, seedOr } from "./random.ts"

const of = (values: ReadonlyArray<number>): Durations => {
  const durations = new Durations()
  for (const v of values) durations.record(v)
  return durations
}

/**
 * Prometheus' `histogram_quantile` over cumulative `le` buckets, computed from the raw values, then kept within
 * their minimum and maximum. For values within the last finite bound only (Prometheus answers the last finite bound
 * for the `+Inf` bucket), and for `0 < q <= 1`.
 */
const reference = (values: ReadonlyArray<number>, q: number): number => {
  const cumulative = boundariesMillis.map((le) => values.filter((v) => v <= le).length)
  const rank = q * values.length
  const b = cumulative.findIndex((count) => count >= rank)
  const start = b === 0 ? 0 : boundariesMillis[b - 1]
  const below = b === 0 ? 0 : cumulative[b - 1]
  const value = start + (boundariesMillis[b] - start) * ((rank - below) / (cumulative[b] - below))
  return Math.min(Math.max(...values), Math.max(Math.min(...values), value))
}

describe("Durations", () => {
  it("an empty histogram reads 0 for every quantile and in its summary", () => {
    const durations = new Durations()
    for (const q of [0, 0.5, 0.99, 1]) assert.strictEqual(durations.quantile(q), 0)
    assert.deepStrictEqual(durations.summary(), {
      count: 0,
      averageMillis: 0,
      p50Millis: 0,
      p90Millis: 0,
      p99Millis: 0,
      maxMillis: 0
    })
  })

  it("a value equal to a bucket's upper bound counts in that bucket, as a Prometheus `le` bucket does", () => {
    const durations = of([0, 0.5, 1, 1.0001, 2.5, 300_000, 300_001])
    const counts = Array.from(durations.counts)
    assert.strictEqual(counts.length, boundariesMillis.length + 1)
    assert.strictEqual(counts[0], 2, "0 and 0.5 are <= 0.5")
    assert.strictEqual(counts[1], 1, "1 is <= 1")
    assert.strictEqual(counts[2], 2, "1.0001 and 2.5 are in (1, 2.5]")
    assert.strictEqual(counts[boundariesMillis.length - 1], 1, "300000 is in the last finite bucket")
    assert.strictEqual(counts[boundariesMillis.length], 1, "300001 is above every bound")
    assert.strictEqual(durations.count, 7)
  })

  it("the quantiles of 1 to 100 ms interpolate inside their buckets", () => {
    const durations = of(Array.from({ length: 100 }, (_, i) => i + 1))
    // Each boundary from 5 to 100 holds exactly that many values, so linear interpolation lands on the true value.
    const expected: ReadonlyArray<[number, number]> = [
      [0.05, 5],
      [0.1, 10],
      [0.25, 25],
      [0.5, 50],
      [0.75, 75],
      [0.9, 90],
      [0.99, 99],
      [1, 100]
    ]
    for (const [q, value] of expected) assert.closeTo(durations.quantile(q), value, 1e-9, `quantile ${q}`)
    // (2.5, 5] holds 3, 4 and 5: the rank 3 of 100 lies a third of the way in.
    assert.closeTo(durations.quantile(0.03), 2.5 + 2.5 / 3, 1e-9)
  })

  it("a rank that fills its bucket exactly reads that bucket's upper bound, not the next non-empty bucket", () => {
    const durations = of([2, 2, 800, 800])
    assert.strictEqual(durations.quantile(0.5), 2.5, "the rank 2 of 4 is the top of (1, 2.5]")
    assert.strictEqual(durations.quantile(0.75), 750, "the rank 3 of 4 is half-way into (500, 1000]")
  })

  it("the median of a dense uniform distribution is close to the true median", () => {
    const durations = of(Array.from({ length: 10_000 }, (_, i) => (i + 0.5) / 10))
    assert.closeTo(durations.quantile(0.5), 500, 1)
    assert.closeTo(durations.quantile(0.2), 200, 1)
    assert.closeTo(durations.quantile(0.9), 900, 1)
  })

  it("quantiles are kept within the observed minimum and maximum", () => {
    const single = of([3])
    for (const q of [0, 0.01, 0.5, 0.99, 1]) assert.strictEqual(single.quantile(q), 3, `quantile ${q} of one value`)
    const pair = of([30, 40])
    assert.strictEqual(pair.quantile(0), 30, "rather than the bucket's lower bound 25")
    assert.strictEqual(pair.quantile(0.01), 30)
    assert.strictEqual(pair.quantile(0.5), 37.5, "inside the bounds, interpolated: 25 + 25 * 1/2")
    assert.strictEqual(pair.quantile(1), 40, "rather than the bucket's upper bound 50")
    assert.strictEqual(pair.quantile(2), 40, "a quantile above 1 reads the maximum")
  })

  it("values above the last boundary interpolate up to the observed maximum", () => {
    const durations = of([400_000, 500_000])
    assert.strictEqual(durations.quantile(0.5), 400_000)
    assert.strictEqual(durations.quantile(0.75), 450_000)
    assert.strictEqual(durations.quantile(1), 500_000)
  })

  const seed = seedOr(2_718)
  it(`quantiles of seeded distributions match Prometheus' histogram_quantile, clamped (seed ${seed})`, () => {
    const rng = random(seed)
    const distributions: ReadonlyArray<[string, () => number]> = [
      ["exponential, mean 20 ms", () => -20 * Math.log(1 - rng.next())],
      ["log-uniform, 0.01 ms to 100 s", () => 10 ** (rng.next() * 7 - 2)],
      ["bimodal, 2 ms and 800 ms", () => (rng.next() < 0.8 ? 1 + rng.next() * 2 : 500 + rng.next() * 600)],
      ["a few integers", () => rng.int(1, 12)]
    ]
    for (const [name, sample] of distributions) {
      for (const n of [1, 7, 100, 5_000]) {
        const values = Array.from({ length: n }, sample)
        const durations = of(values)
        for (const q of [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]) {
          const expected = reference(values, q)
          assert.closeTo(
            durations.quantile(q),
            expected,
            1e-9 * Math.max(1, expected),
            `${name}, n ${n}, q ${q} (seed ${seed})`
          )
        }
      }
    }
  })

  it("the summary reports the count, average, p50, p90, p99 and maximum", () => {
    const durations = of(Array.from({ length: 100 }, (_, i) => i + 1))
    assert.deepStrictEqual(durations.summary(), {
      count: 100,
      averageMillis: 50.5,
      p50Millis: 50,
      p90Millis: 90,
      p99Millis: 99,
      maxMillis: 100
    })
    assert.strictEqual(durations.min, 1)
    assert.strictEqual(durations.sum, 5_050)
  })
})
