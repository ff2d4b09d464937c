import { SmolDeskError } from '../errors.ts'
import { type DirectedMessage, Transfer } from './transfer.ts'
import type { TransferSink } from './types.ts'

/** The receiver acknowledges at least this often (in written bytes). */
const ACK_EVERY_BYTES = 1024 * 1024

/**
 * A file we receive: offered by the peer, accepted (by the user or
 * automatically) into a sink, written in order, acknowledged as written,
 * and kept only when the sender's SHA-256 matches ours.
 */
export class IncomingTransfer extends Transfer {
  readonly outgoing = false
  #sink: TransferSink | undefined
  /** Bytes received (some may still be queued for writing). */
  #offset = 0
  /** Bytes on disk. */
  #written = 0
  /** Offset last acknowledged to the sender. */
  #ackSent = 0
  /** Writes in order, one after another. */
  #writes: Promise<void> = Promise.resolve()

  protected transferred(): number {
    return this.#offset
  }

  override settled(): Promise<void> {
    return this.#writes
  }

  /** Opens the sink and asks the sender for the bytes. */
  async start(): Promise<void> {
    this.state = 'active'
    let sink: TransferSink
    try {
      sink = await this.ctx.options.openSink({ id: this.id, name: this.name, size: this.size })
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.failBoth(error.code, error.message)
      throw error
    }
    if (this.state !== 'active') {
      // Cancelled while the sink opened.
      await sink.discard().catch(() => {})
      return
    }
    this.#sink = sink
    this.accepted = true
    this.emit({ type: 'started', info: this.info() })
    this.send({ type: 'accept', id: this.id, offset: 0 })
    this.changed()
  }

  reject(): void {
    this.send({ type: 'reject', id: this.id })
    this.finish('cancelled', 'TRANSFER_REJECTED', 'rejected by the receiver')
  }

  /** The sender offered again (it reconnected): tell it where we are. */
  reoffered(size: number): void {
    if (size !== this.size)
      throw new SmolDeskError('INVALID_REQUEST', `offer ${this.id} does not match the transfer`)
    if (this.state === 'active') this.send({ type: 'accept', id: this.id, offset: this.#offset })
    else if (this.state === 'paused') this.send({ type: 'pause', id: this.id })
  }

  resync(): void {
    if (this.accepted && this.state === 'active')
      this.send({ type: 'accept', id: this.id, offset: this.#offset })
    else if (this.state === 'paused') this.send({ type: 'pause', id: this.id })
  }

  /** Leaving a pause, the receiver says where to go on from. */
  goOn(): void {
    this.state = 'active'
    this.send({ type: 'accept', id: this.id, offset: this.#offset })
    this.changed()
  }

  onMessage(msg: DirectedMessage): void {
    if (msg.type !== 'end')
      throw new SmolDeskError('INVALID_REQUEST', `${msg.type} for a transfer we receive`)
    this.#onEnd(msg.sha256)
  }

  onData(offset: number, payload: Uint8Array): void {
    const sink = this.#sink
    if (!sink) return
    // Bytes already written (resent after a resume) are skipped; a gap is a broken sender.
    const expected = this.#offset
    if (offset > expected) {
      this.failBoth('TRANSFER_CORRUPT', `data at ${offset} but only ${expected} bytes received`)
      return
    }
    const fresh = payload.subarray(Math.min(payload.length, expected - offset))
    if (fresh.length === 0) return
    if (expected + fresh.length > this.size) {
      this.failBoth('TRANSFER_CORRUPT', `more than the announced ${this.size} bytes`)
      return
    }
    this.#offset = expected + fresh.length
    this.hasher.update(fresh)
    // Not copied: both data channel implementations hand over a fresh buffer per message.
    this.#writes = this.#writes.then(async () => {
      if (this.terminal) return
      try {
        await sink.write(fresh)
      } catch (err) {
        const error = SmolDeskError.from(err)
        this.failBoth(error.code, error.message)
        return
      }
      this.#written += fresh.length
      const written = this.#written
      if (written - this.#ackSent >= ACK_EVERY_BYTES || written === this.size) {
        this.#ackSent = written
        this.send({ type: 'ack', id: this.id, offset: written })
      }
      this.progress(written)
    })
  }

  #onEnd(sha256: string): void {
    const sink = this.#sink
    if (!this.accepted || !sink) throw new SmolDeskError('INVALID_REQUEST', 'end before accept')
    this.#writes = this.#writes.then(async () => {
      if (this.terminal) return
      if (this.#offset !== this.size) {
        this.failBoth('TRANSFER_CORRUPT', `ended after ${this.#offset} of ${this.size} bytes`)
        return
      }
      this.sha256 ??= this.hasher.digest()
      if (this.sha256 !== sha256) {
        this.failBoth('TRANSFER_CORRUPT', `SHA-256 mismatch: sent ${sha256}, received ${this.sha256}`)
        return
      }
      try {
        this.path = await sink.commit()
      } catch (err) {
        const error = SmolDeskError.from(err)
        this.failBoth(error.code, error.message)
        return
      }
      this.#sink = undefined
      this.send({ type: 'done', id: this.id, sha256 })
      this.finish('completed')
    })
  }

  protected release(): void {
    const sink = this.#sink
    this.#sink = undefined
    // A partial or unverified file is never kept.
    if (sink) this.#writes = this.#writes.then(() => sink.discard()).catch(() => {})
  }
}
