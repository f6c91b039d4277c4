/**
 * Where the tests find the real servers (started by the machine, or by `.ci/run`), and a tag unique to this run
 * for key prefixes and schema names.
 */
export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

export const pgConfig = {
  host: process.env.PGHOST ?? "127.0.0.1",
  port: Number(process.env.PGPORT ?? 5432),
  username: process.env.PGUSER ?? "postgres",
  database: process.env.PGDATABASE ?? "test"
} as const

export const runId = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`
