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
const MORE_FRAMES_BPP = 0.045
/** A smaller picture (a new encoder and a keyframe) comes back only at twice the bits that shrank it. */
const LARGER_PICTURE_BPP = 0.06
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
  reshape(shape: EncoderShape): RateCeiling {
    this.#shape = shape
    this.#update(false)
    return this.current
  }

  /** One viewer's path ceiling (undefined: it limits nothing, or the viewer left). */
  setPath(viewerId: string, kbps: number | undefined): void {
    if (kbps === undefined) this.#paths.delete(viewerId)
    else this.#paths.set(viewerId, kbps)
    this.#update()
  }

  #update(apply = true): void {
    const kbps = this.#paths.size > 0 ? Math.round(Math.min(...this.#paths.values())) : undefined
    const { fps, shrink } = kbps === undefined ? { fps: undefined, shrink: undefined } : this.#afford(kbps)
    const was = this.#current
    // Small moves of the bitrate are not worth a reconfiguration (each costs the encoder a little).
    const sameKbps =
      kbps === was.kbps ||
      (kbps !== undefined && was.kbps !== undefined && Math.abs(kbps - was.kbps) < was.kbps * 0.05)
    if (sameKbps && fps === was.fps && shrink === was.shrink) return
    this.#current = { kbps, fps, shrink }
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
    const wasFps = this.#current.fps ?? shape.fps
    const wasShrink = this.#current.shrink ?? 1
    const ladder = framesLadder(shape.fps)
    const lowest = ladder.at(-1) ?? shape.fps
    let shrink = 1
    while (
      shape.canShrink === true &&
      shrink * 2 <= MAX_SHRINK &&
      bpp(lowest, shrink) < (shrink < wasShrink ? LARGER_PICTURE_BPP : FEWER_FRAMES_BPP)
    )
      shrink *= 2
    // A smaller picture keeps the lowest frame rate: its bits go to sharper frames, not more.
    const fps =
      shrink > 1
        ? lowest
        : (ladder.find((f) => bpp(f, 1) >= (f > wasFps ? MORE_FRAMES_BPP : FEWER_FRAMES_BPP)) ?? lowest)
    return { fps: fps === shape.fps ? undefined : fps, shrink: shrink === 1 ? undefined : shrink }
  }
}
