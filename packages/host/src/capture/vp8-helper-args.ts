import type { CapturePlan } from './capture-source.ts'
import { extraParams, qualityToCrf, rateControlMode, vbvBufferKbit, vpxCpuUsed } from './encoder-args.ts'
import { HELPER_VBV_CEILING_KBPS } from './x264-helper-args.ts'

/**
 * The rate, cursor and libvpx options of smoldesk-grab-vp8 (vp8-records.h):
 * the VP8 settings ffmpeg's command line has (encoder-args.ts), so that the
 * helper and ffmpeg make the same stream. Undefined when the plan is not its
 * to run: another encoder, 4:4:4, or an extra parameter other than threads
 * (those are x264's; ffmpeg takes them as it always did).
 *
 * Constant quality keeps a bitrate ceiling (the configured bitrate, else
 * HELPER_VBV_CEILING_KBPS, which caps nothing a desktop makes): the path's
 * ceilings are applied below it while the helper runs.
 */
export function vp8HelperArgs(plan: CapturePlan): string[] | undefined {
  const { config } = plan
  if (plan.encoder.encoder !== 'libvpx') return undefined
  if (config.advanced.pixel_format === 'yuv444p') return undefined
  const extra = extraParams(config)
  if (extra.some((p) => p.x264 !== 'threads')) return undefined
  const threads = extra.find((p) => p.x264 === 'threads')?.value
  const mode = rateControlMode(config)
  const kbps = config.bitrateKbps
  const vbv = vbvBufferKbit(config)
  return [
    '--fps',
    String(config.fps),
    '--cursor',
    config.captureCursor ? '1' : '0',
    '--cpu-used',
    String(vpxCpuUsed(config.latencyMode)),
    '--gop',
    String(config.keyframeIntervalFrames),
    '--end-usage',
    mode === 'CRF' ? 'cq' : mode === 'VBR' ? 'vbr' : 'cbr',
    ...(mode === 'CRF' ? ['--cq-level', String(qualityToCrf('VP8', config.quality))] : []),
    '--kbps',
    String(kbps ?? HELPER_VBV_CEILING_KBPS),
    // The rate buffer as ffmpeg's -bufsize sizes it for the latency mode, in libvpx's milliseconds.
    ...(kbps !== undefined && vbv !== undefined
      ? ['--buffer-ms', String(Math.max(1, Math.round((vbv / kbps) * 1000)))]
      : []),
    ...(threads !== undefined && threads !== '0' ? ['--threads', threads] : []),
  ]
}
