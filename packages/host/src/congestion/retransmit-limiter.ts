/**
 * Retransmissions (answers to a viewer's NACKs) may take at most this
 * share of the path's ceiling, over the last second. werift resends every
 * packet a NACK names, at once and outside the pacer, and Chromium names a
 * missing packet again each round trip: when a 30 Mbit/s link dropped to
 * 0.55 the host resent 5.6, 4.9, 3.0, 2.2 and 1.4 Mbit/s in the five
 * seconds after (media 0.25–0.35), the link's queue stayed full, and the
 * smaller picture took 3.3–4.9 s to arrive (in CI once not within 35 s).
 * libwebrtc holds retransmissions to its target rate; half of the ceiling
 * leaves the link room to drain, and random loss (a few percent) needs far
 * less.
 */
export const RETRANSMIT_SHARE = 0.5
/** A packet is resent again only after a round trip (the first resend may still be on its way); this one until there is one. */
const DEFAULT_RTT_MS = 100
/**
 * Nor later than this: Chromium asks again about every 100 ms (libwebrtc's
 * round trip for a receiver that measures none), and a gap of a whole
 * round trip (bench network's `bad` has 120 ms before any queue adds to
 * it) refused every other request for a resend that had itself been lost.
 * With the gap capped here `bad` showed 18.1–18.3 frames/s and 7–12
 * freezes in 20 s (three runs), against 16.4–17.3 and 17–18 with the whole
 * round trip, and 15.5–15.6 and 7–11 with no limiter at all.
 */
const MAX_RESEND_GAP_MS = 100
/** Nor sooner than this, however short the round trip (loopback). */
const MIN_RESEND_GAP_MS = 5
const WINDOW_MS = 1000
/** Resend times kept, at most: more than a second of packets at the rates a NACK can still repair. */
const REMEMBERED = 4096

/**
 * Decides which packets a viewer's NACK gets again: not one resent within
 * the last round trip (at most 100 ms), and, while a path ceiling holds, no more than
 * RETRANSMIT_SHARE of it a second. What it refuses the viewer asks for
 * again (or, once it gives up, asks for a keyframe).
 */
export class RetransmitLimiter {
  /** Each resend in the window: when, and its size in bytes. */
  readonly #sent: { at: number; bytes: number }[] = []
  #windowBytes = 0
  /** When each sequence number was last resent. */
  readonly #lastResent = new Map<number, number>()
  #ceilingKbps: number | undefined
  #rttMs: number | undefined
  #refused = 0

  /** The path's ceiling (kbit/s; undefined: none, resends are not held to a rate). */
  setCeiling(kbps: number | undefined): void {
    this.#ceilingKbps = kbps
  }

  /** The latest round trip measured (ms). */
  setRoundTrip(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.#rttMs = ms
  }

  /** Whether the packet `sequence` (of `bytes`) may be resent now; if so, it is counted as resent. */
  allow(sequence: number, bytes: number, now: number): boolean {
    this.#expire(now)
    const last = this.#lastResent.get(sequence)
    const gap = Math.max(MIN_RESEND_GAP_MS, Math.min(MAX_RESEND_GAP_MS, this.#rttMs ?? DEFAULT_RTT_MS))
    const budget =
      this.#ceilingKbps === undefined
        ? Number.POSITIVE_INFINITY
        : (this.#ceilingKbps * RETRANSMIT_SHARE * WINDOW_MS) / 8
    if ((last !== undefined && now - last < gap) || this.#windowBytes + bytes > budget) {
      this.#refused++
      return false
    }
    this.#sent.push({ at: now, bytes })
    this.#windowBytes += bytes
    // Re-inserted last, so the oldest entry is the first one (a map keeps insertion order).
    this.#lastResent.delete(sequence)
    this.#lastResent.set(sequence, now)
    if (this.#lastResent.size > REMEMBERED) {
      const oldest = this.#lastResent.keys().next().value
      if (oldest !== undefined) this.#lastResent.delete(oldest)
    }
    return true
  }

  /** kbit/s resent over the last second. */
  kbps(now: number): number {
    this.#expire(now)
    return (this.#windowBytes * 8) / WINDOW_MS
  }

  /** Resends refused since the last call (for the debug log). */
  takeRefused(): number {
    const refused = this.#refused
    this.#refused = 0
    return refused
  }

  #expire(now: number): void {
    let drop = 0
    while (drop < this.#sent.length && now - (this.#sent[drop]?.at ?? now) >= WINDOW_MS) {
      this.#windowBytes -= this.#sent[drop]?.bytes ?? 0
      drop++
    }
    if (drop > 0) this.#sent.splice(0, drop)
  }
}
