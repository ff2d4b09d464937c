import type { ResolvedCaptureConfig, VideoCodec } from '@smoldesk/protocol'
import { SmolDeskError } from '@smoldesk/protocol'
import type { CapturePlan, EncoderCommand } from './capture-source.ts'

/** A plan as ffmpeg's x11grab runs it: the X display, and where its RTP goes. */
export interface EncodePlan extends CapturePlan {
  display: string
  rtpPort: number
  payloadType: number
}

/** RTP payloads stay below a typical path MTU once SRTP and the UDP/IP headers are added. */
export const RTP_PACKET_BYTES = 1200

/*
 * quality (0–100) → constant-quality value. Documented mapping:
 *   H264 (x264 CRF, 0–51):   crf = round(45 − 0.3 × quality)   → q80 = 21, q50 = 30, q100 = 15
 *   VP8/VP9/AV1 (0–63):      crf = round(60 − 0.5 × quality)   → q80 = 20, q50 = 35, q100 = 10
 * Lower values mean better pictures and more bits.
 */
export function qualityToCrf(codec: VideoCodec, quality: number): number {
  if (codec === 'H264') return Math.round(45 - 0.3 * quality)
  return Math.round(60 - 0.5 * quality)
}

/**
 * VBV (rate buffer) size for a bitrate cap, sized by latency mode: one
 * frame's worth for UltraLow (no queueing behind a big frame), half a second
 * for Balanced, two seconds for Quality.
 */
export function vbvBufferKbit(config: ResolvedCaptureConfig): number | undefined {
  const kbps = config.bitrateKbps
  if (kbps === undefined) return undefined
  switch (config.latencyMode) {
    case 'UltraLow':
      return Math.max(1, Math.round(kbps / config.fps))
    case 'Balanced':
      return Math.round(kbps / 2)
    case 'Quality':
      return kbps * 2
  }
}

/** Encoder settings that follow from the latency mode unless advanced_options say otherwise. */
export function x264Defaults(mode: ResolvedCaptureConfig['latencyMode']): {
  preset: string
  tune: string | undefined
} {
  switch (mode) {
    case 'UltraLow':
      return { preset: 'ultrafast', tune: 'zerolatency' }
    case 'Balanced':
      return { preset: 'veryfast', tune: 'zerolatency' }
    case 'Quality':
      return { preset: 'medium', tune: undefined }
  }
}

/*
 * x264's ultrafast preset leaves 4×4 intra prediction out of P-frames,
 * which costs it almost nothing to try and saves bits wherever a frame has
 * new edges (text, drawn shapes). Measured on 1080p60 recordings of the
 * three benchmark scenes at CRF 21: P-frames 19 % smaller on rectangles, 9 %
 * on the panning photo, 4 % on scrolling text, at equal or higher PSNR, with
 * encoder time within noise. CABAC would save another 15–20 % on P-frames,
 * but a 1080p keyframe of text (≈ 0.8 MB) then took the browser's decoder so
 * long (receiver decode 1.9 → 9.5 ms a frame on average with a 30-frame GOP)
 * that the 1080p60 stream froze 16 times in 10 s; it also makes the stream
 * Main profile, not the Constrained Baseline the SDP announces. Only with
 * UltraLow's default preset: a preset the user picked is kept as is. The
 * capture helper also uses 4×4 intra in keyframes (x264 has no parameter
 * for that, so ffmpeg's keyframes go without): 1080p60 at a 30-frame GOP,
 * scrolling text 17.5–18.4 → 15.7–16.5 Mbit/s, rectangles 9.2 → 8.7.
 */
export function x264Tweaks(config: ResolvedCaptureConfig): string[] {
  if (config.latencyMode !== 'UltraLow' || config.advanced.preset !== undefined) return []
  return ['partitions=i4x4']
}

/** The rate-control mode of a config; VBR and CBR need a bitrate (INVALID_ARGS otherwise). */
export function rateControlMode(config: ResolvedCaptureConfig): 'CRF' | 'VBR' | 'CBR' {
  const mode = config.advanced.rate_control ?? 'CRF'
  if (mode !== 'CRF' && config.bitrateKbps === undefined) {
    throw new SmolDeskError('INVALID_ARGS', `advanced_options.rate_control ${mode} needs a bitrate`)
  }
  return mode
}

