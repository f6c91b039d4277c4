/**
 * The ready queue: the jobs free to start, in the order they start (highest priority first, then by rank).
 *
 * Most jobs have priority 0 and join at the back in submission order, so they live in a FIFO list where joining and
 * leaving cost O(1); every other ready job (a priority, a retry, a keyed job whose turn came) lives in a heap. The
 * next job is the better of the two heads. A job taken out of the FIFO before its turn (cancelled, dropped) stays
 * there as a tombstone until it reaches the head, or until tombstones outnumber the live jobs.
 */
import { Fifo } from "./fifo.ts"
import { type Ranked, RankHeap } from "./heap.ts"

/** What the ready queue holds. */
export interface Entry extends Ranked {
  /** whether the entry is live in the FIFO part; set and cleared by the queue */
  inFifo: boolean
}

/** Compacting the FIFO waits for this many tombstones, and for more tombstones than live entries. */
const minTombstones = 1024

export class ReadyQueue<J extends Entry> {
  private readonly fifo = new Fifo<J>()
  private readonly heap = new RankHeap<J>()
  private tombstones = 0
  /** ready entries */
  size = 0

  /**
   * Adds an entry. `inOrder` says that it comes after every entry of the FIFO part (a new submission of priority
   * 0): it then joins the FIFO; otherwise the heap.
   */
  push(entry: J, inOrder: boolean): void {
    this.size++
    if (inOrder && entry.priority === 0) {
      entry.inFifo = true
      this.fifo.push(entry)
    } else this.heap.push(entry)
  }

  /** Takes the entry that starts next. */
  take(): J | undefined {
    if (this.size === 0) return undefined
    const fifo = this.fifo
    let head: J | undefined
    while (fifo.length > 0) {
      head = fifo.peek()!
      if (head.inFifo) break
      fifo.shift()
      this.tombstones--
      head = undefined
    }
    const top = this.heap.peek()
    this.size--
    if (top !== undefined && (head === undefined || startsBefore(top, head))) {
      this.heap.remove(top)
      return top
    }
    fifo.shift()
    head!.inFifo = false
    return head
  }

  /** Takes out an entry before its turn. */
  remove(entry: J): void {
    if (entry.heapIndex >= 0) {
      this.heap.remove(entry)
    } else if (entry.inFifo) {
      entry.inFifo = false
      if (++this.tombstones > minTombstones && this.tombstones > this.size) {
        this.fifo.filter((e) => e.inFifo)
        this.tombstones = 0
      }
    } else return
    this.size--
  }

  /** The first live entry of the FIFO part: the oldest of the ready entries of priority 0 that joined in order. */
  firstInOrder(): J | undefined {
    const fifo = this.fifo
    for (let i = 0; i < fifo.length; i++) {
      const entry = fifo.at(i)
      if (entry.inFifo) return entry
    }
    return undefined
  }

  /** The entries of the heap part, in no particular order. */
  unordered(): ReadonlyArray<J> {
    return this.heap.values()
  }

  /** Takes every entry, in the order they would start. */
  takeAll(): Array<J> {
    const all: Array<J> = []
    let entry = this.take()
    while (entry !== undefined) {
      all.push(entry)
      entry = this.take()
    }
    return all
  }
}

const startsBefore = (a: Ranked, b: Ranked): boolean =>
  a.priority > b.priority || (a.priority === b.priority && a.rank < b.rank)
