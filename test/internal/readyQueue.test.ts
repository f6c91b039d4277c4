import { assert, describe, it } from "@effect/vitest"
import type { Fifo } from "../../src/internal/fifo.ts"
import { type Entry, ReadyQueue } from "../../src/internal/readyQueue.ts"
import { random, seedOr } from "./random.ts"

interface E extends Entry {
  readonly name: string
  readonly priority: number
}

const entry = (name: string, rank: number, priority = 0): E => ({ name, priority, rank, heapIndex: -1, inFifo: false })

const names = (entries: ReadonlyArray<E>): Array<string> => entries.map((e) => e.name)

/** The length of the FIFO part, tombstones included: private, read to see that a compaction happened. */
const fifoLength = (queue: ReadyQueue<E>): number => (queue as unknown as { readonly fifo: Fifo<E> }).fifo.length

/** An entry of the randomized check, which knows whether it was pushed in order. */
interface Modelled extends E {
  readonly ordered: boolean
}

const modelled = (name: string, rank: number, priority: number, ordered: boolean): Modelled => ({
  ...entry(name, rank, priority),
  ordered
})

/** Whether `a` starts before `b`, written out independently of the queue. */
const before = (a: E, b: E): boolean => a.priority !== b.priority ? a.priority > b.priority : a.rank < b.rank

