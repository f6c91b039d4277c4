import { assert, describe, it } from "@effect/vitest"
import { DeadlineHeap, type Ranked, RankHeap, type Timed } from "../../src/internal/heap.ts"
import { random, seedOr } from "./random.ts"

interface T extends Timed {
  readonly name: string
}

interface R extends Ranked {
  readonly name: string
  readonly priority: number
}

const timed = (name: string): T => ({ name, heapIndex: -1, deadline: 0, heapSeq: 0 })

const ranked = (name: string, priority: number, rank: number): R => ({ name, priority, rank, heapIndex: -1 })

const popAll = <A extends { readonly name: string }>(heap: { pop(): A | undefined }): Array<string> => {
  const out: Array<string> = []
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item.name)
  return out
}

/**
 * Checks the heap's shape: every item records its own position, and no item comes before its parent (`first`
 * says whether an item must come out before another, written independently of the heap).
 */
const assertValid = <A extends { readonly heapIndex: number }>(
  items: ReadonlyArray<A>,
  first: (a: A, b: A) => boolean,
  at: string
): void => {
  for (let i = 0; i < items.length; i++) {
    if (items[i].heapIndex !== i) assert.fail(`item at ${i} records index ${items[i].heapIndex}, ${at}`)
    if (i > 0 && first(items[i], items[(i - 1) >> 1])) assert.fail(`item at ${i} comes before its parent, ${at}`)
  }
}

describe("DeadlineHeap", () => {
  it("an empty heap has size 0 and nothing to peek or pop", () => {
    const heap = new DeadlineHeap<T>()
    assert.strictEqual(heap.size, 0)
    assert.isUndefined(heap.peek())
    assert.isUndefined(heap.pop())
  })

  it("the earliest deadline comes out first", () => {
    const heap = new DeadlineHeap<T>()
    const deadlines = [50, 10, 40, 30, 20, 60, 0]
    for (const d of deadlines) heap.push(timed(`d${d}`), d)
    assert.strictEqual(heap.size, 7)
    assert.strictEqual(heap.peek()?.name, "d0")
    assert.strictEqual(heap.size, 7, "peek leaves the item in")
    assert.deepStrictEqual(popAll(heap), ["d0", "d10", "d20", "d30", "d40", "d50", "d60"])
    assert.strictEqual(heap.size, 0)
  })

  it("push records the deadline and the position on the item, and pop clears the position", () => {
    const heap = new DeadlineHeap<T>()
    const item = timed("x")
    heap.push(item, 42)
    assert.strictEqual(item.deadline, 42)
    assert.strictEqual(item.heapIndex, 0)
    assert.strictEqual(heap.pop(), item)
    assert.strictEqual(item.heapIndex, -1)
  })

  it("equal deadlines come out in insertion order, also when pushed again", () => {
    const heap = new DeadlineHeap<T>()
    const items = Array.from({ length: 12 }, (_, i) => timed(`i${i}`))
    items.forEach((item, i) => heap.push(item, i % 3 === 0 ? 5 : 10))
    heap.remove(items[3])
    heap.push(items[3], 5)
    assert.deepStrictEqual(popAll(heap), [
      "i0",
      "i6",
      "i9",
      "i3",
      "i1",
      "i2",
      "i4",
      "i5",
      "i7",
      "i8",
      "i10",
      "i11"
    ])
  })

  it("removing an item from the middle keeps the heap valid", () => {
    const heap = new DeadlineHeap<T>()
    const items = Array.from({ length: 31 }, (_, i) => timed(`d${i}`))
    items.forEach((item, i) => heap.push(item, i))
    // With deadlines pushed in order, the heap is the sorted array: removing d3 moves the last item (d30) into a
    // subtree of large deadlines, where it has to go down; removing d21 moves d29 under a smaller parent.
    const before = (a: T, b: T) => a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq)
    for (const i of [3, 21, 14, 1]) {
      heap.remove(items[i])
      assert.strictEqual(items[i].heapIndex, -1)
      assertValid(heap.values(), before, `after removing d${i}`)
    }
    assert.strictEqual(heap.size, 27)
    assert.deepStrictEqual(popAll(heap), items.filter((_, i) => ![3, 21, 14, 1].includes(i)).map((t) => t.name))
  })

  it("removing the last item, or an item not in the heap, leaves the rest as it was", () => {
    const heap = new DeadlineHeap<T>()
    const [a, b, c] = [timed("a"), timed("b"), timed("c")]
    heap.push(a, 1)
    heap.push(b, 2)
    heap.remove(b)
    heap.remove(b)
    heap.remove(c)
    assert.strictEqual(heap.size, 1)
    assert.deepStrictEqual(popAll(heap), ["a"])
  })

  it("a removal that moves the last item under a later parent sifts it up", () => {
    const heap = new DeadlineHeap<T>()
    // Heap array: [1, 10, 2, 11, 12, 3, 4]: removing 11 (a leaf of the left subtree) puts 4 under 10.
    const items = [1, 10, 2, 11, 12, 3, 4].map((d) => timed(`d${d}`))
    items.forEach((item, i) => heap.push(item, [1, 10, 2, 11, 12, 3, 4][i]))
    heap.remove(items[3])
    const before = (a: T, b: T) => a.deadline < b.deadline
    assertValid(heap.values(), before, "after removing d11")
    assert.deepStrictEqual(popAll(heap), ["d1", "d2", "d3", "d4", "d10", "d12"])
  })

  const seed = seedOr(9_001)
  it(`random pushes, removes and pops match a sorted array (seed ${seed})`, () => {
    const rng = random(seed)
    const heap = new DeadlineHeap<T>()
    // the model: the items in, sorted by deadline, then by the order they were pushed in
    const model: Array<{ readonly item: T; readonly deadline: number; readonly order: number }> = []
    const out: Array<T> = []
    let pushes = 0
    const before = (a: T, b: T) => a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq)
    for (let step = 0; step < 20_000; step++) {
      const at = `seed ${seed}, step ${step}`
      const roll = rng.next()
      const grow = Math.floor(step / 2_000) % 2 === 0
      if (roll < (grow ? 0.5 : 0.3)) {
        const item = out.length > 0 && rng.next() < 0.5
          ? out.splice(rng.int(0, out.length - 1), 1)[0]
          : timed(`t${pushes}`)
        const deadline = rng.int(0, 50) // few distinct deadlines: many ties
        heap.push(item, deadline)
        model.push({ item, deadline, order: pushes++ })
        model.sort((a, b) => a.deadline - b.deadline || a.order - b.order)
      } else if (roll < 0.75 && model.length > 0) {
        const [{ item }] = model.splice(rng.int(0, model.length - 1), 1)
        heap.remove(item)
        assert.strictEqual(item.heapIndex, -1, `remove, ${at}`)
        out.push(item)
      } else if (roll < 0.8 && out.length > 0) {
        heap.remove(out[rng.int(0, out.length - 1)]) // not in the heap: nothing happens
      } else {
        const expected = model.shift()?.item
        assert.strictEqual(heap.pop()?.name, expected?.name, `pop, ${at}`)
        if (expected !== undefined) out.push(expected)
      }
      assert.strictEqual(heap.size, model.length, `size, ${at}`)
      assert.strictEqual(heap.peek()?.name, model[0]?.item.name, `peek, ${at}`)
      assertValid(heap.values(), before, at)
    }
    assert.deepStrictEqual(popAll(heap), model.map((m) => m.item.name), `seed ${seed}`)
  })
})