/** libvpx's speed for a latency mode (cpu-used: higher is faster and coarser); ffmpeg and smoldesk-grab-vp8 alike. */
export function vpxCpuUsed(mode: ResolvedCaptureConfig['latencyMode']): number {
  return mode === 'UltraLow' ? 8 : mode === 'Balanced' ? 6 : 4
}

function rateControlArgs(config: ResolvedCaptureConfig, codec: VideoCodec): string[] {
  const mode = rateControlMode(config)
  const kbps = config.bitrateKbps
  const vbv = vbvBufferKbit(config)
  const crf = String(qualityToCrf(codec, config.quality))
  const cap = kbps !== undefined && vbv !== undefined ? ['-maxrate', `${kbps}k`, '-bufsize', `${vbv}k`] : []
  if (codec === 'H264') {
    if (mode === 'CRF') return ['-crf', crf, ...cap]
    if (mode === 'VBR') return ['-b:v', `${kbps}k`, ...cap]
    return ['-b:v', `${kbps}k`, ...cap, '-minrate', `${kbps}k`]
  }
  // libvpx: constant quality with -b:v as the ceiling (0 = none, VP9 only); VBR/CBR by end-usage.
  if (mode === 'CRF')
    return ['-crf', crf, '-b:v', kbps !== undefined ? `${kbps}k` : codec === 'VP8' ? '50M' : '0', ...cap]
  if (mode === 'VBR') return ['-b:v', `${kbps}k`, ...cap]
  return ['-b:v', `${kbps}k`, '-minrate', `${kbps}k`, ...cap]
}

/**
 * Each allowed extra parameter with its ffmpeg option and its x264 name (the
 * capture helper passes those to x264_param_parse); the values were
 * range-checked by the protocol schema. One table, so the two encoders'
 * command lines cannot drift apart.
 */
const EXTRA_PARAMS = [
  ['bf', '-bf', 'bframes'],
  ['refs', '-refs', 'ref'],
  ['threads', '-threads', 'threads'],
  ['slices', '-slices', 'slices'],
  ['rc-lookahead', '-rc-lookahead', 'rc-lookahead'],
  ['aq-mode', '-aq-mode', 'aq-mode'],
  ['intra-refresh', '-intra-refresh', 'intra-refresh'],
  ['sc-threshold', '-sc_threshold', 'scenecut'],
] as const

/** The extra parameters a config sets, in a fixed order, with values as text (booleans as 1/0). */
export function extraParams(
  config: ResolvedCaptureConfig,
): { ffmpeg: string; x264: string; value: string }[] {
  const extra = config.advanced.extra_params ?? {}
  return EXTRA_PARAMS.flatMap(([key, ffmpeg, x264]) => {
    const v = extra[key]
    if (v === undefined) return []
    return [{ ffmpeg, x264, value: typeof v === 'boolean' ? (v ? '1' : '0') : String(v) }]
  })
}

export function extraParamArgs(config: ResolvedCaptureConfig): string[] {
  return extraParams(config).flatMap((p) => [p.ffmpeg, p.value])
}

