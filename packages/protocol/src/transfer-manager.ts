import {
  DATA_FRAME_MAX_PAYLOAD,
  dataHeaderBytes,
  decodeFrame,
  encodeControl,
  encodeData,
  writeDataHeader,
} from './data-frames.ts'
import { describeZodError, type ErrorCode, SmolDeskError } from './errors.ts'
import {
  type TransferDirection,
  type TransferInfo,
  type TransferMessage,
  TransferMessageSchema,
  type TransferState,
} from './transfer-messages.ts'

/*
 * The file-transfer engine, the same on the host (Node, files on disk) and
 * in the viewer (browser, Blobs): only storage and hashing are plugged in.
 * One manager holds every transfer of its side; each peer's file channel is
 * attached as a link. A transfer outlives its link: when the connection
 * drops it waits (`interrupted`) and carries on from the receiver's written
 * offset when the peer comes back, on whichever link the peer then uses.
 */

/*
 * Back-pressure on a data channel: a sender stops above the high-water mark
 * and goes on once the queue is down to the low-water mark. Both are wide
 * so the queue never runs dry while the sender's thread is busy elsewhere
 * (reading the file, hashing): with 1 MiB / 512 KiB the host's libdatachannel
 * queue emptied between refills and downloads to a browser on this machine
 * ran at 39–40 MB/s; with 4 MiB / 1 MiB, 41–51 (the bare channel: 51–63).
 * Every channel implementation (werift, libdatachannel, the browser's) uses
 * these two.
 */
export const CHANNEL_HIGH_WATER_BYTES = 4 * 1024 * 1024
export const CHANNEL_LOW_WATER_BYTES = 1024 * 1024

/** One peer's file channel. */
export interface TransferLink {
  send(frame: Uint8Array): void
  /** Bytes queued in the channel and not yet handed to the network. */
  bufferedAmount(): number
  /** Resolves once bufferedAmount fell to CHANNEL_LOW_WATER_BYTES (or the channel closed). */
  drained(): Promise<void>
  /** send() has copied the frame when it returns: the sender may fill the same buffer again. */
  readonly copiesOnSend?: boolean
}

export interface TransferSource {
  readonly size: number
  read(offset: number, length: number): Promise<Uint8Array>
  /** Fills `target` from `offset` on; returns the bytes read (fewer only at the end of the source). */
  readInto?(target: Uint8Array, offset: number): Promise<number>
  close(): Promise<void>
}

/** Where received bytes go: written in order, then committed (kept) or discarded (nothing left). */
export interface TransferSink {
  write(data: Uint8Array): Promise<void>
  /** Puts the verified file in place; returns where (a path, a name). */
  commit(): Promise<string>
  discard(): Promise<void>
}

export interface Hasher {
  update(data: Uint8Array): void
  /** Lowercase hex SHA-256 of everything passed to update. */
  digest(): string
}

export type TransferEvent =
  | { type: 'offered'; info: TransferInfo }
  | { type: 'started'; info: TransferInfo }
  | { type: 'progress'; info: TransferInfo; rateBytesPerS: number; etaS: number | null }
  | { type: 'completed'; info: TransferInfo }
  | { type: 'error'; info: TransferInfo; code: ErrorCode; message: string }
  | { type: 'changed'; info: TransferInfo }

export interface TransferManagerOptions {
  /** Which end this manager is: decides how directions are named in TransferInfo. */
  side: 'host' | 'viewer'
  openSink(info: { id: string; name: string; size: number }): Promise<TransferSink>
  hasher(): Hasher
  /** Largest file this side accepts. */
  maxBytes: number
  /** Accept incoming offers without asking. */
  autoAccept: boolean
  /** Whether this peer may send us files (`receive`) or be sent files (`send`). */
  allowed?: (peerId: string, what: 'send' | 'receive') => boolean
  onEvent(event: TransferEvent): void
  /** Payload bytes per data frame (64 KiB frames including the header by default). */
  chunkBytes?: number
  /** Unacknowledged bytes in flight: bounds the receiver's write queue and its memory. */
  windowBytes?: number
  /** The channel's queue is kept below this many bytes. */
  highWaterBytes?: number
  /** How long an interrupted transfer waits for its peer before it fails. */
  interruptedGraceMs?: number
  /** We answered a peer's message with an error (at most ERROR_REPLIES_PER_S a second per link): for logs. */
  onRefused?(refusal: { peerId: string; id: string | undefined; code: ErrorCode; message: string }): void
  /** Resend our unfinished transfers' state when a link attaches (the side that reconnects). */
  resyncOnAttach?: boolean
  /** A sender that has not heard where the receiver stands on a new link asks again this often. */
  reaskMs?: number
  /** Progress events per second per transfer, at most. */
  progressPerSecond?: number
  newId?: () => string
  now?: () => number
}

