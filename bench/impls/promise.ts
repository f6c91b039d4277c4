/**
 * The promise-based peers, each used the way its README shows: p-queue (`add` every job, then `onIdle`), fastq's
 * promise API (`push` every job, then `drained`), p-limit (`Promise.all` of limited calls), a hand-written
 * semaphore with `Promise.all`, and the floor: a plain promise loop with no per-job bookkeeping at all. p-queue and
 * fastq are also driven as the pool's `submit` + `await` is (`p-queue-each`, `fastq-each`): every job's promise is
 * kept, then each is awaited in turn, as a program that needs every result does.
 *
 * Every peer runs the same job function; none allocates a closure per job unless its API requires one.
 */
import makeFastq from "fastq"
import createLimit from "p-limit"
import PQueue from "p-queue"
import {
  type Backlog,
  type Batch,
  type Implementation,
  type JobKind,
  type Stream,
  warmThenMeasure
} from "./contract.ts"

const asyncNoop = async (): Promise<void> => {}

const jobFunction = (job: JobKind): () => Promise<void> => {
  if (job.kind === "noop") return asyncNoop
  const { millis } = job
  return () => new Promise<void>((resolve) => setTimeout(resolve, millis))
}

const elapsedSince = (start: number): number => performance.now() - start

/** A job that never finishes until `open` is called: it keeps a queue's only worker busy. */
const gate = (): { readonly wait: () => Promise<void>; readonly open: () => void } => {
  let open = (): void => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait: () => opened, open }
}

/** Resolves once the queue has started the blocking job, so that later jobs all stay queued. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * A batch through a limiter (`limit(task)` runs `task` once a permit is free): every job is a limited call, and the
 * pass awaits them all with `Promise.all`.
 */
const limitedBatch = (
  makeLimit: (concurrency: number) => (task: () => Promise<void>) => Promise<void>
): Batch =>
({ concurrency, job, jobs }, warmup, between) => {
  const run = jobFunction(job)
  const limit = makeLimit(concurrency)
  return warmThenMeasure(
    async (count) => {
      const start = performance.now()
      const results: Array<Promise<void>> = new Array(count)
      for (let i = 0; i < count; i++) results[i] = limit(run)
      await Promise.all(results)
      return elapsedSince(start)
    },
    jobs,
    warmup,
    between
  )
}

// -----------------------------------------------------------------------------
// floor
// -----------------------------------------------------------------------------

/** `concurrency` async loops pulling from a shared counter: what running the jobs costs with no queue at all. */
export const floor: Implementation = {
  batch: ({ concurrency, job, jobs }, warmup, between) => {
    const run = jobFunction(job)
    let remaining = 0
    const lane = async (): Promise<void> => {
      while (remaining > 0) {
        remaining--
        await run()
      }
    }
    return warmThenMeasure(
      async (count) => {
        remaining = count
        const lanes: Array<Promise<void>> = []
        const start = performance.now()
        for (let i = 0; i < concurrency; i++) lanes.push(lane())
        await Promise.all(lanes)
        return elapsedSince(start)
      },
      jobs,
      warmup,
      between
    )
  }
}

// -----------------------------------------------------------------------------
// hand-written semaphore
// -----------------------------------------------------------------------------

/** The semaphore most code bases grow on their own: a permit count and a FIFO of resolvers. */
const makeSemaphore = (permits: number) => {
  let waiting: Array<(() => void) | undefined> = []
  let head = 0
  const acquire = (): Promise<void> | undefined => {
    if (permits > 0) {
      permits--
      return undefined
    }
    return new Promise<void>((resolve) => waiting.push(resolve))
  }
  const release = (): void => {
    if (head === waiting.length) {
      permits++
      return
    }
    const resolve = waiting[head]!
    waiting[head++] = undefined
    if (head > 1024 && head * 2 > waiting.length) {
      waiting = waiting.slice(head)
      head = 0
    }
    resolve()
  }
  return async <A>(task: () => Promise<A>): Promise<A> => {
    const wait = acquire()
    if (wait !== undefined) await wait
    try {
      return await task()
    } finally {
      release()
    }
  }
}

