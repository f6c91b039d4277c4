/** The tiny job of the dispatch case on a piscina or tinypool thread. */
import { tinyJob } from "./jobs.ts"

export default (n: number): number => tinyJob(n)
