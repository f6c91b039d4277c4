/**
 * A seeded pseudo-random generator for the randomized checks of the internal data structures: the same seed gives
 * the same run, so a failure replays. Each check runs with a fixed seed, which is in its title and in its assertion
 * messages; `UNITS_SEED=<seed>` runs every check with another one.
 */

export interface Random {
  readonly seed: number
  /** a float in [0, 1) */
  readonly next: () => number
  /** an integer in [lo, hi] */
  readonly int: (lo: number, hi: number) => number
  readonly pick: <A>(as: ReadonlyArray<A>) => A
}

/** The seed a check runs with: `UNITS_SEED` when set, else the check's own fixed seed. */
export const seedOr = (fixed: number): number =>
  process.env.UNITS_SEED !== undefined ? Number(process.env.UNITS_SEED) : fixed

export const random = (seed: number): Random => {
  let state = seed
  // mulberry32
  const next = () => {
    state |= 0
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1))
  return { seed, next, int, pick: (as) => as[Math.floor(next() * as.length)] }
}
