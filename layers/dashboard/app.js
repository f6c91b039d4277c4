// The dashboard page: polls the JSON endpoints beside it and updates the cards in place. Every value that comes
// from the server is put in the page as text (textContent, text nodes, attributes), never as markup.
"use strict"
;(() => {
  const HISTORY_MS = 5 * 60 * 1000
  const FAILED_LIMIT = 50
  const TOKEN_KEY = "effect-worker-pool/dashboard/token"
  const OUTCOMES = ["succeeded", "failed", "defect", "timed_out", "cancelled", "dropped", "shutdown"]

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    refreshMillis: 1000,
    actions: "enabled",
    history: new Map(),
    beats: new Map(),
    pools: new Map(),
    queues: new Map(),
    detail: null
  }

  const $ = (id) => document.getElementById(id)

  /** Makes an element; `text` and strings among the children become text nodes. */
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag)
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value
      else if (key === "class") node.className = value
      else if (key === "hidden") node.hidden = value
      else if (key === "onclick") node.addEventListener("click", value)
      else node.setAttribute(key, value)
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child)
    return node
  }

  const svg = (tag, attributes) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag)
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value))
    return node
  }

  const number = (value) => value === null || value === undefined ? "\u2014" : value.toLocaleString("en-US")
  const millis = (value) =>
    value === null || value === undefined ? "\u2014" : value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`
  const rate = (value) => value === null ? "\u2014" : `${value < 10 ? value.toFixed(1) : Math.round(value)}/s`
  const age = (value) => {
    if (value === null || value === undefined) return "\u2014"
    if (value < 1000) return `${Math.round(value)} ms`
    const seconds = value / 1000
    if (seconds < 120) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`
    const minutes = seconds / 60
    return minutes < 120 ? `${Math.round(minutes)} min` : `${(minutes / 60).toFixed(1)} h`
  }
  const time = (iso) => iso === null || iso === undefined ? "\u2014" : new Date(iso).toLocaleString("en-GB")

  // -- talking to the server ---------------------------------------------------------------------------------------

  const request = async (path, options = {}) => {
    const headers = { accept: "application/json" }
    if (options.body !== undefined) headers["content-type"] = "application/json"
    if (options.method === "POST" && state.token !== "") headers.authorization = `Bearer ${state.token}`
    const response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store"
    })
    let body = null
    try {
      body = await response.json()
    } catch {
      body = null
    }
    return { status: response.status, ok: response.ok, body }
  }

  const say = (text, kind) => {
    const message = $("message")
    message.textContent = text
    message.className = kind === "error" ? "error" : "ok"
    message.hidden = false
  }

  const refusal = (response) => {
    const reason = response.body && typeof response.body.error === "string"
      ? response.body.error
      : `the server answered ${response.status}`
    if (response.status === 401) return `Not authorized: ${reason}. Enter the dashboard's token above.`
    if (response.status === 403) return `Refused: ${reason}`
    return `Failed: ${reason}`
  }

  /** Runs an action (a POST) and reports its outcome; figures are refreshed after it. */
  const act = async (path, body, done) => {
    try {
      const response = await request(path, { method: "POST", body })
      if (response.ok) say(done(response.body), "ok")
      else say(refusal(response), "error")
      return response.ok
    } catch (error) {
      say(`Failed: ${error instanceof Error ? error.message : String(error)}`, "error")
      return false
    } finally {
      refresh()
    }
  }

  const queuePath = (name) => `api/queues/${encodeURIComponent(name)}`
  const jobPath = (queue, id) => `${queuePath(queue)}/failed/${encodeURIComponent(id)}`

  // -- history and charts ------------------------------------------------------------------------------------------

  /** Keeps a series of samples per key for the last 5 minutes; returns the rate of `completed` over the last step. */
  const record = (key, now, sample) => {
    let series = state.history.get(key)
    if (series === undefined) {
      series = []
      state.history.set(key, series)
    }
    // a throughput given with the sample is kept; otherwise it comes from `completed` since the previous sample
    const previous = series[series.length - 1]
    let throughput = sample.throughput === undefined ? null : sample.throughput
    if (
      sample.throughput === undefined && previous !== undefined && now > previous.at &&
      typeof sample.completed === "number" && typeof previous.completed === "number"
    ) {
      throughput = Math.max(0, ((sample.completed - previous.completed) * 1000) / (now - previous.at))
    }
    series.push({ ...sample, at: now, throughput })
    while (series.length > 0 && series[0].at < now - HISTORY_MS) series.shift()
    return throughput
  }

  const chart = (label) => {
    const line = svg("polyline", { points: "" })
    const box = svg("svg", { viewBox: "0 0 300 48", preserveAspectRatio: "none", role: "img" })
    box.append(line)
    const peak = el("span", { class: "peak" })
    const caption = el("figcaption", {}, el("span", { text: label }), peak)
    const figure = el("figure", { class: "chart", "data-chart": label }, caption, box)
    figure.style.margin = "0"
    return { figure, line, peak, caption }
  }

  const draw = (c, series, field, now, unit) => {
    const points = series.filter((sample) => typeof sample[field] === "number")
    const peak = points.reduce((max, sample) => Math.max(max, sample[field]), 0)
    const top = peak > 0 ? peak : 1
    c.line.setAttribute(
      "points",
      points.map((sample) => {
        const x = 300 - ((now - sample.at) / HISTORY_MS) * 300
        const y = 46 - (sample[field] / top) * 44
        return `${x.toFixed(1)},${y.toFixed(1)}`
      }).join(" ")
    )
    c.peak.textContent = `peak ${unit === "/s" ? rate(peak) : number(Math.round(peak))}`
  }

  // -- pools -------------------------------------------------------------------------------------------------------

  const figure = (label, field) => {
    const value = el("dd", { "data-field": field, text: "\u2014" })
    return { node: el("div", {}, el("dt", { text: label }), value), value }
  }

  const poolCard = (name) => {
    const fields = {}
    const add = (label, field) => {
      const f = figure(label, field)
      fields[field] = f.value
      return f.node
    }
    const stateBadge = el("span", { class: "state", "data-field": "state" })
    const bar = el("span")
    const busy = add("busy / workers", "busy")
    busy.append(el("div", { class: "bar" }, bar))
    const outcomes = el("p", { class: "line", "data-field": "outcomes" })
    const times = el("p", { class: "line", "data-field": "times" })
    const throughputChart = chart("throughput")
    const depthChart = chart("queue depth")
    const node = el(
      "article",
      { class: "card pool", "data-pool": name },
      el("h3", {}, el("span", { class: "name", text: name }), stateBadge),
      el(
        "dl",
        { class: "figures" },
        busy,
        add("queued", "queued"),
        add("throughput", "throughput"),
        add("waiting submitters", "waiting"),
        add("submitted", "submitted"),
        add("completed", "completed"),
        add("retried", "retried"),
        add("rejected", "rejected")
      ),
      outcomes,
      times,
      el("div", { class: "charts" }, throughputChart.figure, depthChart.figure)
    )
    return { node, fields, stateBadge, bar, outcomes, times, throughputChart, depthChart }
  }

  const renderPools = (pools, now) => {
    const container = $("pools")
    const seen = new Set()
    for (const pool of pools) {
      seen.add(pool.name)
      let card = state.pools.get(pool.name)
      if (card === undefined) {
        card = poolCard(pool.name)
        state.pools.set(pool.name, card)
        container.append(card.node)
      }
      const key = `pool:${pool.name}`
      const throughput = record(key, now, { completed: pool.completed, depth: pool.queued })
      const label = pool.paused ? "paused" : pool.state
      card.stateBadge.textContent = label === null ? "" : label
      card.stateBadge.setAttribute("data-state", label === null ? "" : label)
      card.fields.busy.textContent = `${number(pool.busy)} / ${number(pool.workers)}`
      card.bar.style.width = `${pool.workers > 0 ? Math.min(100, (pool.busy / pool.workers) * 100) : 0}%`
      card.fields.queued.textContent = number(pool.queued)
      card.fields.throughput.textContent = rate(throughput)
      card.fields.waiting.textContent = number(pool.waiting)
      card.fields.submitted.textContent = number(pool.submitted)
      card.fields.completed.textContent = number(pool.completed)
      card.fields.retried.textContent = number(pool.retried)
      card.fields.rejected.textContent = number(pool.rejected)
      card.outcomes.textContent = OUTCOMES.map((o) => `${o.replace("_", " ")} ${number(pool.outcomes[o])}`).join(" \u00b7 ")
      card.times.textContent = `wait p50 ${millis(pool.waitTime.p50)} p90 ${millis(pool.waitTime.p90)} ` +
        `p99 ${millis(pool.waitTime.p99)} \u00b7 run p50 ${millis(pool.runTime.p50)} p90 ${millis(pool.runTime.p90)} ` +
        `p99 ${millis(pool.runTime.p99)}`
      const series = state.history.get(key)
      draw(card.throughputChart, series, "throughput", now, "/s")
      draw(card.depthChart, series, "depth", now, "")
    }
    for (const [name, card] of state.pools) {
      if (!seen.has(name)) {
        card.node.remove()
        state.pools.delete(name)
      }
    }
    $("pools-empty").hidden = pools.length > 0
  }

  // -- queues ------------------------------------------------------------------------------------------------------

  const queueCard = (name) => {
    const fields = {}
    const add = (label, field) => {
      const f = figure(label, field)
      fields[field] = f.value
      return f.node
    }
    const error = el("p", { class: "line error-text", hidden: true })
    const throughputChart = chart("throughput (every consumer)")
    const depthChart = chart("waiting")
    const rows = el("tbody")
    const consumerRows = el("tbody")
    const total = el("span", { "data-field": "failed-total" })
    const confirmText = el("span")
    const confirm = el(
      "div",
      { class: "confirm", hidden: true },
      confirmText,
      " ",
      el("button", {
        type: "button",
        class: "action confirm-yes",
        text: "Requeue all",
        onclick: async () => {
          confirm.hidden = true
          await act(`${queuePath(name)}/requeue-all`, undefined, (body) =>
            `Requeued ${body.requeued} job${body.requeued === 1 ? "" : "s"} of "${name}".`)
        }
      }),
      " ",
      el("button", { type: "button", class: "confirm-no", text: "Cancel", onclick: () => (confirm.hidden = true) })
    )
    const requeueAll = el("button", {
      type: "button",
      class: "action requeue-all",
      text: "Requeue all\u2026",
      onclick: () => {
        const count = state.queues.get(name).failedTotal
        confirmText.textContent = `Requeue all ${count} failed job${count === 1 ? "" : "s"} of "${name}"?`
        confirm.hidden = false
      }
    })
    const node = el(
      "article",
      { class: "card queue", "data-queue": name },
      el("h3", {}, el("span", { class: "name", text: name })),
      el(
        "dl",
        { class: "figures" },
        add("waiting", "waiting"),
        add("delayed", "delayed"),
        add("running", "running"),
        add("failed", "failed"),
        add("oldest waiting", "oldest"),
        add("consumers seen", "seen"),
        add("throughput (every consumer)", "throughput"),
        add("consumers here (busy / workers)", "consumers"),
        add("completed here", "completed"),
        add("max attempts", "maxAttempts")
      ),
      error,
      el("div", { class: "charts" }, throughputChart.figure, depthChart.figure),
      el("h4", { class: "consumers-head" }, "Consumers seen in every process"),
      el(
        "table",
        { class: "consumers" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { text: "name" }),
            el("th", { text: "host / pid" }),
            el("th", { class: "n", text: "slots" }),
            el("th", { class: "n", text: "running" }),
            el("th", { class: "n", text: "succeeded" }),
            el("th", { class: "n", text: "failed" }),
            el("th", { text: "started" }),
            el("th", { class: "n", text: "seen" })
          )
        ),
        consumerRows
      ),
      el("div", { class: "failed-head" }, el("h4", {}, "Failed jobs ", total), requeueAll),
      confirm,
      el(
        "table",
        { class: "failed" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { text: "id" }),
            el("th", { class: "n", text: "attempts" }),
            el("th", { class: "when", text: "failed at" }),
            el("th", { text: "last error" }),
            el("th", { class: "buttons" })
          )
        ),
        rows
      )
    )
    return {
      node,
      fields,
      error,
      throughputChart,
      depthChart,
      rows,
      consumerRows,
      total,
      requeueAll,
      confirm,
      jobs: new Map(),
      failedTotal: 0
    }
  }

  const renderQueues = (queues, now) => {
    const container = $("queues")
    const seen = new Set()
    for (const queue of queues) {
      seen.add(queue.name)
      let card = state.queues.get(queue.name)
      if (card === undefined) {
        card = queueCard(queue.name)
        state.queues.set(queue.name, card)
        container.append(card.node)
      }
      const consumer = queue.consumer
      const key = `queue:${queue.name}`
      const depthField = queue.counts.waiting === null ? "failed" : "waiting"
      const throughput = record(key, now, { depth: queue.counts[depthField], throughput: consumersRate(queue.consumers) })
      for (const field of ["waiting", "delayed", "running", "failed"]) {
        card.fields[field].textContent = number(queue.counts[field])
      }
      card.fields.oldest.textContent = age(queue.oldestWaitingMillis)
      card.fields.seen.textContent = number(queue.consumers.length)
      renderConsumers(card, queue.consumers)
      card.fields.throughput.textContent = rate(throughput)
      card.fields.consumers.textContent = consumer === null
        ? "none"
        : `${number(consumer.busy)} / ${number(consumer.workers)}`
      card.fields.completed.textContent = consumer === null ? "\u2014" : number(consumer.completed)
      card.fields.maxAttempts.textContent = number(queue.maxAttempts)
      card.error.hidden = queue.error === null
      card.error.textContent = queue.error === null ? "" : queue.error
      card.depthChart.caption.firstChild.textContent = depthField
      const series = state.history.get(key)
      draw(card.throughputChart, series, "throughput", now, "/s")
      draw(card.depthChart, series, "depth", now, "")
      card.requeueAll.hidden = state.actions === "read-only"
    }
    for (const [name, card] of state.queues) {
      if (!seen.has(name)) {
        card.node.remove()
        state.queues.delete(name)
      }
    }
    const listed = new Set(queues.flatMap((queue) => queue.consumers.map((consumer) => consumer.id)))
    for (const id of state.beats.keys()) if (!listed.has(id)) state.beats.delete(id)
    $("queues-empty").hidden = queues.length > 0
  }

  /**
   * The queue's throughput over every process: each consumer's attempts finished between its last two beats (every 5
   * seconds), per second, summed; `null` until some consumer has beaten twice.
   */
  const consumersRate = (consumers) => {
    let total = null
    for (const consumer of consumers) {
      const finished = consumer.succeeded + consumer.failed
      const seenAt = Date.parse(consumer.seenAt)
      const last = state.beats.get(consumer.id)
      if (last === undefined) {
        state.beats.set(consumer.id, { seenAt, finished, rate: null })
      } else if (seenAt > last.seenAt) {
        const rate = Math.max(0, ((finished - last.finished) * 1000) / (seenAt - last.seenAt))
        state.beats.set(consumer.id, { seenAt, finished, rate })
      }
      const rate = state.beats.get(consumer.id).rate
      if (rate !== null) total = (total ?? 0) + rate
    }
    return total
  }

  /** The consumers' table, rebuilt on each poll: a few rows of text. */
  const renderConsumers = (card, consumers) => {
    const rows = consumers.map((consumer) =>
      el(
        "tr",
        { "data-consumer": consumer.id },
        el("td", { class: "id", text: consumer.name }),
        el("td", { text: consumer.host === null ? "\u2014" : `${consumer.host} / ${consumer.pid}` }),
        el("td", { class: "n", text: number(consumer.concurrency) }),
        el("td", { class: "n", text: number(consumer.running) }),
        el("td", { class: "n", text: number(consumer.succeeded) }),
        el("td", { class: "n", text: number(consumer.failed) }),
        el("td", { text: time(consumer.startedAt) }),
        el("td", { class: "n", text: `${age(consumer.seenMillisAgo)} ago` })
      )
    )
    if (rows.length === 0) {
      rows.push(el("tr", {}, el("td", { colspan: "8", class: "empty", text: "No consumer has reported in the last 15 s." })))
    }
    card.consumerRows.replaceChildren(...rows)
  }

  const jobRow = (queue, job) => {
    const attempts = el("td", { class: "n", "data-field": "attempts" })
    const failedAt = el("td", { class: "when", "data-field": "failed-at" })
    const error = el("td", { class: "err", "data-field": "error" })
    const buttons = el("td", { class: "buttons" })
    buttons.append(el("button", { type: "button", class: "details", text: "Details", onclick: () => openDetail(queue, job.id) }))
    if (state.actions !== "read-only") {
      buttons.append(
        " ",
        el("button", { type: "button", class: "action requeue", text: "Requeue", onclick: () => requeue(queue, job.id) }),
        " ",
        el("button", { type: "button", class: "action danger remove", text: "Remove", onclick: () => remove(queue, job.id) })
      )
    }
    const node = el("tr", { "data-job": job.id }, el("td", { class: "id", text: job.id }), attempts, failedAt, error, buttons)
    return { node, attempts, failedAt, error }
  }

  const renderFailed = (name, list) => {
    const card = state.queues.get(name)
    if (card === undefined) return
    card.failedTotal = list.total
    card.total.textContent = list.total > list.jobs.length
      ? `(${number(list.total)}, showing the oldest ${list.jobs.length})`
      : `(${number(list.total)})`
    card.requeueAll.disabled = list.total === 0
    const seen = new Set()
    let previous = null
    for (const job of list.jobs) {
      seen.add(job.id)
      let row = card.jobs.get(job.id)
      if (row === undefined) {
        row = jobRow(name, job)
        card.jobs.set(job.id, row)
      }
      row.attempts.textContent = number(job.attempts)
      row.failedAt.textContent = time(job.failedAt)
      row.error.textContent = job.error
      // keep the server's order (oldest first) without rebuilding the rows
      const expected = previous === null ? card.rows.firstChild : previous.nextSibling
      if (expected !== row.node) card.rows.insertBefore(row.node, expected)
      previous = row.node
    }
    for (const [id, row] of card.jobs) {
      if (!seen.has(id)) {
        row.node.remove()
        card.jobs.delete(id)
      }
    }
  }

  // -- actions -----------------------------------------------------------------------------------------------------

  const requeue = (queue, id) =>
    act(`${jobPath(queue, id)}/requeue`, undefined, () => `Requeued "${id}" of "${queue}": it runs again from attempt 1.`)
      .then((done) => done && state.detail && state.detail.id === id && closeDetail())

  const remove = (queue, id) =>
    act(`${jobPath(queue, id)}/remove`, undefined, () => `Removed "${id}" from the failed jobs of "${queue}".`)
      .then((done) => done && state.detail && state.detail.id === id && closeDetail())

  const openDetail = async (queue, id) => {
    const response = await request(jobPath(queue, id))
    if (!response.ok) {
      say(refusal(response), "error")
      return
    }
    const job = response.body
    state.detail = { queue, id: job.id }
    $("detail-id").textContent = job.id
    $("detail-queue").textContent = queue
    $("detail-attempts").textContent = number(job.attempts)
    $("detail-failed-at").textContent = time(job.failedAt)
    $("detail-decodes").textContent = job.decodes ? "yes" : "no: the queue's input schema no longer reads it"
    $("detail-payload").textContent = JSON.stringify(job.payload, null, 2)
    $("detail-error").textContent = job.error === null ? "(not kept)" : JSON.stringify(job.error, null, 2)
    $("detail-reason").textContent = job.reason
    $("detail-requeue").hidden = state.actions === "read-only"
    $("detail-remove").hidden = state.actions === "read-only"
    $("detail").hidden = false
    $("detail").scrollIntoView({ block: "nearest" })
  }

  const closeDetail = () => {
    state.detail = null
    $("detail").hidden = true
  }

  $("detail-close").addEventListener("click", closeDetail)
  $("detail-requeue").addEventListener("click", () => state.detail && requeue(state.detail.queue, state.detail.id))
  $("detail-remove").addEventListener("click", () => state.detail && remove(state.detail.queue, state.detail.id))
  $("token").value = state.token
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault()
    state.token = $("token").value.trim()
    sessionStorage.setItem(TOKEN_KEY, state.token)
    say(state.token === "" ? "Token cleared." : "Token set for this tab.", "ok")
  })

  // -- the loop ----------------------------------------------------------------------------------------------------

  let timer = null
  let running = false

  const refresh = async () => {
    if (running) return
    running = true
    clearTimeout(timer)
    try {
      const [pools, queues] = await Promise.all([request("api/pools"), request("api/queues")])
      if (!pools.ok || !queues.ok) throw new Error(`the server answered ${pools.ok ? queues.status : pools.status}`)
      const now = Date.now()
      state.refreshMillis = queues.body.refreshMillis
      state.actions = queues.body.actions
      $("mode").textContent = state.actions === "read-only"
        ? "read-only"
        : state.actions === "disabled"
        ? "actions turned off"
        : ""
      $("token-form").hidden = !queues.body.token || state.actions === "read-only"
      renderPools(pools.body.pools, now)
      renderQueues(queues.body.queues, now)
      const lists = await Promise.all(
        queues.body.queues.map((queue) => request(`${queuePath(queue.name)}/failed?limit=${FAILED_LIMIT}`))
      )
      queues.body.queues.forEach((queue, i) => lists[i].ok && renderFailed(queue.name, lists[i].body))
      $("connection").textContent = "live"
      $("connection").dataset.state = "live"
      $("updated").textContent = `updated ${new Date(now).toLocaleTimeString()}`
    } catch (error) {
      $("connection").textContent = `disconnected: ${error instanceof Error ? error.message : String(error)}`
      $("connection").dataset.state = "down"
    } finally {
      running = false
      timer = setTimeout(refresh, state.refreshMillis)
    }
  }

  refresh()
})()
