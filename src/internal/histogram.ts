/**
 * A fixed-bucket histogram of durations in milliseconds, recorded on the per-job path with no allocation. The
 * pool's `stats` read percentiles from it, and its metrics export it as an `effect/Metric` histogram in seconds.
 */
import type { DurationSummary } from "../WorkerPool.ts"

/** Upper bounds of the buckets, in milliseconds (the last bucket is unbounded). @internal */
export const boundariesMillis: ReadonlyArray<number> = [
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  30_000,
  60_000,
  300_000
]

/** @internal */
export type Summary = DurationSummary

/** @internal */
export class Durations {
  /** counts per bucket; the last one counts values above every boundary */
  readonly counts = new Float64Array(boundariesMillis.length + 1)
  count = 0
  sum = 0
  min = Infinity
  max = 0

  record(millis: number): void {
    let i = 0
    // Most jobs land in the first few buckets: a linear scan from the bottom beats a binary search there.
    while (i < boundariesMillis.length && millis > boundariesMillis[i]) i++
    this.counts[i]++
    this.count++
    this.sum += millis
    if (millis < this.min) this.min = millis
    if (millis > this.max) this.max = millis
  }

  /**
   * The `q` quantile (0 to 1), interpolated linearly inside its bucket as Prometheus' `histogram_quantile` does,
   * and kept within the observed minimum and maximum. 0 when nothing was recorded.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = q * this.count
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = this.counts[i]
      if (inBucket > 0 && seen + inBucket >= rank) {
        const lower = i === 0 ? 0 : boundariesMillis[i - 1]
        const upper = i < boundariesMillis.length ? boundariesMillis[i] : this.max
        const value = lower + (upper - lower) * ((rank - seen) / inBucket)
        return Math.min(this.max, Math.max(this.min, value))
      }
      seen += inBucket
    }
    return this.max
  }

  summary(): Summary {
    return {
      count: this.count,
      averageMillis: this.count === 0 ? 0 : this.sum / this.count,
      p50Millis: this.quantile(0.5),
      p90Millis: this.quantile(0.9),
      p99Millis: this.quantile(0.99),
      maxMillis: this.max
    }
  }
}
