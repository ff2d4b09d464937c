import { createLogger } from '../log.ts'

const log = createLogger('congestion')

/**
 * Below this many bits per pixel and frame, fewer frames look better than
 * more of them (each frame then gets too few bits for text to stay sharp):
 * the frame rate halves, down to MIN_FPS. It comes back above twice this.
 */
const FEWER_FRAMES_BPP = 0.03
const MORE_FRAMES_BPP = 0.06
const MIN_FPS = 10
/**
 * The picture is shrunk only when even the lowest frame rate the halving
 * reaches leaves too few bits per pixel at its full size (the same
 * thresholds), halving its width and height each step, to a quarter at
 * most: resolution is what a remote desktop gives up last (small text is
 * the first thing lost), as WebRTC's screen sharing keeps its resolution
 * and lowers its frame rate instead. With --fps 30 or 60 the lowest frame
 * rate is 15: at 1280x720 the picture shrinks below ~415 kbit/s (and grows
 * again from ~830), at 1920x1080 below ~930.
 */
const MAX_SHRINK = 4

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
   * The frame rate and picture `kbps` affords: the frame rate halved while
   * the bits per pixel and frame are too few, and the picture halved while
   * they are too few even at the lowest frame rate. Going up (more frames,
   * a larger picture) needs twice the bits that going down allowed.
   */
  #afford(kbps: number): { fps: number | undefined; shrink: number | undefined } {
    const shape = this.#shape
    if (!shape) return { fps: undefined, shrink: undefined }
    const bpp = (fps: number, shrink: number) =>
      (kbps * 1000) / ((shape.width / shrink) * (shape.height / shrink) * fps)
    const wasFps = this.#current.fps ?? shape.fps
    const wasShrink = this.#current.shrink ?? 1
    let lowest = shape.fps
    while (lowest / 2 >= MIN_FPS) lowest = Math.round(lowest / 2)
    let shrink = 1
    while (
      shape.canShrink === true &&
      shrink * 2 <= MAX_SHRINK &&
      bpp(lowest, shrink) < (shrink < wasShrink ? MORE_FRAMES_BPP : FEWER_FRAMES_BPP)
    )
      shrink *= 2
    // A smaller picture keeps the lowest frame rate: its bits go to sharper frames, not more.
    let fps = shrink > 1 ? lowest : shape.fps
    while (fps / 2 >= MIN_FPS && bpp(fps, shrink) < (fps > wasFps ? MORE_FRAMES_BPP : FEWER_FRAMES_BPP))
      fps = Math.round(fps / 2)
    return { fps: fps === shape.fps ? undefined : fps, shrink: shrink === 1 ? undefined : shrink }
  }
}
