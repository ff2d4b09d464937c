import { z } from 'zod'
import { AudioStreamSchema } from './audio.ts'
import { ErrorCodeSchema } from './errors.ts'
import { VerifiedIdentitySchema, ViewerRoleSchema } from './signaling.ts'
import { TransferDirectionSchema } from './transfer-messages.ts'

const TransferRef = { transferId: z.string(), name: z.string() }

/** Every event the host emits, with its payload. */
export const EVENTS = {
  'transfer-started': z.strictObject({
    ...TransferRef,
    size: z.number().int().min(0),
    direction: TransferDirectionSchema,
  }),
  /** A viewer offers a file; answer with accept_transfer or reject_transfer (unless auto-accept is on). */
  'transfer-offered': z.strictObject({ ...TransferRef, size: z.number().int().min(0), peer_id: z.string() }),
  'transfer-progress': z.strictObject({
    ...TransferRef,
    bytes: z.number().int().min(0),
    size: z.number().int().min(0),
    rate_bytes_per_s: z.number().min(0),
    eta_s: z.number().min(0).nullable(),
  }),
  'transfer-completed': z.strictObject({ ...TransferRef, sha256: z.string() }),
  'transfer-error': z.strictObject({ ...TransferRef, code: ErrorCodeSchema, message: z.string() }),
  'clipboard-changed': z.strictObject({
    type: z.enum(['text', 'image']),
    size: z.number().int().min(0),
    text: z.string().optional(),
  }),
  /** The effective settings, after defaults and the latency mode were applied. */
  'capture-started': z.strictObject({
    monitor_index: z.number().int().min(0),
    x: z.number().int(),
    y: z.number().int(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    fps: z.number().positive(),
    codec: z.string(),
    encoder: z.string(),
    hardware_acceleration: z.string(),
    quality: z.number().int(),
    crf: z.number().int(),
    bitrate_kbps: z.number().int().nullable(),
    vbv_buffer_kbit: z.number().int().nullable(),
    latency_mode: z.string(),
    keyframe_interval_frames: z.number().int(),
    capture_cursor: z.boolean(),
    /**
     * What grabs and encodes: SmolDesk's damage-driven X11 helper, ffmpeg
     * (x11grab), wf-recorder (wlroots screencopy) or GStreamer (a PipeWire
     * stream from mutter).
     */
    encoder_command: z.enum([
      'smoldesk-grab',
      'smoldesk-wl-grab',
      'smoldesk-pw-grab',
      'ffmpeg',
      'wf-recorder',
      'gst-launch-1.0',
    ]),
    /** Its exact arguments (the RTP port of ffmpeg's output shows as 0). */
    encoder_args: z.array(z.string()),
    /** The desktop's sound going to viewers with it (null: none, `audio_unavailable` says why). */
    audio: AudioStreamSchema.nullable(),
    audio_unavailable: z.string().optional(),
  }),
  /** The desktop's sound started or stopped (set_audio_enabled, the helper failing or coming back). */
  'audio-changed': z.strictObject({
    audio: AudioStreamSchema.nullable(),
    reason: z.string(),
  }),
  /** A viewer's microphone started or stopped reaching the desktop (talking: its level is above silence). */
  'microphone-changed': z.strictObject({
    viewerId: z.string(),
    allowed: z.boolean(),
    talking: z.boolean(),
  }),
  'capture-stopped': z.strictObject({ reason: z.string() }),
  'viewer-connected': z.strictObject({
    viewerId: z.string(),
    name: z.string().optional(),
    role: ViewerRoleSchema.optional(),
    /** Whom the viewer signed in as with the organisation's identity provider (single sign-on). */
    identity: VerifiedIdentitySchema.optional(),
  }),
  'viewer-disconnected': z.strictObject({ viewerId: z.string(), reason: z.string() }),
  /** A viewer without a valid token asks to join; answer with approve_viewer or deny_viewer. */
  'viewer-join-request': z.strictObject({
    viewerId: z.string(),
    role: ViewerRoleSchema,
    /** Why its token did not admit it (TOKEN_REQUIRED, TOKEN_EXPIRED, TOKEN_INVALID; SIGNED_IN: allowed, approval asked). */
    reason: z.string(),
    identity: VerifiedIdentitySchema.optional(),
  }),
  error: z.strictObject({ code: ErrorCodeSchema, message: z.string(), source: z.string() }),
} as const satisfies Record<string, z.ZodType>

export type EventName = keyof typeof EVENTS
export type EventPayload<E extends EventName> = z.infer<(typeof EVENTS)[E]>
export const EVENT_NAMES = Object.keys(EVENTS) as EventName[]
export const EventNameSchema = z.enum(EVENT_NAMES as [EventName, ...EventName[]])

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(EVENTS, name)
}
