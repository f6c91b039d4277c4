/** The CPU-bound job on a thread of this library's `NodeThreadPool`. */
import * as Effect from "effect/Effect"
import * as NodeThreadPool from "../../layers/NodeThreadPool.ts"
import { Cpu } from "./definitions.ts"
import { cpuJob } from "./jobs.ts"

NodeThreadPool.serve(Cpu, (seed) => Effect.sync(() => cpuJob(seed)))
