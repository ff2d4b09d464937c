import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { CapturePlan, EncoderCommand } from '../../../capture/capture-source.ts'
import {
  extraParams,
  qualityToCrf,
  rateControlMode,
  vbvBufferKbit,
  x264Defaults,
  x264Tweaks,
} from '../../../capture/encoder-args.ts'

/*
 * SmolDesk's own capture helper (smoldesk-grab.c, built by `./smoldesk
 * setup`): grabs when the X server reports damage instead of on a fixed
 * clock, and makes an IDR frame when asked instead of being restarted. It
 * covers H.264 in software (libx264) with 4:2:0 output, the default and the
 * common case; anything else goes through ffmpeg.
 */

export const GRAB_BINARY = resolve(import.meta.dirname, '../../../../.build/smoldesk-grab')

/** Whether the helper captures: wanted (HostOptions.captureHelper; off compares with ffmpeg's fixed rate) and built here. */
export function grabEnabled(wanted: boolean): boolean {
  return wanted && existsSync(GRAB_BINARY)
}

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
  const vbv = vbvBufferKbit(config)
  if (kbps !== undefined && vbv !== undefined) params.push(`vbv-maxrate=${kbps}`, `vbv-bufsize=${vbv}`)
  if (mode === 'CBR') params.push('nal-hrd=cbr')
  for (const p of extraParams(config)) params.push(`${p.x264}=${p.value}`)
  return params
}

/** The helper's command line for a plan, or undefined when the plan needs ffmpeg. */
export function buildGrabArgs(plan: CapturePlan, display: string): string[] | undefined {
  const { config, region } = plan
  if (plan.encoder.encoder !== 'libx264') return undefined
  if (config.advanced.pixel_format === 'yuv444p') return undefined
  const defaults = x264Defaults(config.latencyMode)
  const tune = config.advanced.tune ?? defaults.tune
  return [
    '--display',
    display,
    '--region',
    `${region.x},${region.y},${region.width},${region.height}`,
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

/** The helper as the pipeline runs it, or undefined when the plan needs ffmpeg. */
export function grabCommand(plan: CapturePlan, display: string): EncoderCommand | undefined {
  const args = buildGrabArgs(plan, display)
  if (!args) return undefined
  return {
    program: 'smoldesk-grab',
    executable: GRAB_BINARY,
    args,
    output: 'frames',
    keyframeOnRequest: true,
    // Quality mode's encoder holds frames back: the helper feeds it at a steady rate instead.
    onChange: plan.config.latencyMode !== 'Quality',
  }
}
