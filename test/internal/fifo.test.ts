import { assert, describe, it } from "@effect/vitest"
import { Fifo } from "../../src/internal/fifo.ts"
import { random, seedOr } from "./random.ts"

/** The ring's slots: private, read to see that an item that left holds no slot. */
const slots = <A>(fifo: Fifo<A>): ReadonlyArray<A | undefined> =>
  (fifo as unknown as { readonly items: ReadonlyArray<A | undefined> }).items

const contents = <A>(fifo: Fifo<A>): Array<A> => Array.from({ length: fifo.length }, (_, i) => fifo.at(i))

describe("Fifo", () => {
  it("items leave in the order they came, across the ring's growth and wrap-around", () => {
    const fifo = new Fifo<number>()
    assert.isUndefined(fifo.shift())
    assert.isUndefined(fifo.peek())
    const out: Array<number> = []
    let next = 0
    // fill past several doublings while taking from the front, so that the ring wraps before each growth
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 3; i++) fifo.push(next++)
      out.push(fifo.shift()!)
    }
    assert.strictEqual(fifo.length, 400)
    assert.strictEqual(fifo.peek(), 200)
    for (let item = fifo.shift(); item !== undefined; item = fifo.shift()) out.push(item)
    assert.deepStrictEqual(out, Array.from({ length: 600 }, (_, i) => i))
    assert.strictEqual(fifo.length, 0)
  })

  it("an item that leaves, by shift or filter, holds no slot of the ring, and growth keeps the order", () => {
    const fifo = new Fifo<object>()
    const items = Array.from({ length: 40 }, () => ({}))
    for (const item of items.slice(0, 10)) fifo.push(item)
    for (let i = 0; i < 5; i++) fifo.shift()
    for (const item of items.slice(10)) fifo.push(item) // grows twice, from a wrapped ring
    fifo.filter((item) => items.indexOf(item) % 2 === 0)
    const held = slots(fifo).filter((slot) => slot !== undefined)
    assert.strictEqual(held.length, fifo.length)
    assert.deepStrictEqual(held.sort((a, b) => items.indexOf(a!) - items.indexOf(b!)), contents(fifo))
    assert.deepStrictEqual(contents(fifo), items.filter((_, i) => i >= 5 && i % 2 === 0))
    while (fifo.length > 0) fifo.shift()
    assert.isTrue(slots(fifo).every((slot) => slot === undefined))
  })

  it("matches an array under random pushes, shifts and filters (seed 7)", () => {
    const rng = random(seedOr(7))
    const fifo = new Fifo<number>()
    const model: Array<number> = []
    let next = 0
    for (let step = 0; step < 20_000; step++) {
      const roll = rng.next()
      if (roll < 0.55) {
        fifo.push(next)
        model.push(next++)
      } else if (roll < 0.98) {
        assert.strictEqual(fifo.shift(), model.shift(), `seed ${rng.seed}, step ${step}`)
      } else {
        const modulus = rng.int(2, 5)
        fifo.filter((n) => n % modulus !== 0)
        model.splice(0, model.length, ...model.filter((n) => n % modulus !== 0))
      }
      assert.strictEqual(fifo.length, model.length, `seed ${rng.seed}, step ${step}`)
      assert.strictEqual(fifo.peek(), model[0], `seed ${rng.seed}, step ${step}`)
    }
    assert.deepStrictEqual(contents(fifo), model, `seed ${rng.seed}`)
  })
})
