/** What a viewer's RTCP says about its path (werift hands these on as they come). */
export type PathFeedback =
  /** The receiver's own estimate (REMB: Chromium's delay-based estimator, about once a second). */
  | { kind: 'remb'; kbps: number }
  /**
   * A receiver report: packets lost so far and the highest sequence number
   * received (extended: both count from the start), and the round trip.
   */
  | {
      kind: 'report'
      packetsLost: number
      highestSequence: number
      rttMs: number | undefined
      /** How long the host's own event loop may have held the report up before it was timed (ms). */
      hostLateMs?: number
    }

/** What the encoder feeding a viewer makes: now (over the last second), at most, and per packet. */
export interface EncoderRate {
  sendKbps: number
  maxKbps: number
  /** The average RTP packet, bytes (undefined: none sent lately). */
  packetBytes: number | undefined
}

/** What the figures read when the ceiling last came down (kbit/s, ms; loss as a share). */
export interface DecreaseReason {
  loss: number | undefined
  queueMs: number
  /** The encoder's rate then (before the loss is taken off it). */
  sendKbps: number
  arrived: number | undefined
  remb: number | undefined
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
 * passed since it fell; from 85 % of the rate that last got through when the
 * path congested (its knee) up, only 8 % a second, as GCC does near
 * convergence: 30 % a second there overshot a 3 Mbit/s link within two
 * seconds, and every overshoot was another freeze.
 */
const RISE_PER_S = 1.3
const RISE_NEAR_KNEE_PER_S = 1.08
const HOLD_AFTER_DECREASE_MS = 1000
/**
 * The encoder makes at least this share of the ceiling: it presses on it,
 * and a clear path lets it rise. x264 under a ceiling makes 64–80 % of it.
 * While a knee stands 60 % will do: the path carried that rate when it
 * last congested, and near it the ceiling rises only 8 % a second. Once the
 * knee is forgotten (sent 15 % past), 65 %: at 60 % the ceiling of bench
 * network's `bad` link (1.5 Mbit/s) climbed to 2.4 Mbit/s there while the
 * encoder made 1.0–1.1, and the next hard frame filled the link's queue
 * (12 % loss, freezes); at 65 % everywhere, CI's congestion test climbed
 * back from 1.0 Mbit/s toward its knee of 1.3 at 6 % a second (x264 making
 * 64–67 %) and did not lift within 24 s; at 70 % a step back up to
 * `internet`'s 5 Mbit/s did not reach 80 % of its rate within 15 s.
 * Handing x264 a quarter more than the ceiling, so that it makes all of
 * it, took `bad`'s margin away: 13.2–15.7 frames/s, 17–22 freezes in 20 s.
 */
const PRESSED_SHARE_WITH_KNEE = 0.6
const PRESSED_SHARE = 0.65
/** Sending this much more than the knee on a clear path: the knee was wrong. */
const KNEE_PASSED = 1.15
/** Two decreases at least this far apart: the first one's effect (a queue draining) must show before the next. */
const DECREASE_GAP_MS = 1000
/** The smallest round trip is the path's own; anything above it is queueing (remembered this long). */
const MIN_RTT_WINDOW_MS = 10_000
/** A round trip this much shorter than the one before: the queue is draining. */
const DRAINING_MS = 15
/** Host loop lateness under this is timer jitter (ms). */
const HOST_LATE_NOISE_MS = 5
/**
 * Loss is counted over at least this many packets (up to 3 s back): one
 * packet in a report of five is not 20 % loss, and a 3 % lossy link read
 * report by report looks congested every few seconds.
 */
const LOSS_WINDOW_MAX_MS = 3000
const LOSS_MIN_PACKETS = 60
const LOSS_MIN_WINDOW_MS = 150

/**
 * One viewer's path, learnt from its RTCP: a ceiling in kbit/s, or none
 * while nothing says the path is short of what the encoder makes. Loss
 * (counted over 60 packets and 150 ms at least) above 10 %, or two round
 * trips 60 ms over the minimum (a queue filling, not draining), is
 * congestion: the ceiling drops to 80 % of what got through (the encoder's
 * rate less the loss, or what the receiver counted arriving if less; REMB
 * when arrivals cannot be counted). A clear path (under 5 % loss, under
 * 25 ms of queue) lets it rise after holding 1 s, while the encoder makes
 * 60 % of it or more while a knee stands, else 65 %: 30 % a second, 8 %
 * from 85 % of the knee up (until the encoder sends 15 % past it on a
 * clear path), until it is past the most the encoder makes, where it is
 * dropped. REMB alone never lowers it: with
 * screen content the encoder's rate jumps from nothing to tens of Mbit/s
 * when a window moves, and a receiver's estimate lags behind such a jump
 * with no congestion at all.
 */
/** What a viewer's path was last known to carry, for its next connection (PathEstimate's seed). */
export interface PathSeed {
  ceiling: number
  knee: number | undefined
}

export class PathEstimate {
  #ceiling: number | undefined
  #remb: number | undefined
  /** Each round trip as measured (`raw`) and less what the host's loop held it up (`ms`). */
  #rttSamples: { at: number; ms: number; raw: number }[] = []
  #lossSamples: { at: number; lost: number; highest: number }[] = []
  #lastDecrease = Number.NEGATIVE_INFINITY
  #lastRise = Number.NEGATIVE_INFINITY
  /** What got through when the path last congested (kbit/s). */
  #knee: number | undefined

