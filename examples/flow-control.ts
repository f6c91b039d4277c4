/**
 * Flow control on one pool: a payment processor in front of a payment gateway that allows 10 requests per 200 ms
 * and is sometimes busy.
 *
 * - `rateLimit`: at most 10 gateway calls start in any 200 ms window.
 * - `retry`: `GatewayBusy` retries with exponential backoff (up to 3 times); `CardDeclined` never retries.
 * - `key`: the payments of one account run one at a time, in the order they were submitted.
 * - `priority`: refunds start before the charges queued ahead of them.
 * - `executeAll`: a batch of payouts, results in order; a batch with a declined card fails fast and cancels the rest.
 * - `executeStream`: a stream of orders mapped through the pool, results in order.
 *
 * Every line it prints is computed from what happened (start times, attempts, outcomes), so the output shows each
 * rule holding.
 *
 * Run: npm run example -- flow-control
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect, Schedule, Schema, Stream } from "effect"
import { WorkerPool } from "../src/index.ts"

class GatewayBusy extends Schema.TaggedError<GatewayBusy>()("GatewayBusy", { payment: Schema.String }) {}
class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { payment: Schema.String }) {}

interface Payment {
  readonly id: string
  readonly account: string
  readonly kind: "charge" | "refund" | "payout"
  readonly amount: number
  /** attempts the gateway answers "busy" before it takes the payment */
  readonly busyFor?: number
  readonly declined?: boolean
}

const RATE_LIMIT = 10
const RATE_INTERVAL_MILLIS = 200
const GATEWAY_MILLIS = 40

interface Start {
  readonly id: string
  readonly account: string
  readonly kind: Payment["kind"]
  readonly attempt: number
  readonly at: number
  end: number
}

