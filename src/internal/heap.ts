/**
 * An indexed binary min-heap of deadlines. Each item records its own position, so an item can leave the heap in
 * O(log n) when it no longer needs its deadline (a job that finished before its timeout): the heap then never
 * holds more than the items that are really waiting. Items with equal deadlines come out in insertion order.
 */

/** @internal */
export interface Timed {
  deadline: number
  /** position in the heap, or -1 when not in it */
  heapIndex: number
  heapSeq: number
}

/** @internal */
export class DeadlineHeap<A extends Timed> {
  private readonly items: Array<A> = []
  private seq = 0

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A, deadline: number): void {
    item.deadline = deadline
    item.heapSeq = this.seq++
    item.heapIndex = this.items.length
    this.items.push(item)
    this.up(item.heapIndex)
  }

  pop(): A | undefined {
    const top = this.items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  remove(item: A): void {
    const index = item.heapIndex
    if (index < 0) return
    item.heapIndex = -1
    const items = this.items
    const last = items.pop()!
    if (index === items.length) return
    items[index] = last
    last.heapIndex = index
    if (index > 0 && before(last, items[(index - 1) >> 1])) this.up(index)
    else this.down(index)
  }

  private up(index: number): void {
    const items = this.items
    const item = items[index]
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(item, items[parent])) break
      items[index] = items[parent]
      items[index].heapIndex = index
      index = parent
    }
    items[index] = item
    item.heapIndex = index
  }

  private down(index: number): void {
    const items = this.items
    const n = items.length
    const item = items[index]
    while (true) {
      const left = 2 * index + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && before(items[right], items[left]) ? right : left
      if (!before(items[child], item)) break
      items[index] = items[child]
      items[index].heapIndex = index
      index = child
    }
    items[index] = item
    item.heapIndex = index
  }
}

const before = (a: Timed, b: Timed): boolean =>
  a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq)