export const semaphore: Implementation = {
  batch: limitedBatch(makeSemaphore)
}

// -----------------------------------------------------------------------------
// fastq (promise API)
// -----------------------------------------------------------------------------

export const fastq: Implementation = {
  batch: ({ concurrency, job, jobs }, warmup, between) => {
    const run = jobFunction(job)
    const queue = makeFastq.promise((_: number) => run(), concurrency)
    return warmThenMeasure(
      async (count) => {
        const start = performance.now()
        for (let i = 0; i < count; i++) void queue.push(i)
        await queue.drained()
        return elapsedSince(start)
      },
      jobs,
      warmup,
      between
    )
  },
  stream: async (concurrency): Promise<Stream> => {
    const queue = makeFastq.promise((_: number) => asyncNoop(), concurrency)
    return {
      submit: (onDone) => {
        queue.push(0).then(() => onDone(false), () => onDone(true))
      },
      close: () => queue.drained()
    }
  },
  backlog: async (): Promise<Backlog> => {
    const blocker = gate()
    const queue = makeFastq.promise((blocking: boolean) => blocking ? blocker.wait() : asyncNoop(), 1)
    void queue.push(true)
    await nextTurn()
    return {
      fill: async (jobs) => {
        for (let i = 0; i < jobs; i++) void queue.push(false)
      }
    }
  }
}

/**
 * A batch that keeps every job's promise and then awaits each in turn: `add(run)` queues a job and returns the
 * promise of its result.
 */
const eachBatch = (
  makeQueue: (concurrency: number, run: () => Promise<void>) => () => Promise<void>
): Batch =>
({ concurrency, job, jobs }, warmup, between) => {
  const add = makeQueue(concurrency, jobFunction(job))
  return warmThenMeasure(
    async (count) => {
      const start = performance.now()
      const results: Array<Promise<void>> = []
      for (let i = 0; i < count; i++) results.push(add())
      for (let i = 0; i < count; i++) await results[i]
      return elapsedSince(start)
    },
    jobs,
    warmup,
    between
  )
}

export const fastqEach: Implementation = {
  batch: eachBatch((concurrency, run) => {
    const queue = makeFastq.promise((_: number) => run(), concurrency)
    return () => queue.push(0)
  })
}

// -----------------------------------------------------------------------------
// p-limit
// -----------------------------------------------------------------------------

export const pLimit: Implementation = {
  batch: limitedBatch(createLimit),
  backlog: async (): Promise<Backlog> => {
    const blocker = gate()
    const limit = createLimit(1)
    void limit(blocker.wait)
    await nextTurn()
    return {
      fill: async (jobs) => {
        for (let i = 0; i < jobs; i++) void limit(asyncNoop)
      }
    }
  }
}

// -----------------------------------------------------------------------------
// p-queue
// -----------------------------------------------------------------------------

export const pQueue: Implementation = {
  batch: ({ concurrency, job, jobs }, warmup, between) => {
    const run = jobFunction(job)
    const queue = new PQueue({ concurrency })
    return warmThenMeasure(
      async (count) => {
        const start = performance.now()
        for (let i = 0; i < count; i++) void queue.add(run)
        await queue.onIdle()
        return elapsedSince(start)
      },
      jobs,
      warmup,
      between
    )
  },
  stream: async (concurrency): Promise<Stream> => {
    const queue = new PQueue({ concurrency })
    return {
      submit: (onDone) => {
        queue.add(asyncNoop).then(() => onDone(false), () => onDone(true))
      },
      close: () => queue.onIdle()
    }
  },
  backlog: async (): Promise<Backlog> => {
    const blocker = gate()
    const queue = new PQueue({ concurrency: 1 })
    void queue.add(blocker.wait)
    await nextTurn()
    return {
      fill: async (jobs) => {
        for (let i = 0; i < jobs; i++) void queue.add(asyncNoop)
      }
    }
  }
}

export const pQueueEach: Implementation = {
  batch: eachBatch((concurrency, run) => {
    const queue = new PQueue({ concurrency })
    return () => queue.add(run)
  })
}
