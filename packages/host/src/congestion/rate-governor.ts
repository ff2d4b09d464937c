import { createLogger } from '../log.ts'

const log = createLogger('congestion')

/**
 * Below this many bits per pixel and frame, fewer frames look better than
 * more of them (each frame then gets too few bits for text to stay sharp):
 * the frame rate steps down its ladder (framesLadder: 30, 20, 15 with
 * --fps 30), down to MIN_FPS. A step back up needs 1.5× this at the higher
 * rate. Halving straight from 30 to 15, and back only at twice the bits,
 * held bench network's `bad` link (1.5 Mbit/s, ceilings of 0.5–1.6 Mbit/s)
 * at 15 frames/s for good: 11.6–16.3 shown.
 */
const FEWER_FRAMES_BPP = 0.03
/** A step back up to more frames needs this multiple of the bits that stepped it down. */
const MORE_FRAMES_FACTOR = 1.5
/** A smaller picture (a new encoder and a keyframe) comes back only at twice the bits that shrank it. */
const LARGER_PICTURE_FACTOR = 2
/**
 * libvpx's realtime VP8 needs about twice x264's bits per pixel before its
 * frames fit at all: of the whole 1280x720 screen changing it made
 * 1.0–1.3 Mbit/s at 15 frames/s at its coarsest quantizer (0.07 bit per
 * pixel), whatever its ceiling, and WebRTC's own VP8 limits start 1280x720
 * at 0.9 Mbit/s. At 0.03 its picture stayed whole over a 1 Mbit/s link,
 * every frame too big for it (no frame shown for 10 s, Firefox).
 */
export const VP8_FEWER_FRAMES_BPP = 0.06
/** Below this a picture in motion stutters; a smaller picture is the next step instead. */
const MIN_FPS = 15
/**
 * The picture is shrunk only when even the lowest frame rate of the ladder
 * leaves too few bits per pixel at its full size (FEWER_FRAMES_BPP),
 * halving its width and height each step, to a quarter at most: resolution is what a remote desktop gives up last (small text is
 * the first thing lost), as WebRTC's screen sharing keeps its resolution
 * and lowers its frame rate instead. With --fps 30 or 60 the lowest frame
 * rate is 15: at 1280x720 the picture shrinks below ~415 kbit/s (and grows
 * again from ~830), at 1920x1080 below ~930.
 */
const MAX_SHRINK = 4
/**
 * An encoder that sends more than this multiple of its ceiling for
 * OVERSHOOT_MS cannot meet it at its frame rate and size, whatever its
 * quantizer. VP8_FEWER_FRAMES_BPP is a prior for libvpx; what an encoder
 * can do depends on the content, and this is what it did: over a 3 Mbit/s
 * link libvpx made 2.6–2.8 Mbit/s of the whole 1280x720 screen changing at
 * 30 frames/s under a ceiling of 2.1 (0.076 bit per pixel, its coarsest),
 * and Firefox's picture stood still for 3.4 s, its frames losing packets
 * in the link's queue. Such an encoder gets the next rung down (fewer
 * frames, then a smaller picture) and keeps at most that rung until its
 * ceiling doubles. x264 under its VBV makes 70–80 % of a ceiling, so 1.25×
 * is no encoder keeping to it; a keyframe is one frame of a second's
 * window (RateMeter), not half a second of them.
 */
const OVERSHOOT = 1.25
const OVERSHOOT_MS = 500
/**
 * After the encoder was asked for a change, its rate buffer drains and the
 * meter's one-second window fills with what it makes since: 0.7 s of it.
 */
const SETTLE_MS = 700

/**
 * The frame rates an encoder opened at `fps` steps through, highest first:
 * `fps` divided by 1, 1.5, 2, 3, 4, 6… down to MIN_FPS (30: 30, 20, 15;
 * 60: 60, 40, 30, 20, 15; at or below 15 only itself). Steps of a third or
 * a quarter, not halves: a narrow link gets the most frames its bits allow.
 */
export function framesLadder(fps: number): number[] {
  const ladder = [fps]
  for (const d of [1.5, 2, 3, 4, 6, 8, 12, 16]) {
    const step = Math.round(fps / d)
    if (step < MIN_FPS) break
    if (step < (ladder.at(-1) ?? fps)) ladder.push(step)
  }
  return ladder
}

