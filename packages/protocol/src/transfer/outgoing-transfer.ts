import { dataHeaderBytes, encodeControl, encodeData, writeDataHeader } from '../data-frames.ts'
import { SmolDeskError } from '../errors.ts'
import type { LinkState } from './link-table.ts'
import { type DirectedMessage, Transfer, type TransferContext } from './transfer.ts'
import type { TransferSource } from './types.ts'

/**
 * A file we send: offered, then pumped from the offset the receiver asks
 * for, within a window of unacknowledged bytes and below the channel's
 * high-water mark, hashed as it goes; `end` carries the hash, the
 * receiver's `done` with the same hash completes it.
 */
export class OutgoingTransfer extends Transfer {
  readonly outgoing = true
  #source: TransferSource | undefined
  /** Next byte to send. */
  #offset = 0
  /** Bytes the receiver confirmed written. */
  #acked = 0
  /** Bytes [0, hashedTo) are in the hash (each byte hashed once, even when resent). */
  #hashedTo = 0
  #endSent = false
  #pumping = false
  /** Bumped whenever the send position is reset, so a pump in flight does not overwrite it. */
  #generation = 0
  /**
   * The link the receiver last told us where it stands on (its accept). Data goes
   * only over that link: over a new one, frames still queued on the old one may be lost, and
   * the receiver would see a gap. The new link's accept (answering our offer on resync, or the
   * receiver's own) brings the position to send from.
   */
  #acceptedOn: LinkState | undefined
  #wake: (() => void) | undefined
  /** Over a link that copies on send: the one frame buffer every chunk is read into. */
  #frame: Uint8Array | undefined
  /** On a new link, asks the receiver again until it says where it stands (see #reask). */
  #reaskTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    ctx: TransferContext,
    init: { id: string; peerId: string; name: string },
    source: TransferSource,
  ) {
    super(ctx, { ...init, size: source.size })
    this.#source = source
  }

  protected transferred(): number {
    return this.#acked
  }

  /** Sends the offer (again, when the receiver may not have heard it). */
  offer(): void {
    this.send({ type: 'offer', id: this.id, name: this.name, size: this.size })
  }

  resync(): void {
    this.offer()
  }

  /** A new link to the receiver: until it answers there, keep asking. */
  linkAttached(link: LinkState): void {
    if (this.accepted && this.state === 'active') this.#reask(link)
  }

  onMessage(msg: DirectedMessage, link: LinkState): void {
    switch (msg.type) {
      case 'accept':
        // A late answer on a link the peer has since replaced: its answer on the new one counts.
        if (!this.ctx.links.isCurrent(link)) return
        this.#onAccept(msg.offset, link)
        return
      case 'ack':
        if (msg.offset > this.#acked && msg.offset <= this.size) {
          this.#acked = msg.offset
          this.progress()
          this.wake()
        }
        return
      case 'reject':
        this.finish('cancelled', 'TRANSFER_REJECTED', msg.reason ?? 'the receiver declined the file')
        return
      case 'done':
        if (!this.#endSent || msg.sha256 !== this.sha256) {
          this.failBoth('TRANSFER_CORRUPT', 'the receiver confirmed a different SHA-256')
          return
        }
        this.#acked = this.size
        this.finish('completed')
        return
      case 'end':
        throw new SmolDeskError('INVALID_REQUEST', 'end for a transfer we send')
    }
  }

  goOn(): void {
    this.state = 'active'
    this.send({ type: 'resume', id: this.id })
    this.changed()
  }

  protected override wake(): void {
    this.#wake?.()
  }

  protected release(): void {
    clearTimeout(this.#reaskTimer)
    const source = this.#source
    this.#source = undefined
    this.#frame = undefined
    source?.close().catch(() => {})
  }

  #onAccept(offset: number, link: LinkState): void {
    if (offset > this.size) throw new SmolDeskError('INVALID_REQUEST', `accept beyond the end (${offset})`)
    const first = !this.accepted
    this.accepted = true
    this.#acceptedOn = link
    this.state = 'active'
    this.#offset = offset
    this.#acked = Math.max(this.#acked, offset)
    this.#endSent = false
    this.#generation++
    if (first) this.emit({ type: 'started', info: this.info() })
    this.changed()
    this.wake()
    void this.#pump()
  }

  /** Sends data while the transfer is active, its link open and the window not full. */
  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    const o = this.ctx.options
    try {
      for (;;) {
        const link = this.ctx.links.get(this.peerId)
        // On a link the receiver has not spoken on yet, wait for its accept (see acceptedOn).
        if (this.state !== 'active' || !link || link !== this.#acceptedOn) return
        if (this.#offset >= this.size) {
          if (!this.#endSent) {
            await this.#hashUpTo(this.size)
            this.sha256 ??= this.hasher.digest()
            this.#endSent = true
            this.send({ type: 'end', id: this.id, sha256: this.sha256 })
          }
          return
        }
        if (link.link.bufferedAmount() > o.highWaterBytes) {
          // Woken also when the link goes or the receiver asks again: a channel that died without
          // telling (no close event) must not hold this pump, and with it the transfer, forever.
          await new Promise<void>((resolve) => {
            this.#wake = resolve
            void link.link.drained().then(resolve)
          })
          this.#wake = undefined
          continue
        }
        if (this.#offset - this.#acked >= o.windowBytes) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve
          })
          this.#wake = undefined
          continue
        }
        const generation = this.#generation
        const at = this.#offset
        const length = Math.min(o.chunkBytes, this.size - at)
        await this.#hashUpTo(at)
        // A link that copies on send gets every chunk read straight into one reused frame:
        // nothing allocated per chunk (at 40 MB/s, garbage collection took a fifth of the host's
        // main thread with a fresh buffer for each read and each frame).
        const frame = link.link.copiesOnSend ? this.#frameFor(length) : undefined
        const data = frame
          ? await this.#readInto(frame.subarray(dataHeaderBytes(this.id)), at)
          : await this.#read(at, length)
        if (at + length > this.#hashedTo) {
          this.hasher.update(data.subarray(this.#hashedTo - at))
          this.#hashedTo = at + length
        }
        if (this.#generation !== generation || this.state !== 'active' || !this.ctx.links.isCurrent(link))
          continue
        const encoded = frame ? writeDataHeader(frame, this.id, at) : encodeData(this.id, at, data)
        if (!this.ctx.links.transmit(link, encoded)) continue
        this.#offset = at + length
      }
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.failBoth(error.code, error.message)
    } finally {
      this.#pumping = false
    }
  }

  /** A receiver that asks to start past what we hashed (it never should): hash the gap first. */
  async #hashUpTo(offset: number): Promise<void> {
    while (this.#hashedTo < offset) {
      const length = Math.min(this.ctx.options.chunkBytes, offset - this.#hashedTo)
      this.hasher.update(await this.#read(this.#hashedTo, length))
      this.#hashedTo += length
    }
  }

  /** The transfer's frame buffer, cut to a chunk of `length` bytes. */
  #frameFor(length: number): Uint8Array {
    const header = dataHeaderBytes(this.id)
    this.#frame ??= new Uint8Array(header + this.ctx.options.chunkBytes)
    return this.#frame.subarray(0, header + length)
  }

  async #readInto(target: Uint8Array, offset: number): Promise<Uint8Array> {
    if (!this.#source?.readInto) {
      target.set(await this.#read(offset, target.length))
      return target
    }
    const read = await this.#source.readInto(target, offset)
    if (read !== target.length) throw this.#changedWhileSent(offset)
    return target
  }

  async #read(offset: number, length: number): Promise<Uint8Array> {
    if (!this.#source) throw new SmolDeskError('INTERNAL', 'outgoing transfer without a source')
    const data = await this.#source.read(offset, length)
    if (data.length !== length) throw this.#changedWhileSent(offset)
    return data
  }

  #changedWhileSent(offset: number): SmolDeskError {
    return new SmolDeskError(
      'FILE_ERROR',
      `${this.name} changed while it was being sent (short read at ${offset})`,
    )
  }

  /**
   * A sender on a new link sends nothing until the receiver says where it
   * stands (its accept). That accept is the receiver's one answer to the new
   * link: lost (a frame sent while the link was still settling on either
   * side; seen as a download stalled at half in CI), the transfer would wait
   * for ever. So the sender asks again (its offer, which a receiver that
   * knows the transfer answers with its offset) until it hears on this link.
   */
  #reask(link: LinkState): void {
    clearTimeout(this.#reaskTimer)
    this.#reaskTimer = setTimeout(() => {
      this.#reaskTimer = undefined
      // Answered, replaced, ended or paused (a resume asks again by itself): nothing more to ask.
      if (this.state !== 'active' || this.#acceptedOn === link || !this.ctx.links.isCurrent(link)) return
      this.ctx.links.transmit(
        link,
        encodeControl({ type: 'offer', id: this.id, name: this.name, size: this.size }),
      )
      this.#reask(link)
    }, this.ctx.options.reaskMs)
    ;(this.#reaskTimer as { unref?: () => void }).unref?.()
  }
}
