/**
 * A binary min-heap of deadlines. Entries with equal deadlines come out in insertion order, so timeouts that
 * fall due at the same instant fire in the order their jobs started.
 */

/** @internal */
export interface Entry<A> {
  readonly deadline: number
  readonly seq: number
  readonly value: A
  readonly tag: number
}

/** @internal */
export class DeadlineHeap<A> {
  private readonly entries: Array<Entry<A>> = []
  private seq = 0

  get size(): number {
    return this.entries.length
  }

  peek(): Entry<A> | undefined {
    return this.entries[0]
  }

  push(deadline: number, value: A, tag: number): void {
    const entries = this.entries
    const entry: Entry<A> = { deadline, seq: this.seq++, value, tag }
    let i = entries.length
    entries.push(entry)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(entry, entries[parent])) break
      entries[i] = entries[parent]
      i = parent
    }
    entries[i] = entry
  }

  pop(): Entry<A> | undefined {
    const entries = this.entries
    const top = entries[0]
    const last = entries.pop()
    if (top === undefined || last === undefined || entries.length === 0) return top
    const n = entries.length
    let i = 0
    while (true) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && before(entries[right], entries[left]) ? right : left
      if (!before(entries[child], last)) break
      entries[i] = entries[child]
      i = child
    }
    entries[i] = last
    return top
  }
}

const before = <A>(a: Entry<A>, b: Entry<A>): boolean =>
  a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq)
