import * as Option from "effect/Option"
import type { ConsumerInfo } from "../DurableQueue.ts"

/**
 * A consumer's record as a store keeps it (the JSON its heartbeat wrote), with the time the store last heard of it;
 * nothing for a record that is not one (written by something else, or by another version).
 */
export const parseConsumer = (raw: string, seenAt: number): Array<ConsumerInfo> => {
  const parsed = Option.getOrUndefined(parseJson(raw))
  if (typeof parsed !== "object" || parsed === null) return []
  const record = parsed as Record<string, unknown>
  if (typeof record.id !== "string" || typeof record.name !== "string") return []
  const count = (value: unknown): number => typeof value === "number" && Number.isFinite(value) ? value : 0
  return [{
    id: record.id,
    name: record.name,
    host: typeof record.host === "string" ? record.host : undefined,
    pid: typeof record.pid === "number" ? record.pid : undefined,
    concurrency: count(record.concurrency),
    startedAt: count(record.startedAt),
    seenAt,
    running: count(record.running),
    succeeded: count(record.succeeded),
    failed: count(record.failed)
  }]
}

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))
