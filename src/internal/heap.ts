/**
 * Indexed binary heaps. Each item records its own position, so an item can leave the heap in O(log n) when it no
 * longer needs to be there (a job that finished before its timeout, a queued job that was cancelled): a heap then
 * never holds more than the items that are really waiting. An item is in at most one heap at a time.
 */

/** @internal */
export interface Indexed {
  /** position in the heap, or -1 when not in it */
  heapIndex: number
}

/** @internal */
export interface Timed extends Indexed {
  deadline: number
  heapSeq: number
}

/** @internal */
export interface Ranked extends Indexed {
  readonly priority: number
  /** submission order: lower first among equal priorities */
  rank: number
}

/** @internal */
abstract class Heap<A extends Indexed> {
  protected readonly items: Array<A> = []

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  pop(): A | undefined {
    const top = this.items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  /** Every item, in no particular order. */
  values(): ReadonlyArray<A> {
    return this.items
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
    if (index > 0 && this.before(last, items[(index - 1) >> 1])) this.up(index)
    else this.down(index)
  }

  protected insert(item: A): void {
    item.heapIndex = this.items.length
    this.items.push(item)
    this.up(item.heapIndex)
  }

  protected abstract before(a: A, b: A): boolean

  private up(index: number): void {
    const items = this.items
    const item = items[index]
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!this.before(item, items[parent])) break
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
      const child = right < n && this.before(items[right], items[left]) ? right : left
      if (!this.before(items[child], item)) break
      items[index] = items[child]
      items[index].heapIndex = index
      index = child
    }
    items[index] = item
    item.heapIndex = index
  }
}

/** Earliest deadline first; equal deadlines in insertion order. @internal */
export class DeadlineHeap<A extends Timed> extends Heap<A> {
  private seq = 0

  push(item: A, deadline: number): void {
    item.deadline = deadline
    item.heapSeq = this.seq++
    this.insert(item)
  }

  protected before(a: A, b: A): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq)
  }
}

/** Highest priority first; equal priorities by rank (submission order). @internal */
export class RankHeap<A extends Ranked> extends Heap<A> {
  push(item: A): void {
    this.insert(item)
  }

  protected before(a: A, b: A): boolean {
    return a.priority > b.priority || (a.priority === b.priority && a.rank < b.rank)
  }
}
