/**
 * A TCP proxy that counts what clients send to Redis or PostgreSQL, for the round-trip case of the durable
 * benchmark: the bench process and its consumer processes connect through it, so only this run's traffic is
 * counted, whatever else uses the server meanwhile. It forwards bytes unchanged in both directions and parses only
 * the client's side:
 *
 * - Redis: every command (a RESP array), by name (`EVALSHA`, `BZPOPMIN`, ...). A pipelined command counts as one:
 *   the figure is requests the server answers, each a round trip unless the client pipelines it with others.
 * - PostgreSQL: `Query` messages (simple protocol, one per round trip), `Execute` messages (a statement of the
 *   extended protocol) and `Sync` messages (the end of an extended-protocol round trip). Statements are
 *   `Query + Execute`, round trips `Query + Sync`.
 *
 * The proxy adds a hop to every round trip: it is for counting, never for timing.
 */
import * as net from "node:net"

export type Protocol = "redis" | "postgres"

export interface Counts {
  /** Redis: commands by name; PostgreSQL: `Query`, `Execute`, `Sync` */
  readonly byName: Map<string, number>
  total: number
}

export interface Proxy {
  readonly port: number
  readonly counts: Counts
  /** A copy of the counts so far. */
  readonly snapshot: () => { readonly total: number; readonly byName: Record<string, number> }
  readonly close: () => Promise<void>
}

export const startProxy = async (protocol: Protocol, host: string, port: number): Promise<Proxy> => {
  const counts: Counts = { byName: new Map(), total: 0 }
  const count = (name: string, counted = true) => {
    counts.byName.set(name, (counts.byName.get(name) ?? 0) + 1)
    if (counted) counts.total++
  }
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host)
    sockets.add(client)
    sockets.add(upstream)
    const parse = protocol === "redis" ? redisParser(count) : postgresParser(count)
    client.on("data", (chunk: Buffer) => {
      parse(chunk)
      upstream.write(chunk)
    })
    upstream.on("data", (chunk: Buffer) => client.write(chunk))
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("close", end).on("error", end)
    upstream.on("close", end).on("error", end)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the proxy has no port")
  return {
    port: address.port,
    counts,
    snapshot: () => ({ total: counts.total, byName: Object.fromEntries(counts.byName) }),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** Counts the commands of a RESP stream from a client: `*<n>\r\n` then `n` bulk strings `$<len>\r\n<bytes>\r\n`. */
const redisParser = (count: (name: string) => void) => {
  let pending: Buffer = Buffer.alloc(0)
  const line = (from: number): { readonly text: string; readonly next: number } | undefined => {
    const end = pending.indexOf("\r\n", from)
    return end < 0 ? undefined : { text: pending.toString("latin1", from, end), next: end + 2 }
  }
  // one command from `at`: its name and where the next begins, or undefined while incomplete
  const command = (at: number): { readonly name: string; readonly next: number } | undefined => {
    const header = line(at)
    if (header === undefined) return undefined
    if (!header.text.startsWith("*")) {
      // an inline command: one line
      return { name: header.text.split(" ")[0].toUpperCase(), next: header.next }
    }
    const parts = Number(header.text.slice(1))
    let offset = header.next
    let name = ""
    for (let i = 0; i < parts; i++) {
      const size = line(offset)
      if (size === undefined) return undefined
      const length = Number(size.text.slice(1))
      if (pending.length < size.next + length + 2) return undefined
      if (i === 0) name = pending.toString("latin1", size.next, size.next + length).toUpperCase()
      offset = size.next + length + 2
    }
    return { name, next: offset }
  }
  return (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    for (let found = command(at); found !== undefined; found = command(at)) {
      count(found.name)
      at = found.next
    }
    pending = pending.subarray(at)
  }
}

/**
 * Counts the messages of a PostgreSQL client: a start-up phase of untyped messages (`SSLRequest` and
 * `GSSENCRequest` are followed by the real start-up message), then typed ones (a type byte, a 32-bit length).
 */
const postgresParser = (count: (name: string, counted?: boolean) => void) => {
  let pending: Buffer = Buffer.alloc(0)
  let started = false
  const names: Record<string, string> = { Q: "Query", E: "Execute", S: "Sync" }
  return (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    while (true) {
      if (!started) {
        if (pending.length < at + 8) break
        const length = pending.readInt32BE(at)
        if (pending.length < at + length) break
        const code = pending.readInt32BE(at + 4)
        // 80877103 SSLRequest, 80877104 GSSENCRequest: the start-up message follows
        if (code !== 80877103 && code !== 80877104) started = true
        at += length
        continue
      }
      if (pending.length < at + 5) break
      const length = pending.readInt32BE(at + 1)
      if (pending.length < at + 1 + length) break
      const type = String.fromCharCode(pending[at])
      const name = names[type]
      // statements: Query and Execute; Sync is counted by name only
      if (name !== undefined) count(name, type !== "S")
      at += 1 + length
    }
    pending = pending.subarray(at)
  }
}
