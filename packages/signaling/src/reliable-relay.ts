import type { ErrorCode } from '@smoldesk/protocol'
import { Coalescer } from './coalescer.ts'

/*
 * Instance-to-instance delivery that loses nothing silently. Redis pub/sub
 * is fire-and-forget: a message published while the receiving instance's
 * subscriber reconnects, or while Redis restarts, is gone. So each instance
 * numbers what it sends to each other instance and keeps it until the
 * receiver acknowledges it; unacknowledged messages are sent again, the
 * receiver takes each number once and in order, and what cannot be delivered
 * (the target's instance is gone and the client turned up nowhere else, or
 * the queue towards it is full) is reported so its sender hears a coded error:
 * here by the origin, or by the receiver, which knows the sender from the
 * envelope, when the client there cannot take it.
 *
 * Envelopes are lines of text, the message last and as it is (wrapping it in
 * JSON would escape every quote in it, on every relay, twice):
 *
 *   data  m \n origin \n seq \n floor \n clientId \n senderId (or empty) \n message
 *         floor: the lowest number the origin still holds; anything below it
 *         was acknowledged or given up, so the receiver does not wait for it.
 *   ack   a \n receiver \n seq \n highest   everything up to seq was taken;
 *         highest: the highest number it holds (past a gap when above seq)
 *   batch b \n length \n envelope length \n envelope …   the data envelopes
 *         for one instance from one burst of work (see Coalescer), in order, as one
 *         publish (lengths in UTF-16 code units, as JavaScript counts them).
 *         One publish per message cost Redis, and each end, a command each:
 *         at 25,000 messages/s across two instances, more CPU than the
 *         relaying itself.
 */

export interface Undeliverable {
  /** Who sent it (a client of this instance), if a client did. */
  senderId: string | undefined
  clientId: string
  message: string
  code: Extract<ErrorCode, 'TARGET_GONE' | 'OVERLOADED'>
}

export interface ReliableRelayOptions {
  /** This instance. */
  self: string
  /** Publishes one envelope on an instance's channel. */
  send(instanceId: string, payload: string): Promise<void>
  /** Whether the connection to the other instances is up (no resending into a dead connection). */
  connected(): boolean
  /** Where a client is now: an instance id, null (away), undefined (unknown). */
  locate(clientId: string): Promise<string | null | undefined>
  /** Whether an instance runs (while it does, what is sent there is not given up: it will acknowledge). */
  alive(instanceId: string): Promise<boolean>
  /** Hands a message to a client of this instance (which tells the sender if the client cannot take it). */
  deliver(clientId: string, message: string, senderId: string | undefined): void
  undeliverable(u: Undeliverable): void
  /** Acknowledgements standing still this long, what they do not cover is sent again (the wait doubles while they stay still). */
  resendMs?: number
  /** Unacknowledged this long, the target is looked up again (it may have resumed elsewhere). */
  rerouteMs?: number
  /**
   * Unacknowledged this long, and its target's instance no longer runs, a
   * message is given up and its sender told TARGET_GONE (while it runs,
   * after four times as long, OVERLOADED).
   */
  giveUpMs?: number
  /** Messages held for one instance; past it, new ones are refused (OVERLOADED). */
  maxPending?: number
  now?: () => number
}

interface Entry {
  seq: number
  clientId: string
  message: string
  senderId: string | undefined
  /** When it was first handed to us, last sent, and acknowledged. */
  first: number
  sent: number
  acked: number
}

/**
 * How long an acknowledged message is kept for a resume after its receiver
 * died: longer than a dead instance takes to be known dead (its alive key's
 * TTL, 2 s) plus a client's first few reconnect attempts.
 */
const RETAIN_MS = 5000

/** Unacknowledged by an instance that runs this many times giveUpMs, a message is given up all the same (see #reroute). */
const RUNNING_GIVE_UP = 4

