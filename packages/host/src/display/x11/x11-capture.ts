import type { CapturePlan, CaptureSource, EncoderCommand } from '../../capture/capture-source.ts'
import { ffmpegCommand } from '../../capture/encoder-args.ts'
import { createLogger } from '../../log.ts'
import { grabCommand, grabEnabled } from './grab/grab.ts'

const log = createLogger('capture.x11')

/**
 * Grabbing an X display: SmolDesk's damage-driven helper where it applies
 * (H.264 in software), else ffmpeg's x11grab. A helper that cannot start on
 * this X server (no MIT-SHM or DAMAGE, an unusual visual) gives way to
 * ffmpeg for the rest of this source's life, rather than no picture at all.
 */
export class X11CaptureSource implements CaptureSource {
  readonly #display: () => string
  readonly #useHelper: boolean
  #helperFailed = false

  /** `useHelper`: HostOptions.captureHelper (off compares with ffmpeg's fixed rate). */
  constructor(display: () => string, useHelper: boolean) {
    this.#display = display
    this.#useHelper = useHelper
  }

  command(plan: CapturePlan, rtpPort: number): EncoderCommand {
    const display = this.#display()
    const helper =
      grabEnabled(this.#useHelper) && !this.#helperFailed ? grabCommand(plan, display) : undefined
    return helper ?? ffmpegCommand({ ...plan, display, rtpPort, payloadType: 96 })
  }

  startFailed(failed: EncoderCommand): boolean {
    if (failed.program !== 'smoldesk-grab') return false
    log.warn('the capture helper failed to start; trying ffmpeg')
    this.#helperFailed = true
    return true
  }

  /** ffmpeg failed too: the helper was not the problem and stays in use for the next start. */
  fallbackFailed(): void {
    this.#helperFailed = false
  }
}
