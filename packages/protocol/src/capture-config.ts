import { z } from 'zod'

export const VIDEO_CODECS = ['H264', 'VP8', 'VP9', 'AV1'] as const
export const VideoCodecSchema = z.enum(VIDEO_CODECS)
export type VideoCodec = z.infer<typeof VideoCodecSchema>

export const HARDWARE_ACCELERATIONS = ['None', 'VAAPI', 'NVENC', 'QuickSync'] as const
export const HardwareAccelerationSchema = z.enum(HARDWARE_ACCELERATIONS)
export type HardwareAcceleration = z.infer<typeof HardwareAccelerationSchema>

export const LatencyModeSchema = z.enum(['UltraLow', 'Balanced', 'Quality'])
export type LatencyMode = z.infer<typeof LatencyModeSchema>

export const RateControlSchema = z.enum(['CRF', 'VBR', 'CBR'])

/*
 * Allow-lists for everything that could end up on an encoder's command line.
 * A value outside these lists is refused with INVALID_ARGS naming the field:
 * nothing from a viewer or the API reaches ffmpeg unchecked.
 */
export const PIXEL_FORMATS = ['yuv420p', 'nv12', 'yuv444p'] as const
export const PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const
export const TUNES = [
  'zerolatency',
  'film',
  'animation',
  'grain',
  'stillimage',
  'fastdecode',
  'psnr',
  'ssim',
] as const
export const PROFILES = ['baseline', 'main', 'high', 'high444'] as const

/** Encoder parameters a caller may add, each with the only values it may take. */
export const EXTRA_PARAMS = {
  bf: z.number().int().min(0).max(4),
  refs: z.number().int().min(1).max(16),
  threads: z.number().int().min(0).max(64),
  slices: z.number().int().min(0).max(32),
  'rc-lookahead': z.number().int().min(0).max(250),
  'aq-mode': z.number().int().min(0).max(3),
  'intra-refresh': z.boolean(),
  'sc-threshold': z.number().int().min(0).max(100),
} as const
export type ExtraParamName = keyof typeof EXTRA_PARAMS

export const AdvancedOptionsSchema = z.strictObject({
  pixel_format: z.enum(PIXEL_FORMATS).optional(),
  preset: z.enum(PRESETS).optional(),
  tune: z.enum(TUNES).optional(),
  profile: z.enum(PROFILES).optional(),
  rate_control: RateControlSchema.optional(),
  extra_params: z.strictObject(EXTRA_PARAMS).partial().optional(),
})
export type AdvancedOptions = z.infer<typeof AdvancedOptionsSchema>

/**
 * The wire form of a capture configuration. Every field is optional; the
 * defaults live in CAPTURE_DEFAULTS below and nowhere else.
 *
 * `keyframe_interval_frames` is the canonical name (the unit is in the name);
 * `keyframe_interval` is accepted for compatibility with the original
 * interface and means the same thing, in frames.
 */
export const ScreenCaptureConfigSchema = z
  .strictObject({
    monitor_index: z.number().int().min(0).optional(),
    fps: z.number().int().min(1).max(120).optional(),
    quality: z.number().int().min(0).max(100).optional(),
    codec: VideoCodecSchema.optional(),
    hardware_acceleration: HardwareAccelerationSchema.optional(),
    capture_cursor: z.boolean().optional(),
    /** The desktop's sound to every viewer; left out: on when a sound server answers. */
    capture_audio: z.boolean().optional(),
    /** Opus bitrate of the desktop's sound (kbit/s). */
    audio_bitrate_kbps: z.number().int().min(6).max(510).optional(),
    keyframe_interval_frames: z.number().int().min(1).max(600).optional(),
    keyframe_interval: z.number().int().min(1).max(600).optional(),
    bitrate: z.number().int().min(100).max(200_000).optional(),
    latency_mode: LatencyModeSchema.optional(),
    advanced_options: AdvancedOptionsSchema.optional(),
  })
  .refine(
    (c) =>
      c.keyframe_interval === undefined ||
      c.keyframe_interval_frames === undefined ||
      c.keyframe_interval === c.keyframe_interval_frames,
    { message: 'keyframe_interval and keyframe_interval_frames disagree', path: ['keyframe_interval'] },
  )
export type ScreenCaptureConfig = z.infer<typeof ScreenCaptureConfigSchema>

/** A capture configuration with every default applied; units are in the names. */
export interface ResolvedCaptureConfig {
  monitorIndex: number
  fps: number
  quality: number
  codec: VideoCodec
  hardwareAcceleration: HardwareAcceleration
  captureCursor: boolean
  /** 'auto': when a sound server answers (the default); true: asked for, and said so if none does. */
  captureAudio: boolean | 'auto'
  audioBitrateKbps: number
  keyframeIntervalFrames: number
  bitrateKbps: number | undefined
  latencyMode: LatencyMode
  advanced: AdvancedOptions
}

export const CAPTURE_DEFAULTS = {
  fps: 30,
  quality: 80,
  codec: 'H264',
  hardwareAcceleration: 'None',
  captureCursor: true,
  captureAudio: 'auto',
  /** Transparent for music and system sounds in stereo at 10 ms frames (where Opus needs more than at 20). */
  audioBitrateKbps: 128,
  keyframeIntervalFrames: 30,
  latencyMode: 'UltraLow',
} as const satisfies Partial<ResolvedCaptureConfig>

export function resolveCaptureConfig(
  monitorIndex: number,
  config: ScreenCaptureConfig,
): ResolvedCaptureConfig {
  return {
    monitorIndex: config.monitor_index ?? monitorIndex,
    fps: config.fps ?? CAPTURE_DEFAULTS.fps,
    quality: config.quality ?? CAPTURE_DEFAULTS.quality,
    codec: config.codec ?? CAPTURE_DEFAULTS.codec,
    hardwareAcceleration: config.hardware_acceleration ?? CAPTURE_DEFAULTS.hardwareAcceleration,
    captureCursor: config.capture_cursor ?? CAPTURE_DEFAULTS.captureCursor,
    captureAudio: config.capture_audio ?? CAPTURE_DEFAULTS.captureAudio,
    audioBitrateKbps: config.audio_bitrate_kbps ?? CAPTURE_DEFAULTS.audioBitrateKbps,
    keyframeIntervalFrames:
      config.keyframe_interval_frames ?? config.keyframe_interval ?? CAPTURE_DEFAULTS.keyframeIntervalFrames,
    bitrateKbps: config.bitrate,
    latencyMode: config.latency_mode ?? CAPTURE_DEFAULTS.latencyMode,
    advanced: config.advanced_options ?? {},
  }
}

/** What is being streamed, in the wire's words (host status, a viewer's session). */
export const StreamSummarySchema = z.strictObject({
  monitor_index: z.number().int().min(0),
  codec: VideoCodecSchema,
  hardware_acceleration: HardwareAccelerationSchema,
  fps: z.number().int(),
  quality: z.number().int(),
  latency_mode: LatencyModeSchema,
  /** `on-change`: grabbed when the screen changes (fps is a ceiling); `fixed-rate`: on a clock at fps. */
  capture: z.enum(['on-change', 'fixed-rate']),
})
export type StreamSummary = z.infer<typeof StreamSummarySchema>

export function summarizeStream(
  config: ResolvedCaptureConfig,
  capture: StreamSummary['capture'],
): StreamSummary {
  return {
    capture,
    monitor_index: config.monitorIndex,
    codec: config.codec,
    hardware_acceleration: config.hardwareAcceleration,
    fps: config.fps,
    quality: config.quality,
    latency_mode: config.latencyMode,
  }
}
