import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Fifo } from "../../src/internal/fifo.ts"
import type { PoolState } from "../../src/internal/state.ts"
import { Waiter, WaitList } from "../../src/internal/waiters.ts"
import { random, seedOr } from "./random.ts"

// The list reads only `gaveUp` and `job` of a waiter: the pool it waits for plays no part here.
const pool = {} as PoolState<number, unknown, unknown>

const waiter = (input: number): Waiter<number> =>
  new Waiter(pool, input, undefined, false, () => {}, () => Effect.void, undefined)

const inputs = (waiters: ReadonlyArray<Waiter<number>>): Array<number> => waiters.map((w) => w.input)

/** The length of the underlying list, tombstones included: private, read to see that a compaction happened. */
const listLength = (list: WaitList<number>): number =>
  (list as unknown as { readonly list: Fifo<Waiter<number>> }).list.length

describe("WaitList", () => {
  it("waiters are taken in arrival order, and an empty list takes nothing", () => {
    const list = new WaitList<number>()
    assert.isUndefined(list.take())
    const all = [1, 2, 3, 4].map(waiter)
    all.forEach((w) => list.push(w))
    assert.strictEqual(list.take(), all[0])
    list.push(waiter(5))
    assert.deepStrictEqual([list.take(), list.take(), list.take(), list.take()].map((w) => w?.input), [2, 3, 4, 5])
    assert.isUndefined(list.take())
  })

  it("a waiter that gives up is no longer counted and is skipped when its turn comes", () => {
    const list = new WaitList<number>()
    const all = [1, 2, 3, 4].map(waiter)
    all.forEach((w) => list.push(w))
    assert.isTrue(list.giveUp(all[0]))
    assert.isTrue(list.giveUp(all[2]))
    assert.isTrue(all[0].gaveUp)
    assert.strictEqual(list.size, 2)
    assert.strictEqual(list.take(), all[1])
    assert.strictEqual(list.take(), all[3])
    assert.isUndefined(list.take())
    assert.strictEqual(list.size, 0)
  })

  it("giving up a second time, or once admitted, returns false and changes nothing", () => {
    const list = new WaitList<number>()
    const [a, b, c] = [1, 2, 3].map(waiter)
    for (const w of [a, b, c]) list.push(w)
    assert.isTrue(list.giveUp(a))
    assert.isFalse(list.giveUp(a))
    assert.strictEqual(list.size, 2)
    const admitted = list.take()!
    assert.strictEqual(admitted, b)
    admitted.job = { admitted: true }
    assert.isFalse(list.giveUp(admitted))
    assert.isFalse(admitted.gaveUp)
    assert.strictEqual(list.size, 1)
    assert.strictEqual(list.take(), c)
  })

  it("size counts the live waiters through pushes, takes and give-ups", () => {
    const list = new WaitList<number>()
    const all = [1, 2, 3, 4, 5].map(waiter)
    all.forEach((w) => list.push(w))
    assert.strictEqual(list.size, 5)
    list.giveUp(all[3])
    assert.strictEqual(list.size, 4)
    list.take()
    assert.strictEqual(list.size, 3)
    list.giveUp(all[1])
    list.giveUp(all[4])
    assert.strictEqual(list.size, 1)
    assert.strictEqual(list.take(), all[2])
    assert.strictEqual(list.size, 0)
  })

  it("more than 1024 waiters giving up, outnumbering the live ones, are compacted away, keeping the order", () => {
    const list = new WaitList<number>()
    const all = Array.from({ length: 3000 }, (_, i) => waiter(i))
    all.forEach((w) => list.push(w))
    // The 1501st give-up leaves 1499 waiting: tombstones outnumber them, and the list is compacted.
    const gaveUp = new Set(all.filter((_, i) => i % 2 === 1 || i === 0).slice(0, 1501))
    for (const w of gaveUp) list.giveUp(w)
    const live = all.filter((w) => !gaveUp.has(w))
    assert.strictEqual(list.size, live.length)
    assert.strictEqual(listLength(list), live.length, "the list holds only live waiters after compaction")
    assert.deepStrictEqual(inputs(list.takeAll()), inputs(live))
  })

  it("peek shows the first live waiter without taking it; one that gives up after a peek is skipped", () => {
    const list = new WaitList<number>()
    assert.isUndefined(list.peek())
    const [a, b, c] = [1, 2, 3].map(waiter)
    for (const w of [a, b, c]) list.push(w)
    assert.strictEqual(list.peek(), a)
    assert.strictEqual(list.peek(), a, "peeking again changes nothing")
    assert.strictEqual(list.size, 3)
    assert.isTrue(list.giveUp(a))
    assert.strictEqual(list.size, 2)
    assert.strictEqual(list.peek(), b)
    assert.strictEqual(list.take(), b)
    assert.isFalse(list.giveUp(b), "a taken waiter cannot give up")
    list.giveUp(c)
    assert.isUndefined(list.peek())
    assert.strictEqual(list.size, 0)
    list.push(waiter(4))
    assert.strictEqual(list.take()?.input, 4)
  })

  it("takeAll takes every live waiter in arrival order and empties the list", () => {
    const list = new WaitList<number>()
    const all = [1, 2, 3, 4, 5].map(waiter)
    all.forEach((w) => list.push(w))
    list.giveUp(all[1])
    list.giveUp(all[4])
    assert.deepStrictEqual(inputs(list.takeAll()), [1, 3, 4])
    assert.strictEqual(list.size, 0)
    assert.isUndefined(list.take())
    assert.deepStrictEqual(list.takeAll(), [])
    list.push(waiter(6))
    assert.strictEqual(list.size, 1, "the list is usable after takeAll")
    assert.strictEqual(list.take()?.input, 6)
  })

  const seed = seedOr(777)
  it(`random pushes, give-ups and takes match a brute-force model (seed ${seed})`, () => {
    const rng = random(seed)
    const list = new WaitList<number>()
    const live: Array<Waiter<number>> = [] // in arrival order
    let count = 0
    let compactions = 0
    for (let step = 0; step < 20_000; step++) {
      const phase = Math.floor(step / 4_000) % 2 // grow, then give up most
      const roll = rng.next()
      const at = `seed ${seed}, step ${step}`
      const before = listLength(list)
      if (roll < [0.7, 0.1][phase]) {
        const w = waiter(count++)
        list.push(w)
        live.push(w)
      } else if (roll < [0.8, 0.9][phase] && live.length > 0) {
        const w = live.splice(rng.int(0, live.length - 1), 1)[0]
        assert.isTrue(list.giveUp(w), `giveUp, ${at}`)
      } else if (roll < 0.95) {
        assert.strictEqual(list.peek(), live[0], `peek, ${at}`)
      } else if (roll < 0.9995) {
        assert.strictEqual(list.take(), live.shift(), `take, ${at}`)
      } else {
        assert.deepStrictEqual(inputs(list.takeAll()), inputs(live), `takeAll, ${at}`)
        live.length = 0
      }
      if (listLength(list) < before - 1) compactions++
      assert.strictEqual(list.size, live.length, `size, ${at}`)
    }
    assert.isAbove(compactions, 0, `the run compacts the list at least once (seed ${seed})`)
    assert.deepStrictEqual(inputs(list.takeAll()), inputs(live), `takeAll (seed ${seed})`)
  })
})
