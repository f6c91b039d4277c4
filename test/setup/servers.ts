/**
 * Checked once before the suite: the durable queue's tests run against a real Redis and a real PostgreSQL, and
 * are never skipped. A server that does not answer stops the run here, with what to start.
 */
import * as Net from "node:net"

const answers = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

export default async function setup() {
  const missing: Array<string> = []
  if (!(await answers("127.0.0.1", Number(process.env.REDIS_PORT ?? 6379)))) {
    missing.push(
      "Redis on 127.0.0.1:6379: start it with\n  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no"
    )
  }
  if (!(await answers(process.env.PGHOST ?? "127.0.0.1", Number(process.env.PGPORT ?? 5432)))) {
    missing.push(
      "PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database test): start it with\n  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    )
  }
  if (missing.length > 0) {
    throw new Error(`The durable queue's tests need real servers that do not answer:\n- ${missing.join("\n- ")}`)
  }
}
