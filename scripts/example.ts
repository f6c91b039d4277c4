/**
 * Runs an example by name: `npm run example -- basic` runs `examples/basic.ts`. It runs in this process, on the
 * Node that runs this script: under `npm run`, the Node 24 pinned in devDependencies, which runs `.ts` files
 * directly whatever Node the machine has. The example therefore gets the signals (Ctrl-C) and sets the exit code
 * itself, as if it had been started with `node examples/<name>.ts`.
 *
 * Without a name, or with an unknown one, it lists the examples and exits with code 2.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const directory = path.resolve(import.meta.dirname, "..", "examples")
/** The programs: the files whose header says how to run them (the others are modules and entry files they use). */
const examples = fs.readdirSync(directory)
  .filter((file) => file.endsWith(".ts") && / \* Run: /.test(fs.readFileSync(path.join(directory, file), "utf8")))
  .map((file) => file.slice(0, -".ts".length))
  .sort()

const name = process.argv[2]

if (name !== undefined && examples.includes(name)) {
  import(pathToFileURL(path.join(directory, `${name}.ts`)).href)
} else {
  const problem = name === undefined ? "Which example?" : `Unknown example "${name}".`
  process.stderr.write(
    `${problem} Run one with: npm run example -- <name>\n\nExamples:\n` +
      examples.map((example) => `  ${example}\n`).join("")
  )
  process.exitCode = 2
}
