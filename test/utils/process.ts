/**
 * Runs a program of `examples/` as a child process on the pinned Node, which runs `.ts` directly, and reads what
 * it prints.
 */
import { assert } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..", "..")
/** The pinned Node (24), which runs `.ts`; vitest itself may run on another one. */
const pinnedNode = path.join(root, "node_modules", ".bin", "node")
export const nodeBinary = fs.existsSync(pinnedNode) ? pinnedNode : process.execPath

export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Waits until the process has exited and its output is closed. */
  readonly ended: Effect.Effect<Ended>
}

/**
 * Starts `command` in the project's directory, with the environment `env` (by default the test's own). Closing the
 * scope kills the process if it is still running.
 */
export const spawnIn = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const child = spawn(command, args, {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...env, NO_COLOR: "1" }
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk
      })
      const closed = Deferred.makeUnsafe<Ended>()
      child.on("error", (error) => Deferred.doneUnsafe(closed, Exit.die(error)))
      child.on("close", (code, signal) => Deferred.doneUnsafe(closed, Exit.succeed({ code, signal, stdout, stderr })))
      return { child, stdout: () => stdout, stderr: () => stderr, ended: Deferred.await(closed) }
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      })
  )

/** Starts `examples/<name>.ts` on the pinned Node, with the environment `env` (by default the test's own). */
export const start = (name: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnIn(nodeBinary, [path.join("examples", `${name}.ts`)], env)

/** Fails the test with the process's output when it does not end in time. */
export const endWithin = (running: Running, limit: `${number} seconds`) =>
  running.ended.pipe(
    Effect.timeoutOrElse({
      duration: limit,
      orElse: () =>
        Effect.die(new Error(`still running after ${limit}\n${running.stdout()}\n--- stderr\n${running.stderr()}`))
    })
  )

/** Runs an example to its end (30 seconds at most). */
export const run = (name: string, env?: NodeJS.ProcessEnv) =>
  Effect.flatMap(start(name, env), (running) => endWithin(running, "30 seconds"))

/** Waits until the output printed so far satisfies `ready`. */
export const waitForOutput = (running: Running, ready: (stdout: string) => boolean) =>
  Effect.callback<void>((resume) => {
    const stop = () => {
      running.child.stdout!.off("data", check)
      running.child.off("close", onClose)
    }
    const check = () => {
      if (!ready(running.stdout())) return
      stop()
      resume(Effect.void)
    }
    const onClose = () => {
      stop()
      resume(Effect.die(new Error(`exited before it was ready\n${running.stdout()}\n${running.stderr()}`)))
    }
    running.child.stdout!.on("data", check)
    running.child.on("close", onClose)
    check()
    return Effect.sync(stop)
  }).pipe(
    Effect.timeoutOrElse({
      duration: "20 seconds",
      orElse: () => Effect.die(new Error(`never ready; output so far:\n${running.stdout()}\n${running.stderr()}`))
    })
  )

export const assertSucceeded = (ended: Ended) =>
  assert.strictEqual(ended.code, 0, `exit code ${ended.code} (${ended.signal})\n${ended.stdout}\n${ended.stderr}`)

export const lines = (text: string): Array<string> => text.split("\n").filter((line) => line.length > 0)

/** The one line matching `pattern`; fails the test if there is not exactly one. */
export const single = (output: string, pattern: RegExp): RegExpMatchArray => {
  const found = lines(output).map((line) => line.match(pattern)).filter((m): m is RegExpMatchArray => m !== null)
  assert.strictEqual(found.length, 1, `expected one line matching ${pattern}, found ${found.length}:\n${output}`)
  return found[0]!
}
