/**
 * The core pool's contract on each backend of one handler: worker fibers (`WorkerPool.make`) and worker threads
 * (`NodeThreadPool.make`).
 */
import * as NodeThreadPool from "../layers/NodeThreadPool.ts"
import { WorkerPool } from "../src/index.ts"
import { handle, Jobs } from "./fixtures/threadJobs.ts"
import { contract } from "./utils/contract.ts"

contract("worker fibers", (options) => WorkerPool.make({ shutdownTimeout: "2 seconds", ...options, handler: handle }))

contract("worker threads", (options) =>
  NodeThreadPool.make(Jobs, {
    entry: new URL("./fixtures/threadJobs.worker.ts", import.meta.url),
    shutdownTimeout: "2 seconds",
    ...options
  }))
