/** Sender reports remembered: more than can be in flight while a receiver answers one. */
const KEEP = 8

/**
 * When each of a sender's recent RTCP sender reports left (by the compact
 * NTP timestamp a receiver report echoes as LSR), for the round trip:
 * now − sent − DLSR. werift keeps only the last one, so a receiver report
 * answering the one before (a new report went out while it was on its way)
 * had no round trip, and that happened most while a queue on the path held
 * the reports up: the readings left out were the long ones.
 */
export class SenderReports {
  readonly #sent = new Map<number, number>()
  #lastSentAt: number | undefined

  /**
   * The sender's last report (werift's fields; seen again and again, taken
   * once). Two reports with no RTP between them carry the same timestamp: a
   * receiver report could answer either, so that timestamp gives no round
   * trip at all rather than one off by up to 1.5 s.
   */
  note(lsr: number | undefined, sentAtS: number | undefined): void {
    if (lsr === undefined || sentAtS === undefined || sentAtS === this.#lastSentAt) return
    this.#lastSentAt = sentAtS
    this.#sent.set(lsr, this.#sent.has(lsr) ? Number.NaN : sentAtS)
    if (this.#sent.size > KEEP) {
      const oldest = this.#sent.keys().next().value
      if (oldest !== undefined) this.#sent.delete(oldest)
    }
  }

  /** The round trip a receiver report gives, ms (undefined: it answers no report we remember). */
  roundTripMs(lsr: number, dlsr: number, nowS: number): number | undefined {
    const sent = this.#sent.get(lsr)
    if (sent === undefined || Number.isNaN(sent) || dlsr === 0) return undefined
    return (nowS - sent - dlsr / 65536) * 1000
  }
}
