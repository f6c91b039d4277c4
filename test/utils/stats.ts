/** The sum that invariant 9 says equals `submitted`. */
export const accounted = (s: {
  readonly succeeded: number
  readonly failed: number
  readonly defects: number
  readonly timedOut: number
  readonly cancelled: number
  readonly dropped: number
  readonly shutdown: number
  readonly queued: number
  readonly running: number
}): number =>
  s.succeeded + s.failed + s.defects + s.timedOut + s.cancelled + s.dropped + s.shutdown + s.queued + s.running
