import type { ErrorCode } from '../errors.ts'
import type { TransferDirection, TransferInfo, TransferMessage, TransferState } from '../transfer-messages.ts'
import type { LinkState, LinkTable } from './link-table.ts'
import type { Hasher, ResolvedTransferOptions, TransferEvent } from './types.ts'

/** What a transfer gets from its manager: the options, the peers' links, the event sink. */
export interface TransferContext {
  readonly options: ResolvedTransferOptions
  readonly links: LinkTable
  emit(event: TransferEvent): void
  /** The transfer reached a terminal state (the manager trims its list of finished ones). */
  ended(): void
}

/** The messages one direction handles itself; the others are routed by the manager or the base. */
export type DirectedMessage = Exclude<
  TransferMessage,
  { type: 'offer' | 'error' | 'pause' | 'resume' | 'cancel' }
>

const TERMINAL: readonly TransferState[] = ['completed', 'cancelled', 'failed']

export const isTerminal = (state: TransferState): boolean => TERMINAL.includes(state)

/**
 * One file on its way, in either direction: the life cycle both share
 * (pending → active ⇄ paused, interrupted while the peer's link is away,
 * then completed, cancelled or failed), progress and the info the UI shows.
 * OutgoingTransfer and IncomingTransfer add their half of the protocol.
 */
export abstract class Transfer {
  abstract readonly outgoing: boolean
  readonly id: string
  readonly name: string
  readonly size: number
  /** The peer's id; it changes when an interrupted transfer's peer comes back under a new one. */
  peerId: string
  state: TransferState = 'pending'
  /** The receiver has accepted (and the sender heard it). */
  accepted = false
  protected readonly ctx: TransferContext
  protected readonly hasher: Hasher
  protected sha256: string | undefined
  protected path: string | undefined
  #error: string | undefined
  /** The state to return to when the link comes back. */
  #resumeState: TransferState | undefined
  #graceTimer: ReturnType<typeof setTimeout> | undefined
  readonly #rate: { at: number; bytes: number; lastEmit: number; perS: number }

  constructor(ctx: TransferContext, init: { id: string; peerId: string; name: string; size: number }) {
    this.ctx = ctx
    this.id = init.id
    this.peerId = init.peerId
    this.name = init.name
    this.size = init.size
    this.hasher = ctx.options.hasher()
    this.#rate = { at: (ctx.options.now ?? Date.now)(), bytes: 0, lastEmit: 0, perS: 0 }
  }

  get terminal(): boolean {
    return isTerminal(this.state)
  }

  /** Bytes done as the UI counts them (acknowledged by the receiver, or received). */
  protected abstract transferred(): number

  /** A message only this direction understands (a wrong-direction one throws INVALID_REQUEST). */
  abstract onMessage(msg: DirectedMessage, link: LinkState): void

  /** Tells the peer, after it reconnected, where this transfer stands. */
  abstract resync(): void

  /** Leaves a pause (here or the peer's `resume`). */
  abstract goOn(): void

  /** Resolves when nothing of this transfer is still being written. */
  settled(): Promise<void> {
    return Promise.resolve()
  }

  /** Lets go of the source or sink: the transfer is over (a partial file is never kept). */
  protected abstract release(completed: boolean): void

  /** The active (or interrupted while active) transfer waits; the peer is told. */
  pause(): void {
    this.send({ type: 'pause', id: this.id })
    this.setPaused()
  }

  /** Goes on after a pause; while the link is away, once it is back. */
  resume(): void {
    if (this.state === 'interrupted') {
      this.#resumeState = 'active'
      return
    }
    this.goOn()
  }

  /** Whether the transfer is `state`, or interrupted on its way back to it. */
  isOrWas(state: TransferState): boolean {
    return this.state === state || (this.state === 'interrupted' && this.#resumeState === state)
  }

  cancel(reason: string): void {
    if (this.terminal) return
    this.send({ type: 'cancel', id: this.id })
    this.finish('cancelled', 'TRANSFER_CANCELLED', reason)
  }

  setPaused(): void {
    this.state = 'paused'
    this.wake()
    this.changed()
  }

  /** Wakes a sender waiting for room (the base has none). */
  protected wake(): void {}

  /** The peer's link went away: wait for it (a while) instead of failing. */
  interrupt(): void {
    if (this.terminal || this.state === 'interrupted') return
    this.#resumeState = this.state
    this.state = 'interrupted'
    this.wake()
    this.#graceTimer = setTimeout(() => {
      if (this.state === 'interrupted')
        this.finish('failed', 'TRANSFER_INTERRUPTED', 'the other side did not come back in time')
    }, this.ctx.options.interruptedGraceMs)
    // A waiting transfer must not keep a process alive on its own.
    ;(this.#graceTimer as { unref?: () => void }).unref?.()
    this.changed()
  }

  /** The peer is back: the state it had before the interruption. */
  relink(): void {
    if (this.state !== 'interrupted') return
    clearTimeout(this.#graceTimer)
    this.state = this.#resumeState ?? 'pending'
    this.#resumeState = undefined
    this.changed()
  }

  /** Fails the transfer here and tells the other side why. */
  failBoth(code: ErrorCode, message: string): void {
    if (this.terminal) return
    this.send({ type: 'error', id: this.id, code, message })
    this.finish('failed', code, message)
  }

  finish(state: 'completed' | 'cancelled' | 'failed', code?: ErrorCode, message?: string): void {
    if (this.terminal) return
    this.state = state
    clearTimeout(this.#graceTimer)
    this.wake()
    if (state !== 'completed') this.#error = `${code}: ${message}`
    this.release(state === 'completed')
    if (state === 'completed') {
      this.emit({ type: 'completed', info: this.info() })
    } else {
      this.emit({ type: 'error', info: this.info(), code: code ?? 'INTERNAL', message: message ?? state })
    }
    this.changed()
    this.ctx.ended()
  }

  info(): TransferInfo {
    const direction: TransferDirection =
      this.outgoing === (this.ctx.options.side === 'host') ? 'host-to-viewer' : 'viewer-to-host'
    return {
      id: this.id,
      direction,
      name: this.name,
      size: this.size,
      transferred: this.transferred(),
      state: this.state,
      peer_id: this.peerId,
      ...(this.path !== undefined && { path: this.path }),
      ...(this.sha256 !== undefined && this.state === 'completed' && { sha256: this.sha256 }),
      ...(this.#error !== undefined && { error: this.#error }),
    }
  }

  protected progress(bytes = this.transferred()): void {
    const now = (this.ctx.options.now ?? Date.now)()
    const r = this.#rate
    if (now - r.lastEmit < 1000 / this.ctx.options.progressPerSecond && bytes < this.size) return
    const seconds = (now - r.at) / 1000
    if (seconds > 0) {
      const instant = (bytes - r.bytes) / seconds
      r.perS = r.perS === 0 ? instant : r.perS * 0.5 + instant * 0.5
    }
    r.at = now
    r.bytes = bytes
    r.lastEmit = now
    const etaS = r.perS > 0 ? (this.size - bytes) / r.perS : null
    this.emit({ type: 'progress', info: this.info(), rateBytesPerS: r.perS, etaS })
  }

  protected send(msg: TransferMessage): void {
    this.ctx.links.send(this.peerId, msg)
  }

  changed(): void {
    this.emit({ type: 'changed', info: this.info() })
  }

  protected emit(event: TransferEvent): void {
    this.ctx.emit(event)
  }
}