const DEFAULTS = {
  chunkBytes: DATA_FRAME_MAX_PAYLOAD,
  windowBytes: 4 * 1024 * 1024,
  highWaterBytes: CHANNEL_HIGH_WATER_BYTES,
  interruptedGraceMs: 10 * 60 * 1000,
  progressPerSecond: 4,
  reaskMs: 1000,
}
/** The receiver acknowledges at least this often (in written bytes). */
const ACK_EVERY_BYTES = 1024 * 1024
/** Error answers to a misbehaving peer, per second at most (no amplification). */
const ERROR_REPLIES_PER_S = 20
/** Unfinished incoming transfers one peer may have: a flood of offers must not fill our memory. */
const MAX_OPEN_OFFERS_PER_PEER = 64
/** Finished transfers kept for list(); older ones are forgotten. */
const MAX_FINISHED_KEPT = 200

interface Transfer {
  id: string
  outgoing: boolean
  peerId: string
  name: string
  size: number
  state: TransferState
  /** The state to return to when the link comes back. */
  resumeState: TransferState | undefined
  /** Outgoing: next byte to send. Incoming: bytes written. */
  offset: number
  /** Outgoing: bytes the receiver confirmed written. */
  acked: number
  /** Incoming: bytes on disk (offset counts bytes received, some may still be queued for writing). */
  written: number
  /** Incoming: offset last acknowledged to the sender. */
  ackSent: number
  accepted: boolean
  hasher: Hasher
  /** Outgoing: bytes [0, hashedTo) are in the hash (each byte hashed once, even when resent). */
  hashedTo: number
  sha256: string | undefined
  source: TransferSource | undefined
  sink: TransferSink | undefined
  /** Incoming: writes in order, one after another. */
  writes: Promise<void>
  endSent: boolean
  path: string | undefined
  error: string | undefined
  pumping: boolean
  /** Bumped whenever the send position is reset, so a pump in flight does not overwrite it. */
  generation: number
  /**
   * Outgoing: the link the receiver last told us where it stands on (its accept). Data goes
   * only over that link: over a new one, frames still queued on the old one may be lost, and
   * the receiver would see a gap. The new link's accept (answering our offer on resync, or the
   * receiver's own) brings the position to send from.
   */
  acceptedOn: LinkState | undefined
  wake: (() => void) | undefined
  /** Outgoing over a link that copies on send: the one frame buffer every chunk is read into. */
  frame: Uint8Array | undefined
  graceTimer: ReturnType<typeof setTimeout> | undefined
  /** A sender on a new link asks the receiver again until it says where it stands (see #reask). */
  reaskTimer: ReturnType<typeof setTimeout> | undefined
  rate: { at: number; bytes: number; lastEmit: number; perS: number }
}

interface LinkState {
  peerId: string
  link: TransferLink
  errorBudget: { second: number; count: number }
}

const TERMINAL: TransferState[] = ['completed', 'cancelled', 'failed']

function randomId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

export class TransferManager {
  readonly #o: TransferManagerOptions & typeof DEFAULTS
  readonly #transfers = new Map<string, Transfer>()
  readonly #links = new Map<string, LinkState>()

  constructor(options: TransferManagerOptions) {
    this.#o = { ...DEFAULTS, ...options }
    if (this.#o.chunkBytes < 1 || this.#o.chunkBytes > DATA_FRAME_MAX_PAYLOAD) {
      throw new SmolDeskError('INVALID_ARGS', `chunkBytes must be 1–${DATA_FRAME_MAX_PAYLOAD}`)
    }
  }

