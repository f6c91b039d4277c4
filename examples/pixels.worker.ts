/**
 * The entry file of the thread pools of `threads.ts` and `flagship.ts`: each of their threads serves the `Downscale`
 * job with `downscale`, the handler that the fiber pool of `threads.ts` runs in-process.
 *
 * Not a program of its own: the pools start it on their threads.
 */
import * as NodeThreadPool from "../layers/NodeThreadPool.ts"
import * as Pixels from "./pixels.ts"

NodeThreadPool.serve(Pixels.Downscale, Pixels.downscale)
