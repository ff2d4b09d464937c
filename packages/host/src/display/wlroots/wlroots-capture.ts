import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { SmolDeskError } from '@smoldesk/protocol'
import { type CapturePlan, type EncoderCommand, HelperFirstSource } from '../../capture/capture-source.ts'
import { codecArgs, extraParamArgs, RTP_PACKET_BYTES } from '../../capture/encoder-args.ts'
import { helperFor } from '../../capture/helper-choice.ts'
import { createLogger } from '../../log.ts'

const log = createLogger('capture.wlroots')

/** ffmpeg command-line names whose AVOption has another name (wf-recorder's `-p` takes AVOption names). */
const OPTION_NAMES: Readonly<Record<string, string>> = { 'b:v': 'b', 'profile:v': 'profile' }

/**
 * wf-recorder's command line for a plan: the output through wlr-screencopy
 * at the output's refresh rate, encoded by libavcodec with exactly the encoder options the X11
 * ffmpeg path uses (translated from its command line, so the two cannot
 * drift apart), and sent as RTP to the pipeline's port. 4:2:0 by a filter:
 * wf-recorder 0.3 otherwise keeps the compositor's 4:4:4, which browsers
 * cannot decode.
 */
export function wfRecorderArgs(plan: CapturePlan, rtpPort: number): string[] {
  const codec = plan.encoder.codec
  if (codec === 'AV1')
    throw new SmolDeskError('UNSUPPORTED_ON_BACKEND', 'AV1 is not available on sway (wf-recorder)')
  const pixelFormat = plan.config.advanced.pixel_format ?? 'yuv420p'
  const ffmpeg = [...codecArgs(plan.config, plan.encoder.encoder), ...extraParamArgs(plan.config)]
  // -D: a frame every refresh. With damage-driven capture wf-recorder 0.3 holds the last change
  // back until the next one (a closed window stayed on the viewer's screen), so it is off for now.
  const args = ['-o', plan.output, '-D', '-m', 'rtp', '-F', `format=${pixelFormat}`]
  for (let i = 0; i + 1 < ffmpeg.length; i += 2) {
    const name = (ffmpeg[i] ?? '').replace(/^-/, '')
    const value = ffmpeg[i + 1] ?? ''
    if (name === 'c:v') args.push('-c', value)
    else args.push('-p', `${OPTION_NAMES[name] ?? name}=${value}`)
  }
  args.push('-f', `rtp://127.0.0.1:${rtpPort}?pkt_size=${RTP_PACKET_BYTES}`)
  return args
}

/** SmolDesk's screencopy helper (grab/smoldesk-wl-grab.c, built by `./smoldesk setup` with libx264 and with libvpx). */
export const WL_GRAB_BINARY = resolve(import.meta.dirname, '../../../.build/smoldesk-wl-grab')
export const WL_GRAB_VP8_BINARY = resolve(import.meta.dirname, '../../../.build/smoldesk-wl-grab-vp8')

/**
 * Grabbing a wlroots compositor's output: SmolDesk's damage-driven
 * screencopy helper for H.264 and VP8 in software (it encodes the newest
 * picture only, makes an IDR when asked, and takes the path's ceilings
 * live), wf-recorder for the other codecs and
 * whenever the helper cannot start on this compositor (for the rest of
 * this source's life, as on X11).
 */
export class WlrootsCaptureSource extends HelperFirstSource {
  readonly #env: Record<string, string>

  constructor(env: Record<string, string>) {
    super('smoldesk-wl-grab', () => log.warn('the screencopy helper failed to start; trying wf-recorder'))
    this.#env = env
  }

  command(plan: CapturePlan, rtpPort: number): EncoderCommand {
    const helper = this.helperUsable
      ? helperFor(plan, { h264: WL_GRAB_BINARY, vp8: WL_GRAB_VP8_BINARY })
      : undefined
    if (helper && existsSync(helper.binary)) {
      return {
        program: 'smoldesk-wl-grab',
        executable: helper.binary,
        args: ['--output', plan.output, ...helper.encoder],
        env: this.#env,
        output: 'frames',
        keyframeOnRequest: true,
        rateOnRequest: true,
        shrinkOnRequest: true,
        pauseOnRequest: true,
        onChange: true,
      }
    }
    return {
      program: 'wf-recorder',
      executable: 'wf-recorder',
      args: wfRecorderArgs(plan, rtpPort),
      env: this.#env,
      output: 'rtp',
      // wf-recorder cannot be asked for an IDR: a viewer that needs a keyframe gets a fresh
      // encoder, whose first frame is one, rather than waiting for the GOP.
      keyframeOnRequest: false,
      restartForKeyframe: true,
      onChange: false,
    }
  }
}
