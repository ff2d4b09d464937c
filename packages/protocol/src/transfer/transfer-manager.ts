import { DATA_FRAME_MAX_PAYLOAD, decodeFrame } from '../data-frames.ts'
import { describeZodError, SmolDeskError } from '../errors.ts'
import { type TransferInfo, type TransferMessage, TransferMessageSchema } from '../transfer-messages.ts'
import { IncomingTransfer } from './incoming-transfer.ts'
import { type LinkState, LinkTable } from './link-table.ts'
import { OutgoingTransfer } from './outgoing-transfer.ts'
import type { Transfer, TransferContext } from './transfer.ts'
import {
  type ResolvedTransferOptions,
  TRANSFER_DEFAULTS,
  type TransferEvent,
  type TransferLink,
  type TransferManagerOptions,
  type TransferSource,
} from './types.ts'

/*
 * The file-transfer engine, the same on the host (Node, files on disk) and
 * in the viewer (browser, Blobs): only storage and hashing are plugged in.
 * One manager holds every transfer of its side and routes each peer's
 * messages to them; each peer's file channel is attached as a link. A
 * transfer outlives its link: when the connection drops it waits
 * (`interrupted`) and carries on from the receiver's written offset when
 * the peer comes back, on whichever link the peer then uses.
 */

/** Unfinished incoming transfers one peer may have: a flood of offers must not fill our memory. */
const MAX_OPEN_OFFERS_PER_PEER = 64
/** Finished transfers kept for list(); older ones are forgotten. */
const MAX_FINISHED_KEPT = 200

function randomId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

export class TransferManager {
  readonly #o: ResolvedTransferOptions
  /** In creation order (the oldest finished ones are forgotten first). */
  readonly #transfers = new Map<string, Transfer>()
  readonly #links: LinkTable
  readonly #ctx: TransferContext

