import { assert } from "@effect/vitest"
import type { WorkerPool } from "../../src/index.ts"

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

/** Asserts invariant 9 (the outcomes, queued and running jobs add up to `submitted`); `when` names the moment. */
export const checkAccounts = (stats: WorkerPool.Stats, when: string) =>
  assert.strictEqual(accounted(stats), stats.submitted, `invariant 9 at ${when}: ${JSON.stringify(stats)}`)

/** The given fields of `stats`, to compare several at once. */
export const pick = <K extends keyof WorkerPool.Stats>(stats: WorkerPool.Stats, keys: ReadonlyArray<K>) =>
  Object.fromEntries(keys.map((k) => [k, stats[k]]))
