/**
 * The jobs of the thread cases, the very same code on every thread of every implementation (and on the main thread
 * in the "no pool" row): each entry file imports them from here. This module imports nothing, so that the peers'
 * threads load nothing more than it.
 *
 * The CPU-bound job is many short calls of one hot function, not one long loop: `block` hashes 256 words (about a
 * microsecond) and a job calls it `cpuCalls` times. V8 optimizes a function that is called that often the same way
 * on every thread, whereas one long loop is optimized on stack (OSR), at a point that can differ from isolate to
 * isolate, and so can the time identical jobs take on different threads.
 */

/**
 * Calls of `block` per CPU-bound job: about 20 ms on a 2-core AMD EPYC VM (Node 24), measured with
 * `node bench/threads/calibrate.ts`. The report prints the time one job took in the run it reports.
 */
export const cpuCalls = 18_250

/** One step of a 32-bit FNV-1a hash over the four bytes of `x`. */
const mix = (h: number, x: number): number => {
  h = Math.imul(h ^ (x & 0xff), 0x01000193)
  h = Math.imul(h ^ ((x >>> 8) & 0xff), 0x01000193)
  h = Math.imul(h ^ ((x >>> 16) & 0xff), 0x01000193)
  return Math.imul(h ^ (x >>> 24), 0x01000193)
}

/** The hot function: the hash of the 256 words `256 i .. 256 i + 255`, salted with `seed`. */
const block = (seed: number, i: number): number => {
  let h = 0x811c9dc5 ^ seed
  const base = i << 8
  for (let k = 0; k < 256; k++) h = mix(h, base + k)
  return h
}

/** The CPU-bound job: `calls` calls of `block`, folded into one 32-bit number. Pure integer math, no allocation. */
export const cpuJob = (seed: number, calls: number = cpuCalls): number => {
  let acc = seed | 0
  for (let i = 0; i < calls; i++) acc = (acc + block(seed, i)) | 0
  return acc >>> 0
}

/** The tiny job of the dispatch case: almost nothing, so that the pool's own cost per job is what is measured. */
export const tinyJob = (n: number): number => n + 1
