/**
 * How long after a frame's last packet, with nothing sent since, that packet
 * goes again: past one frame interval of a steady stream (33 ms at 30 fps),
 * so a moving picture sends no copies.
 */
export const TAIL_PROBE_MS = 50

/**
 * A frame's last packet sent a second time when nothing follows it (TCP's
 * tail loss probe, for RTP). A receiver learns a packet is missing from the
 * gap in sequence numbers when a later one arrives, and only then asks for
 * it (NACK). On a screen that changes now and then (a key typed, a square
 * flipped every 250 ms) the later packet is the next change's: a lost last
 * packet, or the only packet of a small frame, went unnoticed until then.
 * Measured over the `bad` link (3 % loss, 120 ms RTT) with grabbing on
 * change: changes unseen for up to 447–579 ms in Firefox. The copy repairs
 * such a loss by itself, or makes the gap known at once. A duplicate is
 * harmless: receivers drop a sequence number they already have.
 */
export class TailProbe {
  readonly #send: (packet: Buffer) => void
  #timer: NodeJS.Timeout | undefined

  constructor(send: (packet: Buffer) => void) {
    this.#send = send
  }

  /** A packet went out: the probe waits for the next frame's end, or sends this one's again. */
  sent(packet: Buffer): void {
    this.cancel()
    const marker = ((packet[1] ?? 0) & 0x80) !== 0
    if (!marker) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#send(packet)
    }, TAIL_PROBE_MS)
    this.#timer.unref()
  }

  /** Nothing to repeat (the source changed or stopped: its last packet must not trail what follows). */
  cancel(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
