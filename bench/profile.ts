/**
 * Profiles one case run with `node --cpu-prof` and prints the functions with the most self time.
 *
 *   node bench/profile.ts batch --impl=pool-execute --jobs=1000000 --concurrency=64
 *   node bench/profile.ts latency --impl=pool-execute --rate=100000 --seconds=3 [--top=30]
 *   node bench/profile.ts threads --impl=thread-pool --case=tiny --threads=2 --jobs=20000
 *
 * The first argument names the case file (`batch`, `latency`, `memory`, `threads`); the rest are passed to it. The
 * profile covers the whole process (start-up and warm-up included), so give the measured pass enough jobs to
 * dominate. Every thread of the process writes a profile of its own, each printed in turn (the main thread first).
 * The `.cpuprofile` files are kept in a directory of their own in `bench/results/` (ignored by git) for a closer
 * look in Chrome DevTools.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const [script, ...rest] = process.argv.slice(2)
if (script === undefined) {
  console.error("usage: node bench/profile.ts <batch|latency|memory|threads> --impl=... [case arguments] [--top=N]")
  process.exit(2)
}
const top = Number(rest.find((a) => a.startsWith("--top="))?.slice("--top=".length) ?? 25)
const caseArgs = rest.filter((a) => !a.startsWith("--top="))

const dirName = `profile-${script}-${Date.now()}`
const outDir = path.join(benchDir, "results", dirName)
mkdirSync(outDir, { recursive: true })
const child = spawnSync(
  process.execPath,
  ["--expose-gc", "--cpu-prof", `--cpu-prof-dir=${outDir}`, path.join(benchDir, "cases", `${script}.ts`), ...caseArgs],
  { stdio: ["ignore", "inherit", "inherit"] }
)
/** Node's own names: `CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile`, thread 0 the main thread. */
const threadOf = (file: string): number => Number(file.split(".")[4])
const files = readdirSync(outDir).filter((f) => f.endsWith(".cpuprofile")).sort((a, b) => threadOf(a) - threadOf(b))
if (child.status !== 0 || files.length === 0) {
  console.error(`the case failed (status ${child.status})`)
  process.exit(1)
}

for (const file of files) {
  printTop(
    file,
    threadOf(file) === 0 ? "main thread" : `worker thread ${threadOf(file)}`,
    JSON.parse(readFileSync(path.join(outDir, file), "utf8")) as Profile
  )
}

function printTop(file: string, thread: string, profile: Profile): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMicros = new Map<string, number>()
  let totalMicros = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    if (node === undefined) continue
    const { functionName, lineNumber, url } = node.callFrame
    const where = url === ""
      ? ""
      : ` ${url.replace(/^file:\/\//, "").replace(`${path.dirname(benchDir)}/`, "")}:${lineNumber + 1}`
    const key = `${functionName === "" ? "(anonymous)" : functionName}${where}`
    const delta = profile.timeDeltas[i] ?? 0
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + delta)
    totalMicros += delta
  }

  console.log(
    `\n${thread}: self time, top ${top} of ${(totalMicros / 1000).toFixed(0)} ms ` +
      `(profile: bench/results/${dirName}/${file})\n`
  )
  const rows = [...selfMicros.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
  for (const [key, micros] of rows) {
    const share = ((100 * micros) / totalMicros).toFixed(1).padStart(5)
    console.log(`${share}%  ${(micros / 1000).toFixed(1).padStart(8)} ms  ${key}`)
  }
}
