import { type CapturePlan, type EncoderCommand, HelperFirstSource } from '../../capture/capture-source.ts'
import { ffmpegCommand } from '../../capture/encoder-args.ts'
import { createLogger } from '../../log.ts'
import { grabCommand } from './grab/grab.ts'

const log = createLogger('capture.x11')

/**
 * Grabbing an X display: SmolDesk's damage-driven helper where it applies
 * (H.264 or VP8 in software), else ffmpeg's x11grab. A helper that cannot start on
 * this X server (no MIT-SHM or DAMAGE, an unusual visual) gives way to
 * ffmpeg for the rest of this source's life, rather than no picture at all.
 */
export class X11CaptureSource extends HelperFirstSource {
  readonly #display: () => string
  readonly #useHelper: boolean

  /** `useHelper`: HostOptions.captureHelper (off compares with ffmpeg's fixed rate). */
  constructor(display: () => string, useHelper: boolean) {
    super('smoldesk-grab', () => log.warn('the capture helper failed to start; trying ffmpeg'))
    this.#display = display
    this.#useHelper = useHelper
  }

  command(plan: CapturePlan, rtpPort: number): EncoderCommand {
    const display = this.#display()
    const helper = this.helperUsable ? grabCommand(plan, display, this.#useHelper) : undefined
    return helper ?? ffmpegCommand({ ...plan, display, rtpPort, payloadType: 96 })
  }
}
