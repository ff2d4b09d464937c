/** Packets go out at this multiple of the ceiling (libwebrtc's pacing factor): a frame spreads, the stream keeps up. */
const PACING_FACTOR = 2.5
/** Bytes that may go at once after a quiet spell: about a packet's worth of slack, no more. */
const MAX_BURST_BYTES = 2400

/**
 * Spreads an encoder's RTP packets over time while a path ceiling holds.
 * Without one they pass at once (loopback, a LAN). With one, a keyframe of
 * 40 KiB no longer reaches a 1.7 Mbit/s router as one burst that overflows
 * its queue (tail drop, then a request for another keyframe, seen on bench
 * network's `internet` step): it leaves at 2.5× the ceiling, the rest of
 * the stream behind it. Nothing is dropped here.
 */
export class Pacer {
  readonly #send: (packet: Buffer) => void
  readonly #queue: Buffer[] = []
  /** Bytes per millisecond, or undefined: no pacing. */
  #rate: number | undefined
  #budget = 0
  #budgetAt = 0
  #timer: NodeJS.Timeout | undefined

  constructor(send: (packet: Buffer) => void) {
    this.#send = send
  }

  /** The path ceiling (kbit/s), or undefined: packets pass at once again (what waits goes now). */
  setCeiling(kbps: number | undefined): void {
    this.#rate = kbps === undefined ? undefined : (kbps * PACING_FACTOR) / 8
    if (this.#rate === undefined) this.flush()
  }

  push(packet: Buffer): void {
    if (this.#rate === undefined && this.#queue.length === 0) {
      this.#send(packet)
      return
    }
    this.#queue.push(packet)
    this.#drain()
  }

  /** Sends whatever waits, now (the source changes: its packets must not trail the new ones). */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const packet of this.#queue.splice(0)) this.#send(packet)
  }

  close(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#queue.length = 0
  }

  #drain(): void {
    const rate = this.#rate
    if (rate === undefined) {
      this.flush()
      return
    }
    const now = performance.now()
    this.#budget = Math.min(MAX_BURST_BYTES, this.#budget + (now - this.#budgetAt) * rate)
    this.#budgetAt = now
    while (this.#queue.length > 0 && this.#budget > 0) {
      const packet = this.#queue.shift() as Buffer
      this.#budget -= packet.length
      this.#send(packet)
    }
    if (this.#queue.length > 0 && !this.#timer) {
      const wait = Math.max(1, Math.ceil(-this.#budget / rate))
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        this.#drain()
      }, wait)
    }
  }
}