/** A message missing below one that arrived is sent again, at most this often. */
const FAST_RESEND_MS = 100

/** A batch holds envelopes up to about this many characters; more go in the next. */
const MAX_BATCH_CHARS = 256 * 1024

/** Envelopes that came ahead of a gap, per origin, at most this many. */
const MAX_AHEAD = 20_000

/** Per origin instance: the highest number taken, and what came after a gap. */
interface Incoming {
  last: number
  ahead: Map<number, [clientId: string, message: string, senderId: string | undefined]>
}

interface Outgoing {
  next: number
  /** Unacknowledged, in number order. */
  pending: Entry[]
  /**
   * Acknowledged in the last RETAIN_MS, in number order: the receiver took
   * them, but if it dies now its client may not have them yet, so they are
   * given again wherever the client resumes (the client drops repeats by
   * their relay number).
   */
  done: Entry[]
  /** A reroute lookup is under way (one at a time per link). */
  locating: boolean
  /** When acknowledgements last moved (or the queue last became non-empty). */
  progressAt: number
  /** How long acknowledgements may stand still before the queue is sent again (doubles while they do). */
  stallMs: number
}

/**
 * The longest wait for acknowledgements to move before sending again,
 * however often they did not, in resendMs (8 s by default): a lossy bus
 * keeps being tried about this often until the receiver answers.
 */
const MAX_STALL_RESENDS = 8

export class ReliableRelay {
  readonly #o: Required<Omit<ReliableRelayOptions, 'now'>> & { now: () => number }
  readonly #out = new Map<string, Outgoing>()
  readonly #in = new Map<string, Incoming>()
  /** Origins owed an acknowledgement (sent together, once per burst of work). */
  readonly #owed = new Set<string>()
  readonly #ackSoon = new Coalescer(() => this.#sendAcks())
  /** The instance each client's messages went to last (so a move is noticed when it happens). */
  #lastLink = new Map<string, string>()
  #prunedAt = 0
  /** Data envelopes waiting for the end of this burst, by instance (see batch in the header). */
  readonly #batches = new Map<string, string[]>()
  readonly #flushSoon = new Coalescer(() => this.#flush())
  #closed = false

