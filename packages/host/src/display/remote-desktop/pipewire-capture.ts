import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { SmolDeskError } from '@smoldesk/protocol'
import { type CapturePlan, type EncoderCommand, HelperFirstSource } from '../../capture/capture-source.ts'
import {
  extraParams,
  qualityToCrf,
  RTP_PACKET_BYTES,
  rateControlMode,
  vbvBufferKbit,
  vpxCpuUsed,
  x264Defaults,
  x264Tweaks,
} from '../../capture/encoder-args.ts'
import { helperFor } from '../../capture/helper-choice.ts'
import { createLogger } from '../../log.ts'

const log = createLogger('capture.pipewire')

/** x264 tunes that are GStreamer's `tune` flags; the others are its `psy-tune`. */
const GST_TUNES = new Set(['zerolatency', 'fastdecode', 'stillimage'])
/**
 * A still screen gives no frames (compositors send one per change): the last
 * one is sent again this often, so a viewer that joins or lost a packet
 * gets a picture, and the encoder's GOP keeps moving.
 */
const KEEPALIVE_MS = 500
/** x264enc takes at most this as a bitrate; as the ceiling of constant quality it means none. */
const NO_CAP_KBPS = 2_048_000

/** The x264enc element and caps for a plan: the options the X11 ffmpeg path uses, in GStreamer's words. */
function x264Element(plan: CapturePlan): string[] {
  const { config } = plan
  const adv = config.advanced
  const defaults = x264Defaults(config.latencyMode)
  const tune = adv.tune ?? defaults.tune
  const mode = rateControlMode(config)
  const kbps = config.bitrateKbps
  const vbv = vbvBufferKbit(config)
  const rate =
    mode === 'CRF'
      ? ['pass=qual', `quantizer=${qualityToCrf('H264', config.quality)}`, `bitrate=${kbps ?? NO_CAP_KBPS}`]
      : ['pass=cbr', `bitrate=${kbps}`]
  const buffer =
    kbps !== undefined && vbv !== undefined
      ? [`vbv-buf-capacity=${Math.max(1, Math.round((vbv / kbps) * 1000))}`]
      : []
  const options = [
    ...x264Tweaks(config),
    ...(mode === 'CBR' ? ['nal-hrd=cbr'] : []),
    ...extraParams(config).map((p) => `${p.x264}=${p.value}`),
  ]
  const profile =
    adv.profile === undefined || adv.profile === 'baseline' ? 'constrained-baseline' : adv.profile
  return [
    'x264enc',
    `speed-preset=${adv.preset ?? defaults.preset}`,
    ...(tune ? [GST_TUNES.has(tune) ? `tune=${tune}` : `psy-tune=${tune}`] : []),
    `key-int-max=${config.keyframeIntervalFrames}`,
    ...(config.latencyMode === 'Quality' ? [] : ['bframes=0']),
    ...rate,
    ...buffer,
    ...(options.length > 0 ? [`option-string=${options.join(':')}`] : []),
    '!',
    `video/x-h264,profile=${profile}`,
    '!',
    'rtph264pay',
    'config-interval=-1',
  ]
}

/** vp8enc / vp9enc with the libvpx settings of the ffmpeg path. */
function vpxElement(plan: CapturePlan, codec: 'VP8' | 'VP9'): string[] {
  const { config } = plan
  const mode = rateControlMode(config)
  const kbps = config.bitrateKbps
  const cpuUsed = vpxCpuUsed(config.latencyMode)
  const ceiling = kbps ?? (codec === 'VP8' ? 50_000 : 0)
  const rate =
    mode === 'CRF'
      ? [
          'end-usage=cq',
          `cq-level=${qualityToCrf(codec, config.quality)}`,
          `target-bitrate=${ceiling * 1000}`,
        ]
      : [`end-usage=${mode === 'VBR' ? 'vbr' : 'cbr'}`, `target-bitrate=${(kbps ?? 0) * 1000}`]
  return [
    codec === 'VP8' ? 'vp8enc' : 'vp9enc',
    'deadline=1',
    `cpu-used=${cpuUsed}`,
    'lag-in-frames=0',
    'error-resilient=default',
    `keyframe-max-dist=${config.keyframeIntervalFrames}`,
    ...(codec === 'VP9' ? ['row-mt=true', 'tile-columns=1'] : []),
    ...rate,
    '!',
    codec === 'VP8' ? 'rtpvp8pay' : 'rtpvp9pay',
    'picture-id-mode=15-bit',
  ]
}

/**
 * A frame-rate ceiling below 60 is asked of the compositor (it then draws no more
 * frames than that); at 60 and above none is: it offers at most the
 * monitor's refresh, and a ceiling above it would leave nothing to agree on.
 */
function rateCap(fps: number): string[] {
  return fps < 60 ? [`video/x-raw,max-framerate=${fps}/1`, '!'] : []
}