describe("ReadyQueue", () => {
  it("an empty queue has size 0 and takes nothing", () => {
    const queue = new ReadyQueue<E>()
    assert.strictEqual(queue.size, 0)
    assert.isUndefined(queue.take())
    assert.isUndefined(queue.firstInOrder())
    assert.deepStrictEqual(queue.takeAll(), [])
  })

  it("entries of priority 0 pushed in order start in the order they were pushed", () => {
    const queue = new ReadyQueue<E>()
    const all = Array.from({ length: 10 }, (_, i) => entry(`e${i}`, i))
    for (const e of all) queue.push(e, true)
    assert.isTrue(all.every((e) => e.inFifo && e.heapIndex === -1), "in-order entries of priority 0 join the FIFO")
    assert.deepStrictEqual(names(queue.takeAll()), names(all))
  })

  it("a higher priority starts first, and equal priorities start by rank", () => {
    const queue = new ReadyQueue<E>()
    const pushed = [
      entry("p0r5", 5),
      entry("p2r7", 7, 2),
      entry("p-1r1", 1, -1),
      entry("p2r3", 3, 2),
      entry("p0r2", 2),
      entry("p1r9", 9, 1),
      entry("p0r4", 4)
    ]
    for (const e of pushed) queue.push(e, false)
    assert.isTrue(pushed.every((e) => !e.inFifo && e.heapIndex >= 0), "entries not in order join the heap")
    assert.deepStrictEqual(names(queue.takeAll()), ["p2r3", "p2r7", "p1r9", "p0r2", "p0r4", "p0r5", "p-1r1"])
  })

  it("in-order entries and heap entries interleave by priority, then rank", () => {
    const queue = new ReadyQueue<E>()
    queue.push(entry("heap p0 r2", 2), false)
    queue.push(entry("fifo r1", 1), true)
    queue.push(entry("fifo r3", 3), true)
    queue.push(entry("heap p-1 r0", 0, -1), false)
    queue.push(entry("fifo r5", 5), true)
    queue.push(entry("heap p0 r6", 6), false)
    queue.push(entry("fifo r7", 7), true)
    queue.push(entry("heap p1 r9", 9, 1), false)
    assert.deepStrictEqual(names(queue.takeAll()), [
      "heap p1 r9",
      "fifo r1",
      "heap p0 r2",
      "fifo r3",
      "fifo r5",
      "heap p0 r6",
      "fifo r7",
      "heap p-1 r0"
    ])
  })

  it("an entry pushed in order with a priority other than 0 goes to the heap and starts by its priority", () => {
    const queue = new ReadyQueue<E>()
    queue.push(entry("a", 1), true)
    queue.push(entry("b", 2), true)
    const urgent = entry("urgent", 3, 1)
    const late = entry("late", 4, -1)
    queue.push(urgent, true)
    queue.push(late, true)
    assert.isFalse(urgent.inFifo)
    assert.isTrue(urgent.heapIndex >= 0)
    assert.strictEqual(queue.firstInOrder()?.name, "a", "only priority 0 entries are in order")
    assert.deepStrictEqual(names(queue.takeAll()), ["urgent", "a", "b", "late"])
  })

  it("take returns each entry once and clears its place markers", () => {
    const queue = new ReadyQueue<E>()
    const fifo = entry("fifo", 1)
    const heap = entry("heap", 2, 1)
    queue.push(fifo, true)
    queue.push(heap, false)
    assert.strictEqual(queue.take(), heap)
    assert.strictEqual(heap.heapIndex, -1)
    assert.strictEqual(queue.take(), fifo)
    assert.isFalse(fifo.inFifo)
    assert.isUndefined(queue.take())
    assert.strictEqual(queue.size, 0)
  })

  it("remove takes a FIFO entry out before its turn", () => {
    const queue = new ReadyQueue<E>()
    const [a, b, c] = [entry("a", 1), entry("b", 2), entry("c", 3)]
    for (const e of [a, b, c]) queue.push(e, true)
    queue.remove(b)
    assert.isFalse(b.inFifo)
    assert.strictEqual(queue.size, 2)
    queue.remove(a)
    assert.strictEqual(queue.size, 1)
    assert.strictEqual(queue.take(), c, "the removed entries at the head are skipped")
    assert.strictEqual(queue.size, 0)
    assert.isUndefined(queue.take())
  })

  it("remove takes a heap entry out before its turn and leaves the heap in order", () => {
    const queue = new ReadyQueue<E>()
    const all = [entry("h1", 1, 3), entry("h2", 2, 2), entry("h3", 3, 2), entry("h4", 4, 1), entry("h5", 5, 0)]
    for (const e of all) queue.push(e, false)
    queue.push(entry("f6", 6), true)
    queue.remove(all[1])
    queue.remove(all[4])
    assert.strictEqual(all[1].heapIndex, -1)
    assert.strictEqual(all[4].heapIndex, -1)
    assert.strictEqual(queue.size, 4)
    assert.deepStrictEqual(names(queue.takeAll()), ["h1", "h3", "h4", "f6"])
  })

  it("removing an entry that is not in the queue changes nothing", () => {
    const queue = new ReadyQueue<E>()
    const [a, b, h] = [entry("a", 1), entry("b", 2), entry("h", 3, 1)]
    queue.push(a, true)
    queue.push(b, true)
    queue.push(h, false)
    queue.remove(a)
    queue.remove(a)
    assert.strictEqual(queue.take(), h)
    queue.remove(h)
    queue.remove(entry("never pushed", 9))
    assert.strictEqual(queue.size, 1)
    assert.deepStrictEqual(names(queue.takeAll()), ["b"])
  })

  it("size counts the ready entries through pushes, takes and removes", () => {
    const queue = new ReadyQueue<E>()
    const all = Array.from({ length: 6 }, (_, i) => entry(`e${i}`, i, i % 2))
    all.forEach((e, i) => queue.push(e, i % 2 === 0))
    assert.strictEqual(queue.size, 6)
    queue.take()
    assert.strictEqual(queue.size, 5)
    queue.remove(all[0])
    queue.remove(all[3])
    assert.strictEqual(queue.size, 3)
    assert.strictEqual(queue.takeAll().length, 3)
    assert.strictEqual(queue.size, 0)
  })

  it("firstInOrder is the oldest live in-order entry: it skips removed and taken ones and ignores the heap", () => {
    const queue = new ReadyQueue<E>()
    const [a, b, c, d] = [entry("a", 1), entry("b", 2), entry("c", 3), entry("d", 4)]
    queue.push(entry("older, in the heap", 0), false)
    for (const e of [a, b, c, d]) queue.push(e, true)
    assert.strictEqual(queue.firstInOrder(), a)
    queue.remove(a)
    assert.strictEqual(queue.firstInOrder(), b)
    queue.remove(c)
    assert.strictEqual(queue.firstInOrder(), b, "a tombstone behind the first live entry does not matter")
    queue.remove(b)
    assert.strictEqual(queue.firstInOrder(), d, "every tombstone before the first live entry is skipped")
    assert.strictEqual(queue.take()?.name, "older, in the heap")
    assert.strictEqual(queue.firstInOrder(), d)
    assert.strictEqual(queue.take(), d)
    assert.isUndefined(queue.firstInOrder())
  })

  it("more than 1024 removed in-order entries, outnumbering the live ones, are compacted away, keeping order and size", () => {
    const queue = new ReadyQueue<E>()
    const fifo = Array.from({ length: 3000 }, (_, i) => entry(`f${2 * i + 1}`, 2 * i + 1))
    const heap = Array.from({ length: 20 }, (_, i) => entry(`h${300 * i}`, 300 * i))
    for (let i = 0; i < fifo.length; i++) {
      if (i % 150 === 0) queue.push(heap[i / 150], false)
      queue.push(fifo[i], true)
    }
    // Remove every odd-indexed in-order entry (1500), then the first 11 even-indexed ones: the 1511th tombstone
    // outnumbers the 1510 entries still ready (heap entries included) and triggers the compaction.
    const removed = new Set<E>()
    for (let i = 1; i < fifo.length; i += 2) removed.add(fifo[i])
    for (let i = 0; i <= 20; i += 2) removed.add(fifo[i])
    for (const e of removed) queue.remove(e)
    const survivors = fifo.filter((e) => !removed.has(e))
    assert.strictEqual(queue.size, survivors.length + heap.length)
    assert.strictEqual(fifoLength(queue), survivors.length, "the FIFO holds only live entries after compaction")
    assert.strictEqual(queue.firstInOrder(), survivors[0])
    const expected = [...survivors, ...heap].sort((a, b) => a.rank - b.rank)
    assert.deepStrictEqual(names(queue.takeAll()), names(expected))
    assert.strictEqual(queue.size, 0)
  })

  it("takeAll takes every entry in start order and empties the queue", () => {
    const queue = new ReadyQueue<E>()
    const all = [entry("f1", 1), entry("h2", 2, 1), entry("f3", 3), entry("h0", 0), entry("f4", 4), entry("h5", 5, -1)]
    all.forEach((e) => queue.push(e, e.name.startsWith("f")))
    queue.remove(all[2])
    assert.deepStrictEqual(names(queue.takeAll()), ["h2", "h0", "f1", "f4", "h5"])
    assert.strictEqual(queue.size, 0)
    assert.isUndefined(queue.take())
    assert.isTrue(all.every((e) => !e.inFifo && e.heapIndex === -1))
    queue.push(entry("again", 9), true)
    assert.deepStrictEqual(names(queue.takeAll()), ["again"], "the queue is usable after takeAll")
  })

  const seed = seedOr(1_337)
  it(`random pushes, removes and takes match a brute-force model (seed ${seed})`, () => {
    const rng = random(seed)
    const queue = new ReadyQueue<E>()
    const live: Array<Modelled> = []
    // entries whose rank was given earlier and that join later, out of order (a keyed job whose turn came)
    const held: Array<Modelled> = []
    let ranks = 0
    let compactions = 0
    const removeAt = (i: number) => {
      const e = live[i]
      live[i] = live[live.length - 1]
      live.pop()
      return e
    }
    for (let step = 0; step < 30_000; step++) {
      const phase = Math.floor(step / 5_000) % 3 // grow, remove most, drain
      const roll = rng.next()
      const at = `seed ${seed}, step ${step}`
      const lengthBefore = fifoLength(queue)
      if (roll < [0.6, 0.08, 0.1][phase]) {
        const e = modelled(`r${ranks}`, ranks++, 0, true)
        queue.push(e, true)
        live.push(e)
      } else if (roll < [0.7, 0.1, 0.15][phase]) {
        const e = modelled(`r${ranks}`, ranks++, rng.int(-2, 2), false)
        queue.push(e, false)
        live.push(e)
      } else if (roll < [0.8, 0.12, 0.2][phase]) {
        held.push(modelled(`r${ranks}`, ranks++, rng.int(-1, 1), false))
      } else if (roll < [0.85, 0.15, 0.25][phase] && held.length > 0) {
        const e = held.splice(rng.int(0, held.length - 1), 1)[0]
        queue.push(e, false)
        live.push(e)
      } else if (roll < [0.95, 0.9, 0.3][phase] && live.length > 0) {
        const e = removeAt(rng.int(0, live.length - 1))
        queue.remove(e)
        assert.isFalse(e.inFifo, at)
        assert.strictEqual(e.heapIndex, -1, at)
      } else {
        let best = -1
        for (let i = 0; i < live.length; i++) if (best < 0 || before(live[i], live[best])) best = i
        const expected = best < 0 ? undefined : removeAt(best)
        assert.strictEqual(queue.take()?.name, expected?.name, `take, ${at}`)
      }
      if (fifoLength(queue) < lengthBefore - 1) compactions++
      assert.strictEqual(queue.size, live.length, `size, ${at}`)
      if (step % 7 === 0) {
        let first: E | undefined
        for (const e of live) {
          if (e.ordered && e.priority === 0 && (first === undefined || e.rank < first.rank)) first = e
        }
        assert.strictEqual(queue.firstInOrder()?.name, first?.name, `firstInOrder, ${at}`)
      }
    }
    assert.isAbove(compactions, 0, `the run compacts the FIFO at least once (seed ${seed})`)
    live.sort((a, b) => (before(a, b) ? -1 : 1))
    assert.deepStrictEqual(names(queue.takeAll()), names(live), `takeAll (seed ${seed})`)
  })
})