  constructor(options: ReliableRelayOptions) {
    this.#o = {
      resendMs: 1000,
      rerouteMs: 2000,
      giveUpMs: 15_000,
      maxPending: 100_000,
      now: () => performance.now(),
      ...options,
    }
  }

  /** Messages held for other instances, all together (for metrics and tests). */
  get pending(): number {
    let n = 0
    for (const link of this.#out.values()) n += link.pending.length
    return n
  }

  /** Sends a message to a client on another instance; false (nothing sent) when the queue there is full. */
  publish(instanceId: string, clientId: string, message: string, senderId?: string): boolean {
    const link = this.#link(instanceId)
    if (link.pending.length >= this.#o.maxPending) return false
    const before = this.#lastLink.get(clientId)
    if (before !== instanceId) {
      // The client moved (it resumed on another instance): what is still on its way to the old
      // one, and what that one took lately, goes first, so the order holds across the move.
      if (before !== undefined) for (const e of this.#takeAll(clientId)) this.#push(instanceId, link, e)
      this.#lastLink.set(clientId, instanceId)
    }
    const now = this.#o.now()
    this.#push(instanceId, link, { seq: 0, clientId, message, senderId, first: now, sent: now, acked: 0 })
    return true
  }

  /**
   * A client connected here now (it resumed after its instance died): what
   * this instance had sent towards it elsewhere, unacknowledged or taken
   * there lately, is delivered here, in order, before anything new.
   */
  claim(clientId: string): number {
    const entries = this.#takeAll(clientId)
    this.#lastLink.delete(clientId)
    for (const e of entries) this.#o.deliver(e.clientId, e.message, e.senderId)
    return entries.length
  }

  /** Removes and returns a client's entries from every link: the retained ones, then the pending. */
  #takeAll(clientId: string): Entry[] {
    const taken: Entry[] = []
    for (const link of this.#out.values()) {
      for (const list of [link.done, link.pending]) {
        let kept = 0
        for (const e of list) {
          if (e.clientId === clientId) taken.push(e)
          else list[kept++] = e
        }
        list.length = kept
      }
    }
    return taken
  }

  #push(instanceId: string, link: Outgoing, entry: Entry): void {
    if (link.pending.length === 0) link.progressAt = this.#o.now()
    entry.seq = link.next++
    link.pending.push(entry)
    this.#transmit(instanceId, link, entry)
  }

  /** An envelope (or a batch of them) from the bus; anything malformed is ignored. */
  receive(envelope: string): void {
    if (this.#closed) return
    if (envelope.startsWith('b\n')) {
      for (let at = 2; at < envelope.length; ) {
        const end = envelope.indexOf('\n', at)
        const length = Number(envelope.slice(at, end))
        if (end < 0 || !Number.isSafeInteger(length) || length < 0 || end + 1 + length > envelope.length)
          return
        this.#receiveOne(envelope.slice(end + 1, end + 1 + length))
        at = end + 1 + length
      }
      return
    }
    this.#receiveOne(envelope)
  }

  #receiveOne(envelope: string): void {
    const fields: string[] = []
    let at = 0
    // Six fields before a data envelope's message, three after an ack's kind.
    for (let i = 0; i < 6; i++) {
      const end = envelope.indexOf('\n', at)
      if (end < 0) break
      fields.push(envelope.slice(at, end))
      at = end + 1
    }
    const [kind, from, seqText, fourth, clientId, senderId] = fields
    const seq = Number(seqText)
    if (!from || !Number.isSafeInteger(seq)) return
    if (kind === 'm' && clientId && fields.length === 6) {
      this.#onData(from, seq, Number(fourth), clientId, envelope.slice(at), senderId || undefined)
    } else if (kind === 'a' && fields.length === 3) {
      const highest = Number(envelope.slice(at))
      this.#onAck(from, seq, Number.isSafeInteger(highest) ? highest : seq)
    }
  }

  /** Resends, reroutes and gives up; the owner calls this a few times a second. */
  tick(): void {
    const now = this.#o.now()
    if (now - this.#prunedAt >= 10_000) {
      // Only clients with something pending or retained can move anything: the rest are forgotten.
      this.#prunedAt = now
      const kept = new Map<string, string>()
      for (const [instanceId, link] of this.#out)
        for (const list of [link.done, link.pending]) for (const e of list) kept.set(e.clientId, instanceId)
      this.#lastLink = kept
    }
    for (const [instanceId, link] of this.#out) {
      let expired = 0
      while (expired < link.done.length && now - (link.done[expired]?.acked ?? 0) >= RETAIN_MS) expired++
      if (expired > 0) link.done.splice(0, expired)
      const oldest = link.pending[0]
      if (!oldest) continue
      if (now - oldest.first >= this.#o.rerouteMs && !link.locating) void this.#reroute(instanceId, link)
      // Sent again only once acknowledgements stand still: while they move the receiver is
      // working through the queue, however late, and a resend would only add to its load — under
      // load that feeds on itself until nothing arrives in time. (A message lost with others
      // arriving after it is sent again at once, see #onAck.) Each stall doubles the next wait.
      if (this.#o.connected() && now - link.progressAt >= link.stallMs) {
        for (const entry of link.pending)
          if (now - entry.sent >= link.stallMs) this.#transmit(instanceId, link, entry)
        link.progressAt = now
        link.stallMs = Math.min(MAX_STALL_RESENDS * this.#o.resendMs, link.stallMs * 2)
      }
    }
  }

  close(): void {
    this.#closed = true
    this.#out.clear()
    this.#lastLink.clear()
    this.#batches.clear()
  }

  #link(instanceId: string): Outgoing {
    let link = this.#out.get(instanceId)
    if (!link) {
      link = {
        next: 1,
        pending: [],
        done: [],
        locating: false,
        progressAt: this.#o.now(),
        stallMs: this.#o.resendMs,
      }
      this.#out.set(instanceId, link)
    }
    return link
  }

  #transmit(instanceId: string, link: Outgoing, entry: Entry): void {
    entry.sent = this.#o.now()
    const floor = link.pending[0]?.seq ?? entry.seq
    const payload = `m\n${this.#o.self}\n${entry.seq}\n${floor}\n${entry.clientId}\n${entry.senderId ?? ''}\n${entry.message}`
    let batch = this.#batches.get(instanceId)
    if (!batch) {
      batch = []
      this.#batches.set(instanceId, batch)
    }
    batch.push(payload)
    this.#flushSoon.add()
  }

  /** Publishes this burst's envelopes, one batch per instance (or a few, if large). */
  #flush(): void {
    if (this.#closed) return
    for (const [instanceId, envelopes] of this.#batches) {
      let group: string[] = []
      let chars = 0
      const publish = () => {
        const payload =
          group.length === 1 ? (group[0] as string) : `b\n${group.map((e) => `${e.length}\n${e}`).join('')}`
        // A failed publish stays pending: it is sent again once acknowledgements stand still.
        this.#o.send(instanceId, payload).catch(() => {})
        group = []
        chars = 0
      }
      for (const envelope of envelopes) {
        group.push(envelope)
        chars += envelope.length
        if (chars >= MAX_BATCH_CHARS) publish()
      }
      if (group.length > 0) publish()
    }
    this.#batches.clear()
  }

  #onData(
    origin: string,
    seq: number,
    floor: number,
    clientId: string,
    message: string,
    senderId: string | undefined,
  ): void {
    if (!Number.isSafeInteger(floor)) return
    const state = this.#incoming(origin)
    if (floor - 1 > state.last) {
      // The origin gave up on what is below its floor: not waited for, and not kept either.
      state.last = floor - 1
      for (const held of state.ahead.keys()) if (held <= state.last) state.ahead.delete(held)
    }
    if (seq > state.last + 1) {
      // Ahead of a gap (what came before was lost on the way): kept until the gap is filled by
      // the origin's resend, so one lost envelope does not cost everything after it.
      if (state.ahead.size < MAX_AHEAD) state.ahead.set(seq, [clientId, message, senderId])
    } else if (seq === state.last + 1) {
      this.#o.deliver(clientId, message, senderId)
      state.last = seq
    }
    // A repeat (seq ≤ last) is only acknowledged again. Then whatever waited behind the gap.
    for (let next = state.ahead.get(state.last + 1); next; next = state.ahead.get(state.last + 1)) {
      state.ahead.delete(state.last + 1)
      this.#o.deliver(...next)
      state.last++
    }
    this.#owe(origin)
  }

  #incoming(origin: string): Incoming {
    let state = this.#in.get(origin)
    if (!state) {
      state = { last: 0, ahead: new Map() }
      this.#in.set(origin, state)
    }
    return state
  }

  #owe(origin: string): void {
    this.#owed.add(origin)
    this.#ackSoon.add()
  }

  #sendAcks(): void {
    if (this.#closed) return
    for (const to of this.#owed) {
      const state = this.#in.get(to)
      const upTo = state?.last ?? 0
      let highest = upTo
      for (const held of state?.ahead.keys() ?? []) highest = Math.max(highest, held)
      this.#o.send(to, `a\n${this.#o.self}\n${upTo}\n${highest}`).catch(() => {})
    }
    this.#owed.clear()
  }

  #onAck(from: string, upTo: number, highest: number): void {
    const link = this.#out.get(from)
    if (!link) return
    let taken = 0
    while (taken < link.pending.length && (link.pending[taken]?.seq ?? Infinity) <= upTo) taken++
    if (taken > 0) {
      const now = this.#o.now()
      link.progressAt = now
      link.stallMs = this.#o.resendMs
      for (const entry of link.pending.splice(0, taken)) {
        entry.acked = now
        link.done.push(entry)
      }
      // Bounded like the pending ones: past it, the oldest retained go first.
      if (link.done.length > this.#o.maxPending) link.done.splice(0, link.done.length - this.#o.maxPending)
    }
    // The receiver holds messages past a gap: what is missing below them was lost on the way
    // (what was merely still travelling is not resent: the gap is behind something that arrived).
    if (highest <= upTo || !this.#o.connected()) return
    const now = this.#o.now()
    for (const entry of link.pending) {
      if (entry.seq >= highest) break
      if (now - entry.sent > FAST_RESEND_MS) this.#transmit(from, link, entry)
    }
  }

  /**
   * Messages unacknowledged for a while: their clients may have resumed on
   * another instance (theirs died). Each found elsewhere is moved there, in
   * order; what is still unaccounted for after giveUpMs, with its instance
   * gone, is reported.
   *
   * Not given up while the instance runs: it takes what reaches it and
   * acknowledges, so silence from it means the bus lost the envelopes or
   * the acknowledgements, and reporting TARGET_GONE then would tell a sender
   * "undeliverable" about messages its target had already received. Until
   * the bus carries them, the queue's bound refuses new ones (OVERLOADED).
   * Only after RUNNING_GIVE_UP times giveUpMs of such silence is its sender
   * told OVERLOADED (the instance runs but does not keep up): an error that
   * late may, on a bus that loses at random, cover a message that arrived,
   * but silence forever would be worse.
   */
  async #reroute(instanceId: string, link: Outgoing): Promise<void> {
    link.locating = true
    try {
      const now = this.#o.now()
      const stale = link.pending.filter((e) => now - e.first >= this.#o.rerouteMs)
      const where = new Map<string, string | null | undefined>()
      for (const entry of stale) {
        if (!where.has(entry.clientId))
          where.set(entry.clientId, await this.#o.locate(entry.clientId).catch(() => instanceId))
      }
      // Only asked when something is old enough to give up; a failed lookup counts as running.
      const giveUp = stale.some((e) => now - e.first >= this.#o.giveUpMs)
      const late = RUNNING_GIVE_UP * this.#o.giveUpMs
      const running = giveUp ? await this.#o.alive(instanceId).catch(() => true) : true
      if (this.#closed) return
      const handled = new Set<string>()
      for (const entry of stale) {
        const { clientId } = entry
        if (handled.has(clientId)) continue
        const at = where.get(clientId)
        // Away (null): kept for its resume by this instance's queue, like any message for a client away.
        if (at === null || at === this.#o.self) {
          handled.add(clientId)
          this.claim(clientId)
        } else if (typeof at === 'string' && at !== instanceId) {
          // All of the client's messages move at once, so their order holds.
          handled.add(clientId)
          const entries = this.#takeAll(clientId)
          const to = this.#link(at)
          const room = this.#o.maxPending - to.pending.length
          for (const [i, e] of entries.entries()) {
            if (i < room) this.#push(at, to, e)
            else this.#o.undeliverable({ ...e, code: 'OVERLOADED' })
          }
          this.#lastLink.set(clientId, at)
        } else if (this.#o.now() - entry.first >= (running ? late : this.#o.giveUpMs)) {
          const index = link.pending.indexOf(entry)
          if (index < 0) continue // acknowledged meanwhile
          link.pending.splice(index, 1)
          this.#o.undeliverable({
            senderId: entry.senderId,
            clientId,
            message: entry.message,
            code: running ? 'OVERLOADED' : 'TARGET_GONE',
          })
        }
      }
    } finally {
      link.locating = false
    }
  }
}