  constructor(options: TransferManagerOptions) {
    this.#o = { ...TRANSFER_DEFAULTS, ...options }
    if (this.#o.chunkBytes < 1 || this.#o.chunkBytes > DATA_FRAME_MAX_PAYLOAD) {
      throw new SmolDeskError('INVALID_ARGS', `chunkBytes must be 1–${DATA_FRAME_MAX_PAYLOAD}`)
    }
    this.#links = new LinkTable(this.#o, (link) => {
      for (const t of this.#transfers.values()) if (t.peerId === link.peerId) t.interrupt()
    })
    this.#ctx = {
      options: this.#o,
      links: this.#links,
      emit: (event) => this.#emit(event),
      ended: () => this.#forgetOldest(),
    }
  }

  /** Attaches a peer's open file channel; returns the handler for its messages and for its close. */
  attach(peerId: string, link: TransferLink): { receive(frame: Uint8Array): void; detach(): void } {
    const state = this.#links.attach(peerId, link)
    for (const t of this.#transfers.values()) {
      if (t.peerId !== peerId) continue
      t.relink()
      if (t instanceof OutgoingTransfer) t.linkAttached(state)
    }
    if (this.#o.resyncOnAttach) {
      for (const t of this.#transfers.values()) if (t.peerId === peerId && !t.terminal) t.resync()
    }
    return {
      receive: (frame) => this.#receive(state, frame),
      detach: () => this.#links.drop(state),
    }
  }

  /** Offers a file to a peer; it starts when the peer accepts. */
  send(peerId: string, name: string, source: TransferSource): TransferInfo {
    if (this.#o.allowed && !this.#o.allowed(peerId, 'send'))
      throw new SmolDeskError('FORBIDDEN', `peer ${peerId} may not receive files`)
    if (!this.#links.get(peerId))
      throw new SmolDeskError('PEER_NOT_FOUND', `peer ${peerId} has no open file channel`)
    const t = new OutgoingTransfer(this.#ctx, { id: (this.#o.newId ?? randomId)(), peerId, name }, source)
    this.#transfers.set(t.id, t)
    t.offer()
    t.changed()
    return t.info()
  }

  list(): TransferInfo[] {
    return [...this.#transfers.values()].map((t) => t.info())
  }

  get(id: string): TransferInfo {
    return this.#find(id).info()
  }

  async accept(id: string): Promise<void> {
    await this.#pendingOffer(id).start()
  }

  reject(id: string): void {
    this.#pendingOffer(id).reject()
  }

  pause(id: string): void {
    const t = this.#find(id)
    if (!t.isOrWas('active'))
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is ${t.state}, not active`)
    t.pause()
  }

  resume(id: string): void {
    const t = this.#find(id)
    if (!t.isOrWas('paused'))
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is ${t.state}, not paused`)
    t.resume()
  }

  cancel(id: string): void {
    this.#find(id).cancel('cancelled here')
  }

  /** Cancels everything (the host shuts down); partial files are removed. */
  async close(): Promise<void> {
    for (const t of this.#transfers.values()) {
      if (!t.terminal) t.finish('cancelled', 'TRANSFER_CANCELLED', 'shutting down')
    }
    await Promise.all([...this.#transfers.values()].map((t) => t.settled()))
  }

  #receive(link: LinkState, bytes: Uint8Array): void {
    try {
      const frame = decodeFrame(bytes)
      if (frame.kind === 'data') {
        this.#onData(link, frame.id, frame.offset, frame.payload)
        return
      }
      const parsed = TransferMessageSchema.safeParse(frame.message)
      if (!parsed.success) throw new SmolDeskError('INVALID_REQUEST', describeZodError(parsed.error))
      this.#onMessage(link, parsed.data)
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#links.replyError(link, undefined, error.code, error.message)
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
      if (t && t.peerId === link.peerId && !t.terminal)
        t.finish('failed', msg.code, `the other side: ${msg.message}`)
      return
    }
    const t = this.#ownedBy(link, msg.id)
    if (!t) {
      this.#links.replyError(link, msg.id, 'TRANSFER_NOT_FOUND', `no transfer ${msg.id}`)
      return
    }
    if (t.terminal) return
    switch (msg.type) {
      case 'pause':
        if (t.state === 'active') t.setPaused()
        return
      case 'resume':
        if (t.state === 'paused') t.goOn()
        return
      case 'cancel':
        t.finish('cancelled', 'TRANSFER_CANCELLED', 'cancelled by the other side')
        return
      default:
        t.onMessage(msg, link)
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
    if (t.peerId !== link.peerId) {
      if (t.state !== 'interrupted') return undefined
      t.peerId = link.peerId
    }
    t.relink()
    return t
  }

  #onOffer(link: LinkState, msg: Extract<TransferMessage, { type: 'offer' }>): void {
    const known = this.#ownedBy(link, msg.id)
    if (known) {
      if (!(known instanceof IncomingTransfer))
        throw new SmolDeskError('INVALID_REQUEST', `offer ${msg.id} does not match the transfer`)
      known.reoffered(msg.size)
      return
    }
    if (this.#transfers.has(msg.id)) {
      this.#links.replyError(link, msg.id, 'INVALID_REQUEST', `transfer id ${msg.id} is taken`)
      return
    }
    let open = 0
    for (const t of this.#transfers.values())
      if (t instanceof IncomingTransfer && t.peerId === link.peerId && !t.terminal) open++
    if (open >= MAX_OPEN_OFFERS_PER_PEER) {
      this.#links.replyError(link, msg.id, 'RATE_LIMITED', `${open} files from you are still open here`)
      return
    }
    const t = new IncomingTransfer(this.#ctx, {
      id: msg.id,
      peerId: link.peerId,
      name: msg.name,
      size: msg.size,
    })
    this.#transfers.set(t.id, t)
    if (this.#o.allowed && !this.#o.allowed(link.peerId, 'receive')) {
      t.failBoth('FORBIDDEN', 'this viewer may not send files')
      return
    }
    if (msg.size > this.#o.maxBytes) {
      t.failBoth(
        'TRANSFER_TOO_LARGE',
        `${msg.name} has ${msg.size} bytes; this side accepts files up to ${this.#o.maxBytes} bytes`,
      )
      return
    }
    this.#emit({ type: 'offered', info: t.info() })
    t.changed()
    if (this.#o.autoAccept) t.start().catch(() => {})
  }

  #onData(link: LinkState, id: string, offset: number, payload: Uint8Array): void {
    const t = this.#ownedBy(link, id)
    if (!(t instanceof IncomingTransfer) || !t.accepted) {
      this.#links.replyError(link, id, 'TRANSFER_NOT_FOUND', `no transfer ${id} to receive`)
      return
    }
    if (!t.terminal) t.onData(offset, payload)
  }

  #pendingOffer(id: string): IncomingTransfer {
    const t = this.#find(id)
    if (!(t instanceof IncomingTransfer) || t.state !== 'pending')
      throw new SmolDeskError('INVALID_ARGS', `transfer ${id} is not an offer waiting for an answer`)
    return t
  }

  /** Keeps the newest finished transfers only (the map is in creation order). */
  #forgetOldest(): void {
    let finished = 0
    for (const t of this.#transfers.values()) if (t.terminal) finished++
    for (const [id, t] of this.#transfers) {
      if (finished <= MAX_FINISHED_KEPT) return
      if (t.terminal) {
        this.#transfers.delete(id)
        finished--
      }
    }
  }

  #find(id: string): Transfer {
    const t = this.#transfers.get(id)
    if (!t) throw new SmolDeskError('TRANSFER_NOT_FOUND', `no transfer ${id}`)
    return t
  }

  #emit(event: TransferEvent): void {
    try {
      this.#o.onEvent(event)
    } catch {}
  }
}