/**
 * The GStreamer pipeline for a plan: the compositor's PipeWire stream of
 * the monitor (node filled in by the stream's opener), converted to 4:2:0 and encoded
 * with the same settings as on X11, as RTP to the pipeline's port.
 */
export function gstPipelineArgs(plan: CapturePlan, rtpPort: number, desktop = 'GNOME'): string[] {
  const encoder = plan.encoder.encoder
  const element =
    encoder === 'libx264'
      ? x264Element(plan)
      : encoder === 'libvpx'
        ? vpxElement(plan, 'VP8')
        : encoder === 'libvpx-vp9'
          ? vpxElement(plan, 'VP9')
          : undefined
  if (!element) {
    throw new SmolDeskError(
      'UNSUPPORTED_ON_BACKEND',
      `${encoder} is not available on ${desktop} (GStreamer capture)`,
    )
  }
  const pixelFormat = plan.config.advanced.pixel_format ?? 'yuv420p'
  if (pixelFormat !== 'yuv420p') {
    throw new SmolDeskError(
      'UNSUPPORTED_ON_BACKEND',
      `pixel format ${pixelFormat} is not available on ${desktop}`,
    )
  }
  // biome-ignore format: one element per line
  return [
    '-q',
    'pipewiresrc', 'path=@NODE@', 'do-timestamp=true', `keepalive-time=${KEEPALIVE_MS}`, 'always-copy=true', '!',
    ...rateCap(plan.config.fps),
    'videoconvert', '!',
    'video/x-raw,format=I420', '!',
    ...element, 'pt=96', `mtu=${RTP_PACKET_BYTES}`, '!',
    'udpsink', 'host=127.0.0.1', `port=${rtpPort}`, 'sync=false', 'async=false',
  ]
}

/** SmolDesk's PipeWire consumer (gnome/helper/smoldesk-pw-grab.c, built by `./smoldesk setup`). */
export const PW_GRAB_BINARY = resolve(import.meta.dirname, '../../../.build/smoldesk-pw-grab')
/** The same consumer with libvpx (VP8). */
export const PW_GRAB_VP8_BINARY = resolve(import.meta.dirname, '../../../.build/smoldesk-pw-grab-vp8')

/**
 * How a monitor's PipeWire stream is reached: the program line (with
 * `@NODE@` where the stream's node goes) as the process to run. mutter
 * records a monitor for each process (its helper runs the program on the
 * new stream); the portal has one stream per monitor for the session, and
 * the node is filled in at once.
 */
export type StreamOpener = (
  output: string,
  program: readonly string[],
) => { executable: string; args: string[] }

/**
 * Grabbing a monitor that a compositor hands out as a PipeWire stream
 * (mutter's ScreenCast API, the desktop portal): SmolDesk's own consumer
 * for H.264 and VP8 in software (frames as the compositor sends them on
 * change, an IDR on request, the path's ceilings live, one frame a second
 * on a still screen), and GStreamer for VP9 and whenever the consumer
 * cannot start (for the rest of this
 * source's life, as on X11).
 */
export class PipeWireCaptureSource extends HelperFirstSource {
  readonly #desktop: string
  readonly #env: Record<string, string>
  readonly #open: StreamOpener

  /** `desktop` names it in errors ("GNOME", "the desktop portal"). */
  constructor(desktop: string, env: Record<string, string>, open: StreamOpener) {
    super('smoldesk-pw-grab', () => log.warn('the PipeWire capture helper failed to start; trying GStreamer'))
    this.#desktop = desktop
    this.#env = env
    this.#open = open
  }

  command(plan: CapturePlan, rtpPort: number): EncoderCommand {
    if (!/^[\w.-]+$/.test(plan.output)) {
      throw new SmolDeskError('MONITOR_NOT_FOUND', `no ${this.#desktop} monitor is called ${plan.output}`)
    }
    const helper = this.helperUsable
      ? helperFor(plan, { h264: PW_GRAB_BINARY, vp8: PW_GRAB_VP8_BINARY })
      : undefined
    if (helper && existsSync(helper.binary)) {
      return {
        program: 'smoldesk-pw-grab',
        ...this.#open(plan.output, [helper.binary, '--node', '@NODE@', ...helper.encoder]),
        env: this.#env,
        output: 'frames',
        // The consumer reads the pipeline's requests from its stdin (shared with mutter's helper there).
        keyframeOnRequest: true,
        rateOnRequest: true,
        shrinkOnRequest: true,
        pauseOnRequest: true,
        onChange: true,
      }
    }
    return {
      program: 'gst-launch-1.0',
      ...this.#open(plan.output, ['gst-launch-1.0', ...gstPipelineArgs(plan, rtpPort, this.#desktop)]),
      env: this.#env,
      output: 'rtp',
      // gst-launch cannot be asked for an IDR: a viewer that needs a keyframe gets a fresh
      // encoder (its first frame is one), which starts with a full frame.
      keyframeOnRequest: false,
      restartForKeyframe: true,
      onChange: true,
    }
  }
}
