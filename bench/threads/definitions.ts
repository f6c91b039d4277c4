/**
 * The thread pool's job definitions of the thread cases, imported by the bench process and by the entry files of
 * `NodeThreadPool`. A number in, a number out: the cheapest schemas there are, as the peers send bare numbers.
 */
import * as Schema from "effect/Schema"
import * as ThreadPool from "../../src/ThreadPool.ts"

export const Cpu = ThreadPool.define({ input: Schema.Number, success: Schema.Number })

export const Tiny = ThreadPool.define({ input: Schema.Number, success: Schema.Number })
