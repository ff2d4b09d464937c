/** Packets go out at this multiple of the ceiling (libwebrtc's pacing factor): a frame spreads, the stream keeps up. */
const PACING_FACTOR = 2.5
/** Bytes that may go at once after a quiet spell: about a packet's worth of slack, no more. */
const MAX_BURST_BYTES = 2400
/**
 * The most a packet waits here, ms: one that has waited this long goes,
 * whatever the ceiling. An encoder that cannot take the ceiling (ffmpeg's, which
 * only a restart changes) would otherwise make more than the pacer lets
 * out, and the queue here grow without end: a picture seconds old.
 */
export const MAX_QUEUE_MS = 150

/**
 * Spreads an encoder's RTP packets over time while a path ceiling holds.
 * Without one they pass at once (loopback, a LAN). With one, a keyframe of
 * 40 KiB no longer reaches a 1.7 Mbit/s router as one burst that overflows
 * its queue (tail drop, then a request for another keyframe, seen on bench
 * network's `internet` step): it leaves at 2.5× the ceiling, the rest of
 * the stream behind it. Nothing is dropped here, and nothing waits longer
 * than MAX_QUEUE_MS: the pacer smooths bursts, it is not the queue.
 */
export class Pacer {
  readonly #send: (packet: Buffer) => void
  /** Each packet with when it came (performance.now()). */
  readonly #queue: { packet: Buffer; at: number }[] = []
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
    this.#queue.push({ packet, at: performance.now() })
    this.#drain()
  }

  /** Sends whatever waits, now (the source changes: its packets must not trail the new ones). */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const { packet } of this.#queue.splice(0)) this.#send(packet)
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
    // A packet whose time is up goes whatever the budget (which then owes it): the pacer smooths
    // bursts of an encoder that keeps to the ceiling, and bounds the wait of one that cannot.
    for (let head = this.#queue[0]; head && (this.#budget > 0 || now - head.at >= MAX_QUEUE_MS); ) {
      this.#queue.shift()
      this.#budget -= head.packet.length
      this.#send(head.packet)
      head = this.#queue[0]
    }
    // What the late ones owe is forgiven past what the ceiling repays in MAX_QUEUE_MS: once the
    // encoder is back under the ceiling, its bursts are paced again, not held to the bound.
    this.#budget = Math.max(this.#budget, -rate * MAX_QUEUE_MS)
    const head = this.#queue[0]
    if (head && !this.#timer) {
      const paced = Math.ceil(-this.#budget / rate)
      const due = Math.ceil(head.at + MAX_QUEUE_MS - now)
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined
          this.#drain()
        },
        Math.max(1, Math.min(paced, due)),
      )
    }
  }
}