const program = Effect.gen(function*() {
  const origin = yield* Clock.currentTimeMillis
  const starts: Array<Start> = []

  const gateway = (payment: Payment, job: WorkerPool.JobInfo) =>
    Effect.gen(function*() {
      const start: Start = {
        id: payment.id,
        account: payment.account,
        kind: payment.kind,
        attempt: job.attempt,
        at: job.startedAt - origin,
        end: 0
      }
      starts.push(start)
      yield* Effect.sleep(GATEWAY_MILLIS)
      start.end = (yield* Clock.currentTimeMillis) - origin
      if (job.attempt <= (payment.busyFor ?? 0)) return yield* new GatewayBusy({ payment: payment.id })
      if (payment.declined === true) return yield* new CardDeclined({ payment: payment.id })
      return `${payment.id}: ${payment.kind} of ${payment.amount} on attempt ${job.attempt}`
    })

  const pool = yield* WorkerPool.make({
    name: "payments",
    handler: gateway,
    concurrency: 4,
    capacity: 100,
    rateLimit: { limit: RATE_LIMIT, interval: RATE_INTERVAL_MILLIS },
    retry: {
      schedule: Schedule.exponential("50 millis").pipe(Schedule.upTo({ times: 3 })),
      while: (error) => error._tag === "GatewayBusy"
    }
  })

  // ---- keys, priority, retry and the rate limit, on one queue -------------------------------------------------
  const charges: Array<Payment> = []
  for (let i = 1; i <= 18; i++) {
    charges.push({
      id: `c${i}`,
      account: `acct-${(i % 3) + 1}`,
      kind: "charge",
      amount: 10 * i,
      ...(i === 4 ? { busyFor: 2 } : {}),
      ...(i === 9 ? { declined: true } : {})
    })
  }
  const refunds: Array<Payment> = [
    { id: "r1", account: "acct-9", kind: "refund", amount: 25 },
    { id: "r2", account: "acct-9", kind: "refund", amount: 35 }
  ]
  const handles = []
  for (const payment of charges) handles.push(yield* pool.submit(payment, { key: payment.account }))
  for (const payment of refunds) handles.push(yield* pool.submit(payment, { key: payment.account, priority: 10 }))
  const outcomes = yield* Effect.forEach(handles, (handle) => Effect.result(handle.await))

  yield* Console.log("Payments:")
  for (const [i, outcome] of outcomes.entries()) {
    const id = [...charges, ...refunds][i].id
    yield* Console.log(
      outcome._tag === "Success" ? `  ${outcome.success}` : `  ${id}: failed with ${outcome.failure._tag}`
    )
  }

  // per-key ordering: each account's payments in submission order, never two at once
  yield* Console.log("Per account (first attempts, in start order):")
  for (const account of ["acct-1", "acct-2", "acct-3", "acct-9"]) {
    const runs = starts.filter((s) => s.account === account)
    const overlaps = runs.filter((s, i) => i > 0 && s.at < runs[i - 1].end).length
    const order = runs.filter((s) => s.attempt === 1).map((s) => s.id).join(" -> ")
    yield* Console.log(`  ${account}: ${order} (${overlaps} overlapping)`)
  }

  // priority: the refunds were submitted last, but started before the charges still queued then
  const firstAttempts = starts.filter((s) => s.attempt === 1)
  const refundAt = firstAttempts.find((s) => s.id === "r1")!.at
  const chargesAfter = firstAttempts.filter((s) => s.kind === "charge" && s.at > refundAt).length
  yield* Console.log(`Priority: refund r1 started at ${refundAt} ms, ahead of ${chargesAfter} queued charges`)

  // retry
  const c4 = starts.filter((s) => s.id === "c4").map((s) => `${s.at} ms`)
  yield* Console.log(`Retry: c4 (gateway busy twice) started at ${c4.join(", ")}; c9 (declined) ran once`)

  // rate limit: the busiest window of RATE_INTERVAL_MILLIS. `JobInfo.startedAt` is kept to the millisecond (the pool
  // keeps start times as whole milliseconds since its start), so two starts one interval apart may read up to 1 ms
  // closer than they were: a window here is one millisecond shorter than the limiter's.
  const times = starts.map((s) => s.at).sort((a, b) => a - b)
  let busiest = 0
  for (let i = 0; i < times.length; i++) {
    let n = 0
    while (i + n < times.length && times[i + n] < times[i] + RATE_INTERVAL_MILLIS - 1) n++
    busiest = Math.max(busiest, n)
  }
  yield* Console.log(
    `Rate limit: ${times.length} gateway calls; the busiest ${RATE_INTERVAL_MILLIS} ms window had ${busiest} ` +
      `(limit ${RATE_LIMIT})`
  )

  // ---- a batch, and a batch that fails fast ----------------------------------------------------------------------
  const payouts: Array<Payment> = [1, 2, 3, 4, 5].map((i) => ({
    id: `p${i}`,
    account: `payee-${i}`,
    kind: "payout",
    amount: 100 * i
  }))
  const receipts = yield* pool.executeAll(payouts)
  yield* Console.log(`Batch: ${receipts.length} payouts, in order: ${receipts.map((r) => r.split(":")[0]).join(", ")}`)

  const before = yield* pool.stats
  const failed = yield* pool.executeAll([
    ...payouts.slice(0, 2),
    { id: "p-bad", account: "payee-x", kind: "payout", amount: 1, declined: true },
    ...payouts.slice(2)
  ]).pipe(Effect.flip)
  const after = yield* pool.stats
  yield* Console.log(
    `Batch with a declined card: failed with ${failed._tag} (${"payment" in failed ? failed.payment : "-"}); ` +
      `${after.cancelled - before.cancelled} other payouts cancelled`
  )

  // ---- a stream of orders through the pool ---------------------------------------------------------------------
  const orders = Stream.range(1, 8).pipe(
    Stream.map((i): Payment => ({ id: `o${i}`, account: `shop-${i % 2}`, kind: "charge", amount: 5 * i }))
  )
  const streamed = yield* Stream.runCollect(pool.executeStream(orders, { concurrency: 4 }))
  yield* Console.log(`Stream: ${streamed.length} orders, in order: ${streamed.map((r) => r.split(":")[0]).join(", ")}`)

  const stats = yield* pool.stats
  yield* Console.log(
    `Done: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.cancelled} cancelled, ` +
      `${stats.retried} retries`
  )
})

NodeRuntime.runMain(Effect.scoped(program))
