import { encodeControl } from '../data-frames.ts'
import type { ErrorCode } from '../errors.ts'
import type { TransferMessage } from '../transfer-messages.ts'
import type { ResolvedTransferOptions, TransferLink } from './types.ts'

/** Error answers to a misbehaving peer, per second at most (no amplification). */
const ERROR_REPLIES_PER_S = 20

/** One attached file channel, and what it has cost us in error answers this second. */
export interface LinkState {
  readonly peerId: string
  readonly link: TransferLink
  readonly errorBudget: { second: number; count: number }
}

/**
 * Every peer's current file channel. A peer has at most one: a new link
 * replaces the old one, whose late messages then no longer count.
 */
export class LinkTable {
  readonly #links = new Map<string, LinkState>()
  readonly #o: ResolvedTransferOptions
  readonly #onDrop: (link: LinkState) => void

  /** `onDrop`: the link went away (closed, or its send threw); its transfers wait for the next. */
  constructor(options: ResolvedTransferOptions, onDrop: (link: LinkState) => void) {
    this.#o = options
    this.#onDrop = onDrop
  }

  attach(peerId: string, link: TransferLink): LinkState {
    const state: LinkState = { peerId, link, errorBudget: { second: 0, count: 0 } }
    this.#links.set(peerId, state)
    return state
  }

  get(peerId: string): LinkState | undefined {
    return this.#links.get(peerId)
  }

  /** Whether `link` is still its peer's current link. */
  isCurrent(link: LinkState): boolean {
    return this.#links.get(link.peerId) === link
  }

  /** A control message to the peer's current link, if it has one (else the resync makes up for it). */
  send(peerId: string, msg: TransferMessage): void {
    const link = this.#links.get(peerId)
    if (link) this.transmit(link, encodeControl(msg))
  }

  /**
   * Hands a frame to a link. A link whose send throws (its channel broke under it: libdatachannel
   * throws while the viewer's connection is being replaced) is gone, as if it had closed: its
   * transfers wait for the next link, where the resync makes good what was lost with this one.
   */
  transmit(link: LinkState, frame: Uint8Array): boolean {
    try {
      link.link.send(frame)
      return true
    } catch {
      this.drop(link)
      return false
    }
  }

  /** The peer's link went away (closed or broken). */
  drop(link: LinkState): void {
    if (!this.isCurrent(link)) return
    this.#links.delete(link.peerId)
    this.#onDrop(link)
  }

  /** Answers a peer's bad message with a coded error, within the link's error budget. */
  replyError(link: LinkState, id: string | undefined, code: ErrorCode, message: string): void {
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
    this.transmit(
      link,
      encodeControl({
        type: 'error',
        ...(safeId !== undefined && { id: safeId }),
        code,
        message: message.slice(0, 1000),
      }),
    )
  }
}