/**
 * What the encoder is asked to hold to (kbit/s, frames/s, the divisor of
 * its width and height); undefined is "as configured".
 */
export interface RateCeiling {
  kbps: number | undefined
  fps: number | undefined
  shrink?: number | undefined
}

/** The encoder's frame, as the governor needs it. */
export interface EncoderShape {
  width: number
  height: number
  fps: number
  /** Whether the encoder can be asked for a smaller picture while it runs (smoldesk-grab). */
  canShrink?: boolean
  /** Its FEWER_FRAMES_BPP: the fewest bits per pixel and frame its frames look right with (default 0.03, x264's). */
  fewerFramesBpp?: number
}

/**
 * One encoder's ceilings, from the paths of every viewer it feeds: the
 * lowest viewer's bitrate (an encoder serves all its viewers alike), then
 * the frame rate that bitrate affords at this size, then (when even the
 * lowest frame rate is not enough) a smaller picture. Asks `apply` only
 * when something changed.
 */
export class RateGovernor {
  readonly #paths = new Map<string, number>()
  readonly #apply: (ceiling: RateCeiling) => void
  #shape: EncoderShape | undefined
  #current: RateCeiling = { kbps: undefined, fps: undefined, shrink: undefined }
  /** The rung the bits per pixel afford (before any floor): what the hysteresis starts from. */
  #afforded: Rung | undefined
  /** The highest rung (index into #rungs) allowed since the encoder overshot, and the ceiling then. */
  #floor: { rung: number; kbps: number } | undefined
  /** When the encoder was last asked for something new (performance.now()). */
  #changedAt = Number.NEGATIVE_INFINITY
  /** Since when the encoder has sent more than OVERSHOOT × its ceiling (undefined: it has not). */
  #overSince: number | undefined

  constructor(apply: (ceiling: RateCeiling) => void) {
    this.#apply = apply
  }

