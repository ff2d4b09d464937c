/** What a viewer's RTCP says about its path (werift hands these on as they come). */
export type PathFeedback =
  /** The receiver's own estimate (REMB: Chromium's delay-based estimator, about once a second). */
  | { kind: 'remb'; kbps: number }
  /**
   * A receiver report: packets lost so far and the highest sequence number
   * received (extended: both count from the start), and the round trip.
   */
  | { kind: 'report'; packetsLost: number; highestSequence: number; rttMs: number | undefined }

/** What the encoder feeding a viewer makes: now (over the last second), at most, and per packet. */
export interface EncoderRate {
  sendKbps: number
  maxKbps: number
  /** The average RTP packet, bytes (undefined: none sent lately). */
  packetBytes: number | undefined
}

/** No ceiling goes below this: a picture at all, and room for the estimate to find its way back up. */
export const MIN_PATH_KBPS = 250
/** Loss above this share, or a round trip this much above its minimum, is congestion. */
const LOSS_CONGESTED = 0.1
const QUEUE_CONGESTED_MS = 60
/**
 * Below both of these the path is clear, and the ceiling may rise: a few
 * percent of random loss (Wi-Fi, a bad line: issue 18's `bad` has 3 %) is
 * no congestion as long as no queue builds, and NACKs repair it.
 */
const LOSS_CLEAR = 0.05
const QUEUE_CLEAR_MS = 25
/** On congestion the ceiling becomes this share of what got through: the queue it built drains. */
const BACKOFF = 0.8
/**
 * A clear path lets the ceiling rise this much a second, once this long has
 * passed since it fell; near the rate that last got through when the path
 * congested (its knee, from 85 % to 125 % of it) only 8 % a second, as
 * GCC does near convergence: 30 % a second there overshot a 3 Mbit/s link
 * within two seconds, and every overshoot was another freeze.
 */
const RISE_PER_S = 1.3
const RISE_NEAR_KNEE_PER_S = 1.08
const HOLD_AFTER_DECREASE_MS = 1000
/** Two decreases at least this far apart: the first one's effect (a queue draining) must show before the next. */
const DECREASE_GAP_MS = 1000
/** The smallest round trip is the path's own; anything above it is queueing (remembered this long). */
const MIN_RTT_WINDOW_MS = 10_000
/**
 * Loss is counted over at least this many packets (up to 3 s back): one
 * packet in a report of five is not 20 % loss, and a 3 % lossy link read
 * report by report looks congested every few seconds.
 */
const LOSS_WINDOW_MAX_MS = 3000
const LOSS_MIN_PACKETS = 60

/**
 * One viewer's path, learnt from its RTCP: a ceiling in kbit/s, or none
 * while nothing says the path is short of what the encoder makes. Loss
 * (counted over 60 packets at least) above 10 %, or two round trips 60 ms
 * over the minimum (a queue filling), is congestion: the ceiling drops to
 * 80 % of what got through (the lowest of the encoder's rate less the loss,
 * what the receiver counted arriving, and its REMB). A clear path (under
 * 5 % loss, under 25 ms of queue) lets it rise after holding 1 s: 30 % a
 * second, 8 % near the knee, until it is past the most the encoder makes,
 * where it is dropped. REMB alone never lowers it: with screen content the
 * encoder's rate jumps from nothing to tens of Mbit/s when a window moves,
 * and a receiver's estimate lags behind such a jump with no congestion at
 * all.
 */
export class PathEstimate {
  #ceiling: number | undefined
  #remb: number | undefined
  #rttSamples: { at: number; ms: number }[] = []
  #lossSamples: { at: number; lost: number; highest: number }[] = []
  #lastDecrease = Number.NEGATIVE_INFINITY
  #lastRise = Number.NEGATIVE_INFINITY
  /** What got through when the path last congested (kbit/s). */
  #knee: number | undefined

  /** The ceiling now, kbit/s (undefined: none). */
  get ceiling(): number | undefined {
    return this.#ceiling
  }

