/** The tiny job of the dispatch case on a thread of this library's `NodeThreadPool`. */
import * as Effect from "effect/Effect"
import * as NodeThreadPool from "../../layers/NodeThreadPool.ts"
import { Tiny } from "./definitions.ts"
import { tinyJob } from "./jobs.ts"

NodeThreadPool.serve(Tiny, (n) => Effect.sync(() => tinyJob(n)))
