import { z } from 'zod'
import {
  HardwareAccelerationSchema,
  type ScreenCaptureConfig,
  StreamSummarySchema,
  VideoCodecSchema,
} from './capture-config.ts'
import { ErrorCodeSchema } from './errors.ts'

/*
 * The session channel: what a viewer's toolbar needs from the host and may
 * ask of it. The host sends `session` whenever something in it changes; the
 * viewer asks to switch monitor or stream settings (`select-monitor`,
 * `set-stream`) and gets `result` with the same id. JSON control frames of
 * the clipboard/files framing, each parsed by this schema on arrival.
 */
export const SESSION_CHANNEL = 'session'

/**
 * Stream presets a viewer can pick: what a person chooses between ("sharp"
 * or "fast"), mapped onto capture settings here and nowhere else.
 */
export const STREAM_PRESETS = {
  /** Lowest latency and smooth motion: 60 fps, a little less detail. */
  fast: { fps: 60, quality: 70, latency_mode: 'UltraLow' },
  /** What the host starts with (CAPTURE_DEFAULTS): 30 fps, zero-latency encoding. */
  balanced: { fps: 30, quality: 80, latency_mode: 'UltraLow' },
  /** Text stays crisp; a few frames of encoder buffering. */
  sharp: { fps: 30, quality: 92, latency_mode: 'Quality' },
} as const satisfies Record<string, ScreenCaptureConfig>
export type StreamPreset = keyof typeof STREAM_PRESETS
export const StreamPresetSchema = z.enum(['fast', 'balanced', 'sharp'])

/** Which preset a running configuration is, if it is one. */
export function presetOf(config: {
  fps: number
  quality: number
  latency_mode: string
}): StreamPreset | null {
  for (const [name, preset] of Object.entries(STREAM_PRESETS)) {
    if (
      preset.fps === config.fps &&
      preset.quality === config.quality &&
      preset.latency_mode === config.latency_mode
    )
      return name as StreamPreset
  }
  return null
}

export const SessionStateSchema = z.strictObject({
  type: z.literal('session'),
  monitors: z
    .array(
      z.strictObject({
        index: z.number().int().min(0),
        name: z.string().max(200),
        width: z.number().int().min(1),
        height: z.number().int().min(1),
        is_primary: z.boolean(),
        /** The host's scale for this monitor (2 on a HiDPI desktop). */
        scale_factor: z.number().positive().max(16),
      }),
    )
    .max(64),
  /** What is being streamed, or null when sharing is stopped. */
  stream: StreamSummarySchema.extend({
    preset: StreamPresetSchema.nullable(),
    /**
     * The picture's whole size, where the host may send it smaller
     * (congestion control's last step halves it on a narrow path): the
     * viewer maps pointer positions from the video's size to this one.
     * Absent: the video's own size is the whole picture.
     */
    full_width: z.number().int().min(1).max(100_000).optional(),
    full_height: z.number().int().min(1).max(100_000).optional(),
  }).nullable(),
  /** The host's probed choices: only these are offered. */
  codecs: z.array(VideoCodecSchema).max(8),
  hardware_accelerations: z.array(HardwareAccelerationSchema).max(8),
  /** Whether this viewer may change the stream (viewers may; view-only watchers may not). */
  can_control: z.boolean(),
  /** The host's remote-input switch. */
  input_enabled: z.boolean(),
  /** Whether the desktop's sound comes with the picture (a track is always there; it is silent when off). */
  audio: z.strictObject({ streaming: z.boolean(), reason: z.string().max(500).optional() }),
  /** Whether this viewer's microphone may reach the desktop (the host allows it per viewer). */
  microphone_allowed: z.boolean(),
  /**
   * Whether a `resize` would give the watched monitor this viewer's window
   * size: allowed, not allowed by the host (a screen of its own), or not
   * possible (a real screen's modes, a display that cannot).
   */
  resize: z.enum(['allowed', 'not-allowed', 'unsupported']),
  /**
   * A viewer token for this viewer's current role: after a network drop it
   * joins again with it, so a viewer the host approved once is not asked
   * about again (and a demoted one comes back demoted).
   */
  rejoin_token: z.string().max(4096).optional(),
})
export type SessionState = z.infer<typeof SessionStateSchema>

const RequestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

export const SessionRequestSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('select-monitor'),
    id: RequestId,
    monitor_index: z.number().int().min(0).max(63),
  }),
  z.strictObject({
    type: z.literal('set-stream'),
    id: RequestId,
    preset: StreamPresetSchema.optional(),
    codec: VideoCodecSchema.optional(),
    hardware_acceleration: HardwareAccelerationSchema.optional(),
  }),
  /** The watched monitor takes this size (the viewer's window in device pixels); clamped by the host. */
  z.strictObject({
    type: z.literal('resize'),
    id: RequestId,
    width: z.number().int().min(0).max(100_000),
    height: z.number().int().min(0).max(100_000),
  }),
])
export type SessionRequest = z.infer<typeof SessionRequestSchema>

export const SessionResultSchema = z.strictObject({
  type: z.literal('result'),
  id: RequestId,
  error: z.strictObject({ code: ErrorCodeSchema, message: z.string().max(1000) }).optional(),
})
export type SessionResult = z.infer<typeof SessionResultSchema>

/**
 * The host ends this viewer's session (a kick): sent on the session channel
 * just before the peer connection closes, so the page says why at once and
 * does not try to reconnect (signaling says the same, but may be slower).
 */
export const SessionByeSchema = z.strictObject({
  type: z.literal('bye'),
  code: ErrorCodeSchema,
  message: z.string().max(1000),
})

/** What the host may send on the session channel. */
export const SessionToViewerSchema = z.discriminatedUnion('type', [
  SessionStateSchema,
  SessionResultSchema,
  SessionByeSchema,
])
export type SessionToViewer = z.infer<typeof SessionToViewerSchema>
