/**
 * A first-in, first-out list on a ring of slots that grows by doubling and is kept for the list's life.
 *
 * The pool's queues empty and fill again once per job when the pool keeps up with its submitters. A list that
 * allocates a new block each time it fills again from empty (`MutableList` allocates a bucket, an object literal)
 * lets V8 pretenure that allocation: the blocks are then born in the old generation, and the young jobs they held
 * stay reachable from them, for the young-generation collector, until the next full collection (the blocks are dead,
 * but only a full collection knows it). Every job is then copied and promoted, and the young generation grows. A ring
 * allocated once has no such site, and a slot is cleared as its item leaves.
 */
const noItems: Array<any> = []

export class Fifo<A> {
  /** the ring, allocated at the first push (a list that never holds an item costs no ring) */
  private items: Array<A | undefined> = noItems
  private mask = -1
  private head = 0
  /** the items in the list */
  length = 0

  /** Adds an item at the back. */
  push(item: A): void {
    if (this.length > this.mask) this.grow()
    this.items[(this.head + this.length) & this.mask] = item
    this.length++
  }

  /** Takes the item at the front, or `undefined` when the list is empty. */
  shift(): A | undefined {
    if (this.length === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.length--
    return item
  }

  /** The item at the front, left in place. */
  peek(): A | undefined {
    return this.length === 0 ? undefined : this.items[this.head]
  }

  /** The item at position `index` from the front (0 ≤ index < length). */
  at(index: number): A {
    return this.items[(this.head + index) & this.mask] as A
  }

  /** Keeps only the items `keep` accepts, in their order. */
  filter(keep: (item: A) => boolean): void {
    let kept = 0
    for (let i = 0; i < this.length; i++) {
      const item = this.items[(this.head + i) & this.mask] as A
      if (keep(item)) this.items[(this.head + kept++) & this.mask] = item
    }
    for (let i = kept; i < this.length; i++) this.items[(this.head + i) & this.mask] = undefined
    this.length = kept
  }

  // The old ring's slots are cleared too: a ring born in the old generation would keep its items for the young one.
  private grow(): void {
    const old = this.items
    const items: Array<A | undefined> = new Array(Math.max(16, old.length * 2))
    for (let i = 0; i < this.length; i++) {
      const at = (this.head + i) & this.mask
      items[i] = old[at]
      old[at] = undefined
    }
    this.items = items
    this.mask = items.length - 1
    this.head = 0
  }
}