  /** Takes one piece of feedback about the path of an encoder making `rate`; returns the ceiling. */
  update(feedback: PathFeedback, rate: EncoderRate, now: number): number | undefined {
    const { sendKbps, maxKbps } = rate
    if (feedback.kind === 'remb') {
      this.#remb = feedback.kbps
      return this.#ceiling
    }
    const queueMs = this.#queueing(feedback.rttMs, now)
    const window = this.#lossWindow(feedback.packetsLost, feedback.highestSequence, now)
    const loss = window?.loss
    // What the receiver counted arriving, kbit/s (a queue that drops shows its rate there at once).
    const arrived =
      window && rate.packetBytes !== undefined && window.seconds >= 0.15
        ? (window.received / window.seconds) * rate.packetBytes * 0.008
        : undefined
    // A longer round trip while everything sent arrives, and more than the path carried when it
    // last congested, is no queue on the path: a busy host or browser answers late (two CPU hogs
    // beside the drop test made that look like congestion and slid the ceiling to its floor on a
    // clear 30 Mbit/s link). Near that knee a queue is the path's even while nearly all arrives:
    // a ceiling creeping past a link's rate fills its queue slowly, and waiting for the loss
    // when it overflows is a freeze (seen in CI, 8 s after a drop).
    const queued =
      queueMs > QUEUE_CONGESTED_MS &&
      (arrived === undefined ||
        arrived < sendKbps * 0.9 ||
        (this.#knee !== undefined && arrived < this.#knee * 1.15))
    if ((loss ?? 0) > LOSS_CONGESTED || queued) {
      if (now - this.#lastDecrease < DECREASE_GAP_MS) return this.#ceiling
      // What got through: the encoder's rate less the loss, what the receiver counted arriving, or
      // REMB, whichever is lowest.
      const sent = sendKbps * (1 - (loss ?? 0))
      const measured = Math.min(
        sent,
        arrived ?? Number.POSITIVE_INFINITY,
        this.#remb ?? Number.POSITIVE_INFINITY,
      )
      this.#knee = measured
      const next = Math.max(MIN_PATH_KBPS, measured * BACKOFF)
      // A ceiling only comes down here: the encoder may have made less than the ceiling allows.
      this.#ceiling = Math.min(this.#ceiling ?? Number.POSITIVE_INFINITY, next)
      this.#lastDecrease = now
      this.#lastRise = now
      // What was lost before this decrease says nothing about the rate from now on.
      this.#lossSamples = this.#lossSamples.slice(-1)
      return this.#ceiling
    }
    if (this.#ceiling !== undefined && loss !== undefined && loss < LOSS_CLEAR && queueMs < QUEUE_CLEAR_MS) {
      if (now - this.#lastDecrease >= HOLD_AFTER_DECREASE_MS) {
        const since = Math.max(this.#lastRise, this.#lastDecrease + HOLD_AFTER_DECREASE_MS)
        const seconds = Math.min(2, (now - since) / 1000)
        const knee = this.#knee
        const near = knee !== undefined && this.#ceiling >= knee * 0.85 && this.#ceiling < knee * 1.25
        this.#ceiling *= (near ? RISE_NEAR_KNEE_PER_S : RISE_PER_S) ** seconds
        this.#lastRise = now
        if (this.#ceiling >= maxKbps) this.#ceiling = undefined
      }
    } else this.#lastRise = now
    return this.#ceiling
  }

  /**
   * The share of packets lost over the loss window, and how many arrived in
   * how long (undefined: too few packets to tell).
   */
  #lossWindow(
    lost: number,
    highest: number,
    now: number,
  ): { loss: number; received: number; seconds: number } | undefined {
    const samples = this.#lossSamples.filter((s) => now - s.at <= LOSS_WINDOW_MAX_MS)
    samples.push({ at: now, lost, highest })
    this.#lossSamples = samples
    // The newest sample that leaves enough packets (a fast stream is read over its last report or
    // two: a drop shows at once), else the oldest one kept.
    let ref = samples[0]
    for (const s of samples) if (highest - s.highest >= LOSS_MIN_PACKETS) ref = s
    const expected = ref ? highest - ref.highest : 0
    if (!ref || expected < LOSS_MIN_PACKETS) return undefined
    const lostNow = Math.max(0, lost - ref.lost)
    return {
      loss: Math.min(1, lostNow / expected),
      received: Math.max(0, expected - lostNow),
      seconds: (now - ref.at) / 1000,
    }
  }

  /**
   * How far the round trip is above the smallest of the last 10 s (0 without
   * a measurement), by the lower of the last two: a queue that fills stays,
   * while one report handled late (the host's event loop busy for a moment)
   * is not a queue on the path.
   */
  #queueing(rttMs: number | undefined, now: number): number {
    if (rttMs === undefined || !Number.isFinite(rttMs) || rttMs < 0) return 0
    this.#rttSamples = this.#rttSamples.filter((s) => now - s.at < MIN_RTT_WINDOW_MS)
    const previous = this.#rttSamples.at(-1)?.ms ?? rttMs
    this.#rttSamples.push({ at: now, ms: rttMs })
    const min = Math.min(...this.#rttSamples.map((s) => s.ms))
    return Math.min(rttMs, previous) - min
  }
}