describe("RankHeap", () => {
  it("a higher priority comes out first, and equal priorities by rank", () => {
    const heap = new RankHeap<R>()
    const items = [
      ranked("p0r4", 0, 4),
      ranked("p1r9", 1, 9),
      ranked("p0r1", 0, 1),
      ranked("p-1r0", -1, 0),
      ranked("p1r2", 1, 2),
      ranked("p0r3", 0, 3)
    ]
    for (const item of items) heap.push(item)
    assert.strictEqual(heap.peek()?.name, "p1r2")
    assert.deepStrictEqual(popAll(heap), ["p1r2", "p1r9", "p0r1", "p0r3", "p0r4", "p-1r0"])
  })

  it("values holds every item in, in no particular order", () => {
    const heap = new RankHeap<R>()
    const items = Array.from({ length: 9 }, (_, i) => ranked(`r${i}`, i % 3, i))
    items.forEach((item) => heap.push(item))
    heap.remove(items[4])
    assert.sameMembers(
      heap.values().map((item) => item.name),
      items.filter((_, i) => i !== 4).map((item) => item.name)
    )
  })

  const seed = seedOr(31_337)
  it(`random pushes, removes and pops match a sorted array (seed ${seed})`, () => {
    const rng = random(seed)
    const heap = new RankHeap<R>()
    const model: Array<R> = []
    const ranks = new Set<number>()
    const before = (a: R, b: R) => a.priority > b.priority || (a.priority === b.priority && a.rank < b.rank)
    for (let step = 0; step < 20_000; step++) {
      const at = `seed ${seed}, step ${step}`
      const roll = rng.next()
      const grow = Math.floor(step / 2_000) % 2 === 0
      if (roll < (grow ? 0.5 : 0.3)) {
        // unique ranks in random order: a new item may have an older rank, as a keyed job whose turn came does
        let rank = rng.int(0, 1_000_000)
        while (ranks.has(rank)) rank = rng.int(0, 1_000_000)
        ranks.add(rank)
        const item = ranked(`r${rank}`, rng.int(-2, 2), rank)
        heap.push(item)
        model.push(item)
        model.sort((a, b) => (before(a, b) ? -1 : 1))
      } else if (roll < 0.8 && model.length > 0) {
        const [item] = model.splice(rng.int(0, model.length - 1), 1)
        heap.remove(item)
        assert.strictEqual(item.heapIndex, -1, `remove, ${at}`)
      } else {
        assert.strictEqual(heap.pop()?.name, model.shift()?.name, `pop, ${at}`)
      }
      assert.strictEqual(heap.size, model.length, `size, ${at}`)
      assert.strictEqual(heap.peek()?.name, model[0]?.name, `peek, ${at}`)
      assertValid(heap.values(), before, at)
    }
    assert.deepStrictEqual(popAll(heap), model.map((item) => item.name), `seed ${seed}`)
  })
})