  #why: DecreaseReason | undefined

  /**
   * A fresh estimate starts without a ceiling, or (`seed`: the same
   * viewer's connection before this one) where that one left off, holding
   * 1 s from `now` before it may rise: a viewer whose connection started
   * anew over a 0.55 Mbit/s link otherwise got the encoder's whole 12
   * Mbit/s again, 95 % of it lost, until the next decrease.
   */
  constructor(seed?: PathSeed, now = 0) {
    if (!seed) return
    this.#ceiling = Math.max(MIN_PATH_KBPS, seed.ceiling)
    this.#knee = seed.knee
    this.#lastDecrease = now
    this.#lastRise = now
  }

  /** Where this estimate stands, for the viewer's next connection (undefined: no ceiling). */
  get seed(): PathSeed | undefined {
    return this.#ceiling === undefined ? undefined : { ceiling: this.#ceiling, knee: this.#knee }
  }

  /** Why the ceiling last came down (for the debug log: what each figure read). */
  get lastDecrease(): DecreaseReason | undefined {
    return this.#why
  }

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
    const { ms: queueMs, draining } = this.#queueing(feedback.rttMs, feedback.hostLateMs ?? 0, now)
    const window = this.#lossWindow(feedback.packetsLost, feedback.highestSequence, now)
    const loss = window?.loss
    // What the receiver counted arriving, kbit/s (a queue that drops shows its rate there at once).
    const arrived =
      window && rate.packetBytes !== undefined && window.seconds >= LOSS_MIN_WINDOW_MS / 1000
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
      !draining &&
      // More arriving than is sent now: the queue is emptying.
      !(arrived !== undefined && arrived > sendKbps * 1.1) &&
      (arrived === undefined ||
        arrived < sendKbps * 0.9 ||
        (this.#knee !== undefined && arrived < this.#knee * 1.15))
    if ((loss ?? 0) > LOSS_CONGESTED || queued) {
      if (now - this.#lastDecrease < DECREASE_GAP_MS) return this.#ceiling
      // An encoder sending next to nothing (restarting, paused) did not make this queue or loss, it
      // is what was sent before: "what got through" would read as nothing (a ffmpeg encoder
      // restarted for a 3 Mbit/s link went to the floor this way and froze 2 s, on a branch that
      // restarts ffmpeg for each new ceiling).
      if (sendKbps < MIN_PATH_KBPS) return this.#ceiling
      // What got through: the encoder's rate less the loss, or what the receiver counted arriving
      // if that is less. REMB only stands in when arrivals cannot be counted: Chromium's estimate
      // falls to a fraction of what arrives while a queue drains (744 kbit/s REMB against 2,776
      // arriving on a 3 Mbit/s link, 262 against 552 on a clear 30 Mbit/s one), and a knee set
      // there held the ceiling low for the rest of the run.
      const sent = sendKbps * (1 - (loss ?? 0))
      const measured = Math.min(sent, arrived ?? this.#remb ?? Number.POSITIVE_INFINITY)
      this.#knee = measured
      this.#why = { loss, queueMs, sendKbps, arrived, remb: this.#remb }
      const next = Math.max(MIN_PATH_KBPS, measured * BACKOFF)
      // A ceiling only comes down here: the encoder may have made less than the ceiling allows.
      this.#ceiling = Math.min(this.#ceiling ?? Number.POSITIVE_INFINITY, next)
      this.#lastDecrease = now
      this.#lastRise = now
      // What was lost before this decrease says nothing about the rate from now on.
      this.#lossSamples = this.#lossSamples.slice(-1)
      return this.#ceiling
    }
    // A ceiling the encoder does not reach is not being tried: raising it proves nothing about the
    // path, and it then rose to twice a 3 Mbit/s link while the encoder made 2 (the picture froze
    // when the content next asked for it all). It holds until the encoder presses on it.
    // While a knee stands the rise near it is slow (8 % a second), and the path carried that rate.
    const share = this.#knee !== undefined ? PRESSED_SHARE_WITH_KNEE : PRESSED_SHARE
    const pressed = this.#ceiling !== undefined && sendKbps >= this.#ceiling * share
    if (this.#ceiling !== undefined && loss !== undefined && loss < LOSS_CLEAR && queueMs < QUEUE_CLEAR_MS) {
      if (!pressed) this.#lastRise = now
      else if (now - this.#lastDecrease >= HOLD_AFTER_DECREASE_MS) {
        const since = Math.max(this.#lastRise, this.#lastDecrease + HOLD_AFTER_DECREASE_MS)
        const seconds = Math.min(2, (now - since) / 1000)
        // A knee the path carries well past without a queue was no knee (a browser starved of CPU
        // answers late and counts late, like a full queue): forgotten, it no longer slows the rise,
        // and a round trip there is no longer the path's. Only what is sent shows that, not time:
        // forgotten after 3 s near it, a ceiling went on at 30 % a second past a 3 Mbit/s link
        // while the encoder made 2, and froze when it made 3.
        if (this.#knee !== undefined && sendKbps > this.#knee * KNEE_PASSED) this.#knee = undefined
        // From 85 % of a standing knee up, 8 % a second: past it, what the path carries is unknown
        // until the encoder has sent there. Rising 30 % a second once past 125 % of it, a ceiling
        // went to 3988 kbit/s over a 3 Mbit/s link while the encoder made 2714 (x264 makes 70–80 %
        // of a ceiling), and froze the picture 616 ms when the content next asked for it all (seen
        // beside another test). A cap at 125 % would hold such an encoder below the knee-passing
        // rate for good: the knee is left only by sending past it.
        const knee = this.#knee
        const near = knee !== undefined && this.#ceiling >= knee * 0.85
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
    // The newest sample that leaves enough packets and time (a fast stream is read over its last
    // report or two: a drop shows at once), else the oldest one kept. Two reports 18 ms apart
    // around a flushed queue read 96 % loss and 6 packets arrived: a rate from that is noise.
    let ref = samples[0]
    for (const s of samples) {
      if (highest - s.highest >= LOSS_MIN_PACKETS && now - s.at >= LOSS_MIN_WINDOW_MS) ref = s
    }
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
   * while one report handled late is not a queue on the path. What the
   * host's own loop may have held a report up is taken off it (never below
   * the minimum: the loop's worst moment may be more than this report
   * waited). `draining`: the last round trip is well below the one before,
   * so the queue is a congestion already answered, not a new one.
   */
  #queueing(rttMs: number | undefined, hostLateMs: number, now: number): { ms: number; draining: boolean } {
    if (rttMs === undefined || !Number.isFinite(rttMs) || rttMs < 0) return { ms: 0, draining: false }
    // A timer a few ms late is any loop's jitter, not a report held up.
    const late = hostLateMs >= HOST_LATE_NOISE_MS ? hostLateMs : 0
    this.#rttSamples = this.#rttSamples.filter((s) => now - s.at < MIN_RTT_WINDOW_MS)
    // The minimum is of the round trips as measured: the least held up of them is the path's own.
    const min = Math.min(rttMs, ...this.#rttSamples.map((s) => s.raw))
    const ms = Math.max(min, rttMs - late)
    const previous = this.#rttSamples.at(-1)?.ms ?? ms
    this.#rttSamples.push({ at: now, ms, raw: rttMs })
    return { ms: Math.min(ms, previous) - min, draining: ms < previous - DRAINING_MS }
  }
}
