import type { CapturePlan } from './capture-source.ts'
import {
  extraParams,
  qualityToCrf,
  rateControlMode,
  vbvBufferKbit,
  x264Defaults,
  x264Tweaks,
} from './encoder-args.ts'

/**
 * The VBV ceiling of a helper's encoder when the config sets no bitrate.
 * VBV is always on in the helpers: x264 can change a VBV rate while it
 * runs (congestion control), but cannot turn VBV on after it opened. As a
 * ceiling of constant quality this much caps nothing a desktop makes
 * (1080p60 with every pixel changing: 26 Mbit/s measured).
 */
export const HELPER_VBV_CEILING_KBPS = 60_000

/** x264 settings for a config, as `key=value` for x264_param_parse (values were range-checked by the schema). */
function x264Params(plan: CapturePlan): string[] {
  const { config } = plan
  const gop = config.keyframeIntervalFrames
  const params = [`keyint=${gop}`, `min-keyint=${gop}`, ...x264Tweaks(config)]
  if (config.latencyMode !== 'Quality') params.push('bframes=0')
  const mode = rateControlMode(config)
  const kbps = config.bitrateKbps
  if (mode === 'CRF') params.push(`crf=${qualityToCrf('H264', config.quality)}`)
  else params.push(`bitrate=${kbps}`)
  const ceiling = kbps ?? HELPER_VBV_CEILING_KBPS
  const vbv = vbvBufferKbit({ ...config, bitrateKbps: ceiling }) ?? ceiling
  params.push(`vbv-maxrate=${ceiling}`, `vbv-bufsize=${vbv}`)
  if (mode === 'CBR') params.push('nal-hrd=cbr')
  for (const p of extraParams(config)) params.push(`${p.x264}=${p.value}`)
  return params
}

/**
 * The rate, cursor and libx264 options of SmolDesk's capture helpers
 * (smoldesk-grab, smoldesk-wl-grab: x264-records.h), the same x264 settings
 * as ffmpeg's; undefined when the plan is not theirs to run (another codec,
 * or 4:4:4, which they do not convert to).
 */
export function x264HelperArgs(plan: CapturePlan): string[] | undefined {
  const { config } = plan
  if (plan.encoder.encoder !== 'libx264') return undefined
  if (config.advanced.pixel_format === 'yuv444p') return undefined
  const defaults = x264Defaults(config.latencyMode)
  const tune = config.advanced.tune ?? defaults.tune
  return [
    '--fps',
    String(config.fps),
    '--cursor',
    config.captureCursor ? '1' : '0',
    '--preset',
    config.advanced.preset ?? defaults.preset,
    ...(tune ? ['--tune', tune] : []),
    ...(config.advanced.profile ? ['--profile', config.advanced.profile] : []),
    ...x264Params(plan).flatMap((p) => ['--param', p]),
  ]
}