export function codecArgs(config: ResolvedCaptureConfig, encoder: string): string[] {
  const gop = String(config.keyframeIntervalFrames)
  const adv = config.advanced
  switch (encoder) {
    case 'libx264': {
      const defaults = x264Defaults(config.latencyMode)
      const tune = adv.tune ?? defaults.tune
      const bframes = config.latencyMode === 'Quality' ? [] : ['-bf', '0']
      const x264 = [...x264Tweaks(config), ...(rateControlMode(config) === 'CBR' ? ['nal-hrd=cbr'] : [])]
      return [
        '-c:v',
        'libx264',
        '-preset',
        adv.preset ?? defaults.preset,
        ...(tune ? ['-tune', tune] : []),
        ...(adv.profile ? ['-profile:v', adv.profile] : []),
        '-g',
        gop,
        '-keyint_min',
        gop,
        ...bframes,
        ...rateControlArgs(config, 'H264'),
        ...(x264.length > 0 ? ['-x264-params', x264.join(':')] : []),
      ]
    }
    case 'libvpx':
    case 'libvpx-vp9': {
      const cpuUsed = String(vpxCpuUsed(config.latencyMode))
      const codec: VideoCodec = encoder === 'libvpx' ? 'VP8' : 'VP9'
      return [
        '-c:v',
        encoder,
        '-deadline',
        'realtime',
        '-cpu-used',
        cpuUsed,
        '-lag-in-frames',
        '0',
        '-error-resilient',
        '1',
        '-g',
        gop,
        '-keyint_min',
        gop,
        ...(encoder === 'libvpx-vp9' ? ['-row-mt', '1', '-tile-columns', '1'] : []),
        ...rateControlArgs(config, codec),
      ]
    }
    case 'libsvtav1': {
      const preset = config.latencyMode === 'UltraLow' ? '12' : config.latencyMode === 'Balanced' ? '10' : '8'
      const kbps = config.bitrateKbps
      return [
        '-c:v',
        'libsvtav1',
        '-preset',
        preset,
        // Low-delay prediction: random access would hold frames back for about a second.
        '-svtav1-params',
        'pred-struct=1',
        '-g',
        gop,
        ...(kbps !== undefined
          ? ['-b:v', `${kbps}k`]
          : ['-crf', String(qualityToCrf('AV1', config.quality))]),
      ]
    }
    default:
      throw new SmolDeskError('CODEC_UNSUPPORTED', `SmolDesk cannot stream with encoder ${encoder}`)
  }
}

/** Encoders SmolDesk can stream: ffmpeg packetizes H264/VP8/VP9; AV1 is packetized by av1-rtp.ts. */
export const STREAMABLE_ENCODERS = new Set(['libx264', 'libvpx', 'libvpx-vp9', 'libsvtav1'])

/** ffmpeg grabbing an X display: RTP on loopback, or AV1 OBUs on stdout (ffmpeg 5.1 cannot packetize AV1). */
export function ffmpegCommand(plan: EncodePlan): EncoderCommand {
  return {
    program: 'ffmpeg',
    executable: 'ffmpeg',
    args: buildFfmpegArgs(plan),
    output: plan.encoder.codec === 'AV1' ? 'obu' : 'rtp',
    keyframeOnRequest: false,
    onChange: false,
  }
}

/**
 * The ffmpeg command line for one capture: x11grab of exactly the monitor's
 * rectangle → encoder → RTP on loopback. Every value comes from the
 * validated config or from SmolDesk itself; arguments are passed as an
 * array, never through a shell.
 */
export function buildFfmpegArgs(plan: EncodePlan): string[] {
  const { config, region } = plan
  // 4:2:0 needs even dimensions; a monitor of odd size loses its last column/row.
  const width = region.width - (region.width % 2)
  const height = region.height - (region.height % 2)
  const pixelFormat = config.advanced.pixel_format ?? 'yuv420p'
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-fflags',
    'nobuffer',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-f',
    'x11grab',
    '-framerate',
    String(config.fps),
    '-video_size',
    `${width}x${height}`,
    '-draw_mouse',
    config.captureCursor ? '1' : '0',
    '-i',
    `${plan.display}+${region.x},${region.y}`,
    // An explicit output rate: without it ffmpeg 5.1 stamps x11grab frames above ~60 fps 1–3 RTP
    // ticks apart (instead of 90000/fps), and the browser decodes hundreds of "frames" a second.
    '-r',
    String(config.fps),
    '-pix_fmt',
    pixelFormat,
    ...codecArgs(config, plan.encoder.encoder),
    ...extraParamArgs(config),
    '-an',
    ...(plan.encoder.codec === 'AV1'
      ? // Raw OBUs on stdout, flushed per frame; SmolDesk packetizes them (ffmpeg 5.1 cannot).
        ['-flush_packets', '1', '-f', 'obu', 'pipe:1']
      : [
          '-strict',
          'experimental', // ffmpeg marks its VP9 RTP packetizer experimental
          '-f',
          'rtp',
          '-payload_type',
          String(plan.payloadType),
          `rtp://127.0.0.1:${plan.rtpPort}?pkt_size=${RTP_PACKET_BYTES}&rtcpport=${plan.rtpPort}`,
        ]),
  ]
}
