import { SmolDeskError } from '@smoldesk/protocol'
import type { CapturePlan, CaptureSource, EncoderCommand } from '../../capture/capture-source.ts'
import { codecArgs, extraParamArgs, RTP_PACKET_BYTES } from '../../capture/encoder-args.ts'

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

/** Grabbing a wlroots compositor's output with wf-recorder. */
export class WlrootsCaptureSource implements CaptureSource {
  readonly #env: Record<string, string>

  constructor(env: Record<string, string>) {
    this.#env = env
  }

  command(plan: CapturePlan, rtpPort: number): EncoderCommand {
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
