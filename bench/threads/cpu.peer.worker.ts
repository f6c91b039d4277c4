/** The CPU-bound job on a piscina or tinypool thread: both call the module's default export with each task. */
import { cpuJob } from "./jobs.ts"

export default (seed: number): number => cpuJob(seed)
