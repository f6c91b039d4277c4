/**
 * The rate limit as a sliding log: the times of the last `limit` starts, in a ring. A job may start once the
 * oldest of them is `interval` old, so no window of that length ever holds more than `limit` starts, with no burst
 * at window edges (unlike a fixed window or a token bucket).
 */

export class SlidingLog {
  readonly limit: number
  readonly intervalMillis: number
  private readonly starts: Array<number>
  private head = 0

  constructor(limit: number, intervalMillis: number) {
    this.limit = limit
    this.intervalMillis = intervalMillis
    this.starts = new Array<number>(limit).fill(-Infinity)
  }

  /** The earliest instant at which one more start is allowed. */
  opensAt(): number {
    return this.starts[this.head] + this.intervalMillis
  }

  /** Records a start at `now`. */
  record(now: number): void {
    this.starts[this.head] = now
    this.head = (this.head + 1) % this.starts.length
  }
}
