import type { RTCRtpSender } from 'werift'

/**
 * Keeps one sender's RTP stream continuous across a new source (an encoder
 * restarted for a keyframe, for the path's ceiling, after a crash): the new
 * process numbers its packets from scratch, and werift re-bases sequence
 * numbers and timestamps onto the stream already sent. The timestamps go on
 * by the time that really passed between the last packet of the old source
 * and the first of the new one, not by werift's one tick: a timestamp is the
 * sampling instant (RFC 3550), which a receiver paces frames by and lines
 * picture up with sound by, and one tick for a restart that took half a
 * second tells it every frame from then on came half a second late.
 */
export class RtpContinuity {
  readonly #sender: () => RTCRtpSender
  /** The codec's RTP clock, ticks per ms (90 for video, 48 for Opus). */
  readonly #ticksPerMs: number
  #lastSentAt: number | undefined
  #pending = false

  constructor(sender: () => RTCRtpSender, clockRate: number) {
    this.#sender = sender
    this.#ticksPerMs = clockRate / 1000
  }

  /** The packets from now on come from a new source. */
  sourceChanged(): void {
    this.#pending = true
  }

  /** Before each packet is handed to werift: the first of a new source re-bases the stream. */
  beforeSend(now: number): void {
    if (this.#pending) {
      this.#pending = false
      const elapsed = this.#lastSentAt === undefined ? 0 : now - this.#lastSentAt
      const step = Math.max(1, Math.round(elapsed * this.#ticksPerMs))
      this.#sender().replaceRTP({ sequenceNumber: 0, timestamp: 0 }, false, step)
    }
    this.#lastSentAt = now
  }
}
