import type { ResolvedCaptureConfig } from '@smoldesk/protocol'
import type { EncoderChoice } from './codec-probe.ts'

/** A rectangle of the desktop: one monitor, in the layout's pixels. */
export interface CaptureRegion {
  x: number
  y: number
  width: number
  height: number
}

/** What one encoder captures and how: everything checked before it runs. */
export interface CapturePlan {
  /** The monitor's name as its display server knows it (RandR output, Wayland output, mutter connector). */
  output: string
  region: CaptureRegion
  config: ResolvedCaptureConfig
  encoder: EncoderChoice
}

/** The processes that grab and encode, as the capture-started event names them. */
export type EncoderProgram =
  | 'smoldesk-grab'
  | 'smoldesk-wl-grab'
  | 'smoldesk-pw-grab'
  | 'ffmpeg'
  | 'wf-recorder'
  | 'gst-launch-1.0'

/**
 * One grab-and-encode process for a plan, as a display backend builds it.
 * The pipeline spawns it (arguments as an array, never through a shell),
 * reads its video, supervises it and restarts it; the backend only knows
 * how its display is grabbed.
 */
export interface EncoderCommand {
  program: EncoderProgram
  /** What to execute: the program's name on PATH, or a helper's absolute path. */
  executable: string
  args: string[]
  /** Extra environment (a Wayland socket, a D-Bus address); the host's own is inherited. */
  env?: Record<string, string>
  /**
   * How the video leaves the process: RTP to the pipeline's loopback UDP
   * port, frame records on stdout (H.264 access units or VP8 frames, as
   * the plan's codec says, with their capture time: SmolDesk's helpers), or
   * raw AV1 OBUs on stdout.
   */
  output: 'rtp' | 'frames' | 'obu'
  /** The process makes an IDR frame when `k` arrives on stdin; otherwise a keyframe costs a restart. */
  keyframeOnRequest: boolean
  /**
   * The process takes the path's bitrate and frame rate ceilings on stdin
   * (`b<kbps>` / `f<fps>` lines, helper-records.h): congestion control. The
   * others keep the rates they were started with.
   */
  rateOnRequest?: boolean
  /**
   * The process also takes a smaller picture on stdin (`s<n>`: 1/n of the
   * width and height, from a keyframe on): congestion control's last step.
   */
  shrinkOnRequest?: boolean
  /**
   * The process stops grabbing and encoding on `p1` and goes on from a
   * keyframe on `p0` (helper-records.h): an encoder whose codec no viewer
   * watches costs nothing. The others run on, their packets going nowhere.
   */
  pauseOnRequest?: boolean
  /**
   * A viewer's keyframe request always restarts the process, even with a
   * GOP of a second or less (a process that cannot be asked for an IDR,
   * and whose frames may come only when the screen changes).
   */
  restartForKeyframe?: boolean
  /** Frames are taken when the screen changes, not on a fixed clock (the stream summary says so). */
  onChange: boolean
}

/**
 * How a display is grabbed: one per pipeline, so a fallback learnt by one
 * encoder (the helper cannot run on this X server) stays with it.
 */
export interface CaptureSource {
  /** The process for a plan; INVALID_ARGS or UNSUPPORTED_ON_BACKEND for what this display cannot do. */
  command(plan: CapturePlan, rtpPort: number): EncoderCommand
  /**
   * The command failed before its first frame: true when the source has
   * another one for the same plan (command() now returns it).
   */
  startFailed?(failed: EncoderCommand): boolean
  /** The fallback failed as well, so the first command was not at fault: offer it again next time. */
  fallbackFailed?(): void
}

/**
 * A capture source whose first choice is one of SmolDesk's helpers, with
 * another program for what the helper does not cover and for a display
 * where it cannot start: then the other program is used for the rest of
 * this source's life, rather than no picture at all; when the other fails
 * too, the helper was not the problem and is offered again.
 */
export abstract class HelperFirstSource implements CaptureSource {
  readonly #helper: EncoderProgram
  readonly #onFallback: () => void
  #helperFailed = false

  /** `onFallback` says so in the source's own log. */
  protected constructor(helper: EncoderProgram, onFallback: () => void) {
    this.#helper = helper
    this.#onFallback = onFallback
  }

  /** Whether the helper may be tried (it has not failed to start here). */
  protected get helperUsable(): boolean {
    return !this.#helperFailed
  }

  abstract command(plan: CapturePlan, rtpPort: number): EncoderCommand

  startFailed(failed: EncoderCommand): boolean {
    if (failed.program !== this.#helper) return false
    this.#onFallback()
    this.#helperFailed = true
    return true
  }

  fallbackFailed(): void {
    this.#helperFailed = false
  }
}