  /** Attaches a peer's open file channel; returns the handler for its messages and for its close. */
  attach(peerId: string, link: TransferLink): { receive(frame: Uint8Array): void; detach(): void } {
    const state: LinkState = { peerId, link, errorBudget: { second: 0, count: 0 } }
    this.#links.set(peerId, state)
    for (const t of this.#transfers.values()) {
      if (t.peerId !== peerId) continue
      if (t.state === 'interrupted') this.#relink(t)
      if (t.outgoing && t.accepted && t.state === 'active') this.#reask(t, state)
    }
    if (this.#o.resyncOnAttach) this.#resync(peerId)
    return {
      receive: (frame) => this.#receive(state, frame),
      detach: () => this.#dropLink(state),
    }
  }

  /** Offers a file to a peer; it starts when the peer accepts. */
  send(peerId: string, name: string, source: TransferSource): TransferInfo {
    if (this.#o.allowed && !this.#o.allowed(peerId, 'send'))
      throw new SmolDeskError('FORBIDDEN', `peer ${peerId} may not receive files`)
    if (!this.#links.has(peerId))
      throw new SmolDeskError('PEER_NOT_FOUND', `peer ${peerId} has no open file channel`)
    const t = this.#create({
      id: (this.#o.newId ?? randomId)(),
      outgoing: true,
      peerId,
      name,
      size: source.size,
    })
    t.source = source
    this.#sendTo(t, { type: 'offer', id: t.id, name, size: t.size })
    this.#changed(t)
    return this.#info(t)
  }

  list(): TransferInfo[] {
    return [...this.#transfers.values()].map((t) => this.#info(t))
  }

  get(id: string): TransferInfo {
    return this.#info(this.#find(id))
  }

  async accept(id: string): Promise<void> {
    const t = this.#find(id)
    if (t.outgoing || t.state !== 'pending')
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is not an offer waiting for an answer`)
    await this.#start(t)
  }

  reject(id: string): void {
    const t = this.#find(id)
    if (t.outgoing || t.state !== 'pending')
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is not an offer waiting for an answer`)
    this.#sendTo(t, { type: 'reject', id })
    this.#finish(t, 'cancelled', 'TRANSFER_REJECTED', 'rejected by the receiver')
  }

  pause(id: string): void {
    const t = this.#find(id)
    if (t.state !== 'active' && !(t.state === 'interrupted' && t.resumeState === 'active'))
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is ${t.state}, not active`)
    this.#sendTo(t, { type: 'pause', id })
    this.#setPaused(t)
  }

  resume(id: string): void {
    const t = this.#find(id)
    if (t.state !== 'paused' && !(t.state === 'interrupted' && t.resumeState === 'paused'))
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is ${t.state}, not paused`)
    if (t.state === 'interrupted') {
      t.resumeState = 'active'
      return
    }
    this.#goOn(t)
  }

  cancel(id: string): void {
    const t = this.#find(id)
    if (TERMINAL.includes(t.state)) return
    this.#sendTo(t, { type: 'cancel', id })
    this.#finish(t, 'cancelled', 'TRANSFER_CANCELLED', 'cancelled here')
  }

  /** Cancels everything (the host shuts down); partial files are removed. */
  async close(): Promise<void> {
    for (const t of this.#transfers.values()) {
      if (!TERMINAL.includes(t.state)) this.#finish(t, 'cancelled', 'TRANSFER_CANCELLED', 'shutting down')
    }
    await Promise.all([...this.#transfers.values()].map((t) => t.writes))
  }

  // --- receiving ------------------------------------------------------------------

  #receive(link: LinkState, bytes: Uint8Array): void {
    let frame: ReturnType<typeof decodeFrame>
    try {
      frame = decodeFrame(bytes)
      if (frame.kind === 'data') {
        this.#onData(link, frame.id, frame.offset, frame.payload)
        return
      }
      const parsed = TransferMessageSchema.safeParse(frame.message)
      if (!parsed.success) throw new SmolDeskError('INVALID_REQUEST', describeZodError(parsed.error))
      this.#onMessage(link, parsed.data)
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#replyError(link, undefined, error.code, error.message)
    }
  }

  #onMessage(link: LinkState, msg: TransferMessage): void {
    if (msg.type === 'offer') {
      this.#onOffer(link, msg)
      return
    }
    if (msg.type === 'error') {
      // Never answered (no error ping-pong); a transfer it names fails with the peer's reason.
      const t = msg.id === undefined ? undefined : this.#transfers.get(msg.id)
      if (t && t.peerId === link.peerId && !TERMINAL.includes(t.state))
        this.#finish(t, 'failed', msg.code, `the other side: ${msg.message}`)
      return
    }
    const t = this.#ownedBy(link, msg.id)
    if (!t) {
      this.#replyError(link, msg.id, 'TRANSFER_NOT_FOUND', `no transfer ${msg.id}`)
      return
    }
    if (TERMINAL.includes(t.state)) return
    switch (msg.type) {
      case 'accept':
        if (!t.outgoing) throw new SmolDeskError('INVALID_REQUEST', 'accept for a transfer we receive')
        // A late answer on a link the peer has since replaced: its answer on the new one counts.
        if (this.#links.get(t.peerId) !== link) return
        this.#onAccept(t, msg.offset, link)
        return
      case 'ack':
        if (!t.outgoing) throw new SmolDeskError('INVALID_REQUEST', 'ack for a transfer we receive')
        if (msg.offset > t.acked && msg.offset <= t.size) {
          t.acked = msg.offset
          this.#progress(t)
          t.wake?.()
        }
        return
      case 'reject':
        if (!t.outgoing) throw new SmolDeskError('INVALID_REQUEST', 'reject for a transfer we receive')
        this.#finish(t, 'cancelled', 'TRANSFER_REJECTED', msg.reason ?? 'the receiver declined the file')
        return
      case 'pause':
        if (t.state === 'active') this.#setPaused(t)
        return
      case 'resume':
        if (t.state === 'paused') this.#goOn(t)
        return
      case 'cancel':
        this.#finish(t, 'cancelled', 'TRANSFER_CANCELLED', 'cancelled by the other side')
        return
      case 'end':
        if (t.outgoing) throw new SmolDeskError('INVALID_REQUEST', 'end for a transfer we send')
        this.#onEnd(t, msg.sha256)
        return
      case 'done':
        if (!t.outgoing) throw new SmolDeskError('INVALID_REQUEST', 'done for a transfer we receive')
        if (!t.endSent || msg.sha256 !== t.sha256) {
          this.#failBoth(t, 'TRANSFER_CORRUPT', 'the receiver confirmed a different SHA-256')
          return
        }
        t.acked = t.size
        this.#finish(t, 'completed')
        return
    }
  }

  /**
   * A transfer this link may speak for: its own, or an interrupted one whose
   * peer came back under a new id (the transfer id, 128 random bits, is the
   * proof: only the two ends ever saw it).
   */
  #ownedBy(link: LinkState, id: string): Transfer | undefined {
    const t = this.#transfers.get(id)
    if (!t) return undefined
    if (t.peerId === link.peerId) {
      if (t.state === 'interrupted') this.#relink(t)
      return t
    }
    if (t.state !== 'interrupted') return undefined
    t.peerId = link.peerId
    this.#relink(t)
    return t
  }

  #onOffer(link: LinkState, msg: Extract<TransferMessage, { type: 'offer' }>): void {
    const known = this.#ownedBy(link, msg.id)
    if (known) {
      // The sender reconnected: tell it where we are.
      if (known.outgoing || known.size !== msg.size)
        throw new SmolDeskError('INVALID_REQUEST', `offer ${msg.id} does not match the transfer`)
      if (known.state === 'active')
        this.#sendTo(known, { type: 'accept', id: known.id, offset: known.offset })
      else if (known.state === 'paused') this.#sendTo(known, { type: 'pause', id: known.id })
      return
    }
    if (this.#transfers.has(msg.id)) {
      this.#replyError(link, msg.id, 'INVALID_REQUEST', `transfer id ${msg.id} is taken`)
      return
    }
    let open = 0
    for (const t of this.#transfers.values())
      if (!t.outgoing && t.peerId === link.peerId && !TERMINAL.includes(t.state)) open++
    if (open >= MAX_OPEN_OFFERS_PER_PEER) {
      this.#replyError(link, msg.id, 'RATE_LIMITED', `${open} files from you are still open here`)
      return
    }
    const t = this.#create({
      id: msg.id,
      outgoing: false,
      peerId: link.peerId,
      name: msg.name,
      size: msg.size,
    })
    if (this.#o.allowed && !this.#o.allowed(link.peerId, 'receive')) {
      this.#failBoth(t, 'FORBIDDEN', 'this viewer may not send files')
      return
    }
    if (msg.size > this.#o.maxBytes) {
      this.#failBoth(
        t,
        'TRANSFER_TOO_LARGE',
        `${msg.name} has ${msg.size} bytes; this side accepts files up to ${this.#o.maxBytes} bytes`,
      )
      return
    }
    this.#emit({ type: 'offered', info: this.#info(t) })
    this.#changed(t)
    if (this.#o.autoAccept) {
      this.#start(t).catch(() => {})
    }
  }

  /** The receiver opens its sink and asks for the bytes. */
  async #start(t: Transfer): Promise<void> {
    t.state = 'active'
    try {
      t.sink = await this.#o.openSink({ id: t.id, name: t.name, size: t.size })
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#failBoth(t, error.code, error.message)
      throw error
    }
    if (t.state !== 'active') {
      // Cancelled while the sink opened.
      await t.sink.discard().catch(() => {})
      return
    }
    t.accepted = true
    this.#emit({ type: 'started', info: this.#info(t) })
    this.#sendTo(t, { type: 'accept', id: t.id, offset: 0 })
    this.#changed(t)
  }

  #onData(link: LinkState, id: string, offset: number, payload: Uint8Array): void {
    const t = this.#ownedBy(link, id)
    if (!t || t.outgoing || !t.accepted) {
      this.#replyError(link, id, 'TRANSFER_NOT_FOUND', `no transfer ${id} to receive`)
      return
    }
    if (TERMINAL.includes(t.state)) return
    const sink = t.sink
    if (!sink) return
    // Bytes already written (resent after a resume) are skipped; a gap is a broken sender.
    const expected = t.offset
    if (offset > expected) {
      this.#failBoth(t, 'TRANSFER_CORRUPT', `data at ${offset} but only ${expected} bytes received`)
      return
    }
    const fresh = payload.subarray(Math.min(payload.length, expected - offset))
    if (fresh.length === 0) return
    if (expected + fresh.length > t.size) {
      this.#failBoth(t, 'TRANSFER_CORRUPT', `more than the announced ${t.size} bytes`)
      return
    }
    t.offset = expected + fresh.length
    t.hasher.update(fresh)
    // Not copied: both data channel implementations hand over a fresh buffer per message.
    const copy = fresh
    t.writes = t.writes.then(async () => {
      if (TERMINAL.includes(t.state)) return
      try {
        await sink.write(copy)
      } catch (err) {
        const error = SmolDeskError.from(err)
        this.#failBoth(t, error.code, error.message)
        return
      }
      t.written += copy.length
      const written = t.written
      if (written - t.ackSent >= ACK_EVERY_BYTES || written === t.size) {
        t.ackSent = written
        this.#sendTo(t, { type: 'ack', id: t.id, offset: written })
      }
      this.#progress(t, written)
    })
  }

  #onEnd(t: Transfer, sha256: string): void {
    const sink = t.sink
    if (!t.accepted || !sink) throw new SmolDeskError('INVALID_REQUEST', 'end before accept')
    t.writes = t.writes.then(async () => {
      if (TERMINAL.includes(t.state)) return
      if (t.offset !== t.size) {
        this.#failBoth(t, 'TRANSFER_CORRUPT', `ended after ${t.offset} of ${t.size} bytes`)
        return
      }
      t.sha256 ??= t.hasher.digest()
      if (t.sha256 !== sha256) {
        this.#failBoth(t, 'TRANSFER_CORRUPT', `SHA-256 mismatch: sent ${sha256}, received ${t.sha256}`)
        return
      }
      try {
        t.path = await sink.commit()
      } catch (err) {
        const error = SmolDeskError.from(err)
        this.#failBoth(t, error.code, error.message)
        return
      }
      t.sink = undefined
      this.#sendTo(t, { type: 'done', id: t.id, sha256 })
      this.#finish(t, 'completed')
    })
  }

  // --- sending --------------------------------------------------------------------

  #onAccept(t: Transfer, offset: number, link: LinkState): void {
    if (offset > t.size) throw new SmolDeskError('INVALID_REQUEST', `accept beyond the end (${offset})`)
    const first = !t.accepted
    t.accepted = true
    t.acceptedOn = link
    t.state = 'active'
    t.offset = offset
    t.acked = Math.max(t.acked, offset)
    t.endSent = false
    t.generation++
    if (first) this.#emit({ type: 'started', info: this.#info(t) })
    this.#changed(t)
    t.wake?.()
    void this.#pump(t)
  }

  /** Sends data while the transfer is active, its link open and the window not full. */
  async #pump(t: Transfer): Promise<void> {
    if (t.pumping) return
    t.pumping = true
    try {
      for (;;) {
        const link = this.#links.get(t.peerId)
        // On a link the receiver has not spoken on yet, wait for its accept (see acceptedOn).
        if (t.state !== 'active' || !link || link !== t.acceptedOn) return
        if (t.offset >= t.size) {
          if (!t.endSent) {
            await this.#hashUpTo(t, t.size)
            t.sha256 ??= t.hasher.digest()
            t.endSent = true
            this.#sendTo(t, { type: 'end', id: t.id, sha256: t.sha256 })
          }
          return
        }
        if (link.link.bufferedAmount() > this.#o.highWaterBytes) {
          // Woken also when the link goes or the receiver asks again: a channel that died without
          // telling (no close event) must not hold this pump, and with it the transfer, forever.
          await new Promise<void>((resolve) => {
            t.wake = resolve
            void link.link.drained().then(resolve)
          })
          t.wake = undefined
          continue
        }
        if (t.offset - t.acked >= this.#o.windowBytes) {
          await new Promise<void>((resolve) => {
            t.wake = resolve
          })
          t.wake = undefined
          continue
        }
        const generation = t.generation
        const at = t.offset
        const length = Math.min(this.#o.chunkBytes, t.size - at)
        await this.#hashUpTo(t, at)
        // A link that copies on send gets every chunk read straight into one reused frame:
        // nothing allocated per chunk (at 40 MB/s, garbage collection took a fifth of the host's
        // main thread with a fresh buffer for each read and each frame).
        const frame = link.link.copiesOnSend ? this.#frameFor(t, length) : undefined
        const data = frame
          ? await this.#readInto(t, frame.subarray(dataHeaderBytes(t.id)), at)
          : await this.#read(t, at, length)
        if (at + length > t.hashedTo) {
          t.hasher.update(data.subarray(t.hashedTo - at))
          t.hashedTo = at + length
        }
        if (t.generation !== generation || t.state !== 'active' || this.#links.get(t.peerId) !== link)
          continue
        if (!this.#transmit(link, frame ? writeDataHeader(frame, t.id, at) : encodeData(t.id, at, data)))
          continue
        t.offset = at + length
      }
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#failBoth(t, error.code, error.message)
    } finally {
      t.pumping = false
    }
  }

  /** A receiver that asks to start past what we hashed (it never should): hash the gap first. */
  async #hashUpTo(t: Transfer, offset: number): Promise<void> {
    while (t.hashedTo < offset) {
      const length = Math.min(this.#o.chunkBytes, offset - t.hashedTo)
      t.hasher.update(await this.#read(t, t.hashedTo, length))
      t.hashedTo += length
    }
  }

  /** The transfer's frame buffer, cut to a chunk of `length` bytes. */
  #frameFor(t: Transfer, length: number): Uint8Array {
    const header = dataHeaderBytes(t.id)
    t.frame ??= new Uint8Array(header + this.#o.chunkBytes)
    return t.frame.subarray(0, header + length)
  }

  async #readInto(t: Transfer, target: Uint8Array, offset: number): Promise<Uint8Array> {
    if (!t.source?.readInto) {
      target.set(await this.#read(t, offset, target.length))
      return target
    }
    const read = await t.source.readInto(target, offset)
    if (read !== target.length)
      throw new SmolDeskError(
        'FILE_ERROR',
        `${t.name} changed while it was being sent (short read at ${offset})`,
      )
    return target
  }

  async #read(t: Transfer, offset: number, length: number): Promise<Uint8Array> {
    if (!t.source) throw new SmolDeskError('INTERNAL', 'outgoing transfer without a source')
    const data = await t.source.read(offset, length)
    if (data.length !== length)
      throw new SmolDeskError(
        'FILE_ERROR',
        `${t.name} changed while it was being sent (short read at ${offset})`,
      )
    return data
  }

  // --- state ------------------------------------------------------------------------

  #setPaused(t: Transfer): void {
    t.state = 'paused'
    t.wake?.()
    this.#changed(t)
  }

  /** Leaves a pause: the receiver says where to go on from, the sender asks it to. */
  #goOn(t: Transfer): void {
    if (t.outgoing) {
      t.state = 'active'
      this.#sendTo(t, { type: 'resume', id: t.id })
      this.#changed(t)
      return
    }
    t.state = 'active'
    this.#sendTo(t, { type: 'accept', id: t.id, offset: t.offset })
    this.#changed(t)
  }

  #interrupt(t: Transfer): void {
    if (TERMINAL.includes(t.state) || t.state === 'interrupted') return
    t.resumeState = t.state
    t.state = 'interrupted'
    t.wake?.()
    t.graceTimer = setTimeout(() => {
      if (t.state === 'interrupted')
        this.#finish(t, 'failed', 'TRANSFER_INTERRUPTED', 'the other side did not come back in time')
    }, this.#o.interruptedGraceMs)
    // A waiting transfer must not keep a process alive on its own.
    ;(t.graceTimer as { unref?: () => void }).unref?.()
    this.#changed(t)
  }

  #relink(t: Transfer): void {
    if (t.state !== 'interrupted') return
    clearTimeout(t.graceTimer)
    t.state = t.resumeState ?? 'pending'
    t.resumeState = undefined
    this.#changed(t)
  }

  /**
   * A sender on a new link sends nothing until the receiver says where it
   * stands (its accept). That accept is the receiver's one answer to the new
   * link: lost (a frame sent while the link was still settling on either
   * side; seen as a download stalled at half in CI), the transfer would wait
   * for ever. So the sender asks again (its offer, which a receiver that
   * knows the transfer answers with its offset) until it hears on this link.
   */
  #reask(t: Transfer, link: LinkState): void {
    clearTimeout(t.reaskTimer)
    t.reaskTimer = setTimeout(() => {
      t.reaskTimer = undefined
      // Answered, replaced, ended or paused (a resume asks again by itself): nothing more to ask.
      if (t.state !== 'active' || t.acceptedOn === link || this.#links.get(t.peerId) !== link) return
      this.#transmit(link, encodeControl({ type: 'offer', id: t.id, name: t.name, size: t.size }))
      this.#reask(t, link)
    }, this.#o.reaskMs)
    ;(t.reaskTimer as { unref?: () => void }).unref?.()
  }

  /** After a reconnect: tell the peer where each unfinished transfer stands. */
  #resync(peerId: string): void {
    for (const t of this.#transfers.values()) {
      if (t.peerId !== peerId || TERMINAL.includes(t.state)) continue
      if (t.outgoing) {
        this.#sendTo(t, { type: 'offer', id: t.id, name: t.name, size: t.size })
      } else if (t.accepted && t.state === 'active') {
        this.#sendTo(t, { type: 'accept', id: t.id, offset: t.offset })
      } else if (t.state === 'paused') {
        this.#sendTo(t, { type: 'pause', id: t.id })
      }
    }
  }

  /** Fails a transfer here and tells the other side why. */
  #failBoth(t: Transfer, code: ErrorCode, message: string): void {
    if (TERMINAL.includes(t.state)) return
    this.#sendTo(t, { type: 'error', id: t.id, code, message })
    this.#finish(t, 'failed', code, message)
  }

  #finish(
    t: Transfer,
    state: 'completed' | 'cancelled' | 'failed',
    code?: ErrorCode,
    message?: string,
  ): void {
    if (TERMINAL.includes(t.state)) return
    t.state = state
    clearTimeout(t.graceTimer)
    clearTimeout(t.reaskTimer)
    t.wake?.()
    if (state !== 'completed') t.error = `${code}: ${message}`
    const sink = t.sink
    t.sink = undefined
    // A partial or unverified file is never kept.
    if (sink) t.writes = t.writes.then(() => sink.discard()).catch(() => {})
    const source = t.source
    t.source = undefined
    t.frame = undefined
    source?.close().catch(() => {})
    if (state === 'completed') {
      t.offset = t.size
      this.#emit({ type: 'completed', info: this.#info(t) })
    } else {
      this.#emit({ type: 'error', info: this.#info(t), code: code ?? 'INTERNAL', message: message ?? state })
    }
    this.#changed(t)
    this.#forgetOldest()
  }

  /** Keeps the newest finished transfers only (the map is in creation order). */
  #forgetOldest(): void {
    let finished = 0
    for (const t of this.#transfers.values()) if (TERMINAL.includes(t.state)) finished++
    for (const [id, t] of this.#transfers) {
      if (finished <= MAX_FINISHED_KEPT) return
      if (TERMINAL.includes(t.state)) {
        this.#transfers.delete(id)
        finished--
      }
    }
  }

  #progress(t: Transfer, bytes = t.outgoing ? t.acked : t.offset): void {
    const now = (this.#o.now ?? Date.now)()
    const r = t.rate
    if (now - r.lastEmit < 1000 / this.#o.progressPerSecond && bytes < t.size) return
    const seconds = (now - r.at) / 1000
    if (seconds > 0) {
      const instant = (bytes - r.bytes) / seconds
      r.perS = r.perS === 0 ? instant : r.perS * 0.5 + instant * 0.5
    }
    r.at = now
    r.bytes = bytes
    r.lastEmit = now
    const etaS = r.perS > 0 ? (t.size - bytes) / r.perS : null
    this.#emit({ type: 'progress', info: this.#info(t), rateBytesPerS: r.perS, etaS })
  }

  #create(init: Pick<Transfer, 'id' | 'outgoing' | 'peerId' | 'name' | 'size'>): Transfer {
    const now = (this.#o.now ?? Date.now)()
    const t: Transfer = {
      ...init,
      state: 'pending',
      resumeState: undefined,
      offset: 0,
      acked: 0,
      written: 0,
      ackSent: 0,
      accepted: false,
      hasher: this.#o.hasher(),
      hashedTo: 0,
      sha256: undefined,
      source: undefined,
      sink: undefined,
      writes: Promise.resolve(),
      endSent: false,
      path: undefined,
      error: undefined,
      pumping: false,
      generation: 0,
      acceptedOn: undefined,
      wake: undefined,
      frame: undefined,
      graceTimer: undefined,
      reaskTimer: undefined,
      rate: { at: now, bytes: 0, lastEmit: 0, perS: 0 },
    }
    this.#transfers.set(t.id, t)
    return t
  }

  #find(id: string): Transfer {
    const t = this.#transfers.get(id)
    if (!t) throw new SmolDeskError('TRANSFER_NOT_FOUND', `no transfer ${id}`)
    return t
  }

  #info(t: Transfer): TransferInfo {
    const direction: TransferDirection =
      t.outgoing === (this.#o.side === 'host') ? 'host-to-viewer' : 'viewer-to-host'
    return {
      id: t.id,
      direction,
      name: t.name,
      size: t.size,
      transferred: t.outgoing ? t.acked : t.offset,
      state: t.state,
      peer_id: t.peerId,
      ...(t.path !== undefined && { path: t.path }),
      ...(t.sha256 !== undefined && t.state === 'completed' && { sha256: t.sha256 }),
      ...(t.error !== undefined && { error: t.error }),
    }
  }

  #sendTo(t: Transfer, msg: TransferMessage): void {
    const link = this.#links.get(t.peerId)
    if (link) this.#transmit(link, encodeControl(msg))
  }

  /**
   * Hands a frame to a link. A link whose send throws (its channel broke under it: libdatachannel
   * throws while the viewer's connection is being replaced) is gone, as if it had closed: its
   * transfers wait for the next link, where the resync makes good what was lost with this one.
   */
  #transmit(link: LinkState, frame: Uint8Array): boolean {
    try {
      link.link.send(frame)
      return true
    } catch {
      this.#dropLink(link)
      return false
    }
  }

  /** The peer's link went away (closed or broken): its transfers wait for it to come back. */
  #dropLink(link: LinkState): void {
    if (this.#links.get(link.peerId) !== link) return
    this.#links.delete(link.peerId)
    for (const t of this.#transfers.values()) if (t.peerId === link.peerId) this.#interrupt(t)
  }

  #replyError(link: LinkState, id: string | undefined, code: ErrorCode, message: string): void {
    const second = Math.floor((this.#o.now ?? Date.now)() / 1000)
    const budget = link.errorBudget
    if (budget.second !== second) {
      budget.second = second
      budget.count = 0
    }
    if (++budget.count > ERROR_REPLIES_PER_S) return
    const safeId = id !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : undefined
    try {
      this.#o.onRefused?.({ peerId: link.peerId, id: safeId, code, message })
    } catch {}
    this.#transmit(
      link,
      encodeControl({
        type: 'error',
        ...(safeId !== undefined && { id: safeId }),
        code,
        message: message.slice(0, 1000),
      }),
    )
  }

  #changed(t: Transfer): void {
    this.#emit({ type: 'changed', info: this.#info(t) })
  }

  #emit(event: TransferEvent): void {
    try {
      this.#o.onEvent(event)
    } catch {}
  }
}
