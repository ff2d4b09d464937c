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

/** What the encoder is asked to hold to (kbit/s, frames/s); undefined is "as configured". */
export interface RateCeiling {
  kbps: number | undefined
  fps: number | undefined
}

/** The encoder's frame, as the governor needs it. */
export interface EncoderShape {
  width: number
  height: number
  fps: number
}

/**
 * One encoder's ceilings, from the paths of every viewer it feeds: the
 * lowest viewer's bitrate (an encoder serves all its viewers alike), then
 * the frame rate that bitrate affords at this size. Asks `apply` only when
 * something changed.
 */
export class RateGovernor {
  readonly #paths = new Map<string, number>()
  readonly #apply: (ceiling: RateCeiling) => void
  #shape: EncoderShape | undefined
  #current: RateCeiling = { kbps: undefined, fps: undefined }

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
    const fps = kbps === undefined ? undefined : this.#fps(kbps)
    const was = this.#current
    // Small moves of the bitrate are not worth a reconfiguration (each costs the encoder a little).
    const sameKbps =
      kbps === was.kbps ||
      (kbps !== undefined && was.kbps !== undefined && Math.abs(kbps - was.kbps) < was.kbps * 0.05)
    if (sameKbps && fps === was.fps) return
    this.#current = { kbps, fps }
    // Set, lifted or a new frame rate is worth a line; the ceiling's every step is not (5 a second).
    const notable = fps !== was.fps || (kbps === undefined) !== (was.kbps === undefined)
    ;(notable ? log.info : log.debug).call(
      log,
      { kbps: kbps ?? 'as configured', fps: fps ?? 'as configured', viewers: this.#paths.size },
      'path ceiling',
    )
    if (apply) this.#apply(this.#current)
  }

  /** The frame rate `kbps` affords: halved while the bits per pixel and frame are too few. */
  #fps(kbps: number): number | undefined {
    const shape = this.#shape
    if (!shape) return undefined
    const pixels = shape.width * shape.height
    const bpp = (fps: number) => (kbps * 1000) / (pixels * fps)
    let fps = shape.fps
    const was = this.#current.fps ?? shape.fps
    // Hysteresis: going up needs twice the bits that going down allowed.
    while (fps / 2 >= MIN_FPS && bpp(fps) < (fps > was ? MORE_FRAMES_BPP : FEWER_FRAMES_BPP))
      fps = Math.round(fps / 2)
    return fps === shape.fps ? undefined : fps
  }
}