  get current(): RateCeiling {
    return { ...this.#current }
  }

  /**
   * The encoder (re)started with this frame: the ceilings are worked out for
   * it and returned (not applied: the caller hands them to the new process).
   */
  reshape(shape: EncoderShape, now = performance.now()): RateCeiling {
    this.#shape = shape
    this.#afforded = undefined
    this.#floor = undefined
    this.#overSince = undefined
    this.#changedAt = now
    this.#update(false, now)
    return this.current
  }

  /**
   * What the encoder sent over the last second (kbit/s): one that keeps
   * sending well past its ceiling is moved down a rung (OVERSHOOT).
   */
  noteEncoderRate(sentKbps: number, now = performance.now()): void {
    const kbps = this.#current.kbps
    if (kbps === undefined || now - this.#changedAt < SETTLE_MS || sentKbps <= kbps * OVERSHOOT) {
      this.#overSince = undefined
      return
    }
    this.#overSince ??= now
    if (now - this.#overSince < OVERSHOOT_MS) return
    this.#overSince = undefined
    const rungs = this.#rungs()
    const at = rungIndex(rungs, this.#current)
    if (at < 0 || at + 1 >= rungs.length) return
    log.info(
      { kbps, sentKbps: Math.round(sentKbps), fps: rungs[at + 1]?.fps, shrink: rungs[at + 1]?.shrink },
      'the encoder overshoots its ceiling: one rung down',
    )
    this.#floor = { rung: at + 1, kbps }
    this.#update(true, now)
  }

  /** One viewer's path ceiling (undefined: it limits nothing, or the viewer left). */
  setPath(viewerId: string, kbps: number | undefined, now = performance.now()): void {
    if (kbps === undefined) this.#paths.delete(viewerId)
    else this.#paths.set(viewerId, kbps)
    this.#update(true, now)
  }

  #update(apply: boolean, now: number): void {
    const kbps = this.#paths.size > 0 ? Math.round(Math.min(...this.#paths.values())) : undefined
    // A floor set by an overshoot holds until the ceiling doubles (or goes); with the ceiling gone,
    // the next one starts from the whole picture (the hysteresis has nothing to hold on to).
    if (this.#floor && (kbps === undefined || kbps >= this.#floor.kbps * 2)) this.#floor = undefined
    if (kbps === undefined) this.#afforded = undefined
    const { fps, shrink } = kbps === undefined ? { fps: undefined, shrink: undefined } : this.#afford(kbps)
    const was = this.#current
    // Small moves of the bitrate are not worth a reconfiguration (each costs the encoder a little).
    const sameKbps =
      kbps === was.kbps ||
      (kbps !== undefined && was.kbps !== undefined && Math.abs(kbps - was.kbps) < was.kbps * 0.05)
    if (sameKbps && fps === was.fps && shrink === was.shrink) return
    this.#current = { kbps, fps, shrink }
    this.#changedAt = now
    // Set, lifted, a new frame rate or size is worth a line; the ceiling's every step is not (5 a second).
    const notable =
      fps !== was.fps || shrink !== was.shrink || (kbps === undefined) !== (was.kbps === undefined)
    ;(notable ? log.info : log.debug).call(
      log,
      {
        kbps: kbps ?? 'as configured',
        fps: fps ?? 'as configured',
        shrink: shrink ?? 1,
        viewers: this.#paths.size,
      },
      'path ceiling',
    )
    if (apply) this.#apply(this.#current)
  }

  /**
   * The frame rate and picture `kbps` affords: the highest rung of the
   * frame-rate ladder whose bits per pixel and frame are enough, and the
   * picture halved while they are too few even at the lowest rung. Going up
   * needs more than going down allowed: 1.5× for frames, twice for size.
   */
  #afford(kbps: number): { fps: number | undefined; shrink: number | undefined } {
    const shape = this.#shape
    if (!shape) return { fps: undefined, shrink: undefined }
    const bpp = (fps: number, shrink: number) =>
      (kbps * 1000) / ((shape.width / shrink) * (shape.height / shrink) * fps)
    const fewer = shape.fewerFramesBpp ?? FEWER_FRAMES_BPP
    const wasFps = this.#afforded?.fps ?? shape.fps
    const wasShrink = this.#afforded?.shrink ?? 1
    const ladder = framesLadder(shape.fps)
    const lowest = ladder.at(-1) ?? shape.fps
    let shrink = 1
    while (
      shape.canShrink === true &&
      shrink * 2 <= MAX_SHRINK &&
      bpp(lowest, shrink) < (shrink < wasShrink ? fewer * LARGER_PICTURE_FACTOR : fewer)
    )
      shrink *= 2
    // A smaller picture keeps the lowest frame rate: its bits go to sharper frames, not more.
    const fps =
      shrink > 1
        ? lowest
        : (ladder.find((f) => bpp(f, 1) >= (f > wasFps ? fewer * MORE_FRAMES_FACTOR : fewer)) ?? lowest)
    this.#afforded = { fps, shrink }
    const rungs = this.#rungs()
    const floored = this.#floor
      ? rungs[Math.max(rungIndex(rungs, { fps, shrink }), this.#floor.rung)]
      : undefined
    const rung = floored ?? { fps, shrink }
    return {
      fps: rung.fps === shape.fps ? undefined : rung.fps,
      shrink: rung.shrink === 1 ? undefined : rung.shrink,
    }
  }

  /** Every frame rate at the whole size, highest first, then the smaller pictures at the lowest one. */
  #rungs(): Rung[] {
    const shape = this.#shape
    if (!shape) return []
    const ladder = framesLadder(shape.fps)
    const lowest = ladder.at(-1) ?? shape.fps
    const rungs = ladder.map((fps) => ({ fps, shrink: 1 }))
    for (let shrink = 2; shape.canShrink === true && shrink <= MAX_SHRINK; shrink *= 2)
      rungs.push({ fps: lowest, shrink })
    return rungs
  }
}

/** A frame rate and a divisor of the picture's width and height. */
interface Rung {
  fps: number
  shrink: number
}

/** Where a ceiling's frame rate and size are on the rungs (undefined fields: as configured, the top). */
function rungIndex(rungs: Rung[], at: { fps?: number | undefined; shrink?: number | undefined }): number {
  const shrink = at.shrink ?? 1
  const fps = at.fps ?? rungs[0]?.fps
  return rungs.findIndex((r) => r.shrink === shrink && r.fps === fps)
}
