import { z } from 'zod'
import { AudioDevicesSchema, AudioStreamSchema } from './audio.ts'
import {
  HardwareAccelerationSchema,
  ScreenCaptureConfigSchema,
  StreamSummarySchema,
  VideoCodecSchema,
} from './capture-config.ts'
import { ClipboardEntrySchema } from './clipboard-messages.ts'
import { InputEventSchema, InputForwardingConfigSchema } from './input.ts'
import { DisplayServerSchema, MonitorInfoSchema } from './monitors.ts'
import { ClientIdSchema, VerifiedIdentitySchema, ViewerRoleSchema } from './signaling.ts'
import { TransferInfoSchema } from './transfer-messages.ts'

const NoArgs = z.strictObject({})
const Nothing = z.null()
const PeerId = z.strictObject({ peerId: ClientIdSchema })
const TransferId = z.strictObject({ transferId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) })

/** What a viewer may do besides watching; defaults follow its role (view-only: nothing). */
export const ViewerPermissionsSchema = z.strictObject({
  /** Receives the host's clipboard. */
  clipboard_read: z.boolean(),
  /** Sets the host's clipboard. */
  clipboard_write: z.boolean(),
  /** Sends files to the host. */
  file_upload: z.boolean(),
  /** Is sent files by the host. */
  file_download: z.boolean(),
  /** Its microphone plays into the desktop's "SmolDesk microphone" (off for everyone until the host allows it). */
  microphone: z.boolean(),
})
export type ViewerPermissions = z.infer<typeof ViewerPermissionsSchema>

export function defaultPermissions(role: 'viewer' | 'view-only'): ViewerPermissions {
  const may = role === 'viewer'
  return {
    clipboard_read: may,
    clipboard_write: may,
    file_upload: may,
    file_download: may,
    microphone: false,
  }
}

export const HostStatusSchema = z.strictObject({
  /** The X display being shared; null on Wayland or with no display. */
  display: z.string().nullable(),
  /** The display backend in words: "X11 :1", "sway (wayland-1)", "GNOME (mutter)", "no display". */
  backend: z.string(),
  room_id: z.string().nullable(),
  /** Where viewers open the app (the share link adds the room and a token). */
  viewer_url: z.string().nullable(),
  capture: StreamSummarySchema.nullable(),
  input_enabled: z.boolean(),
  password: z.boolean(),
  approval: z.boolean(),
  security_initialized: z.boolean(),
  download_dir: z.string(),
  /** Viewers may give the shared (virtual) monitor their window's size. */
  viewer_resize: z.boolean(),
  /** Single sign-on: the identity provider, and who may join once signed in (absent: off). */
  sso: z.strictObject({ issuer: z.string(), allow: z.array(z.string()), link_alone: z.boolean() }).optional(),
  /** The desktop's sound: switched on (set_audio_enabled), what goes to viewers, why nothing does. */
  audio: z.strictObject({
    enabled: z.boolean(),
    streaming: AudioStreamSchema.nullable(),
    unavailable: z.string().optional(),
  }),
})
export type HostStatus = z.infer<typeof HostStatusSchema>

/**
 * Every IPC command: its argument object (top-level names camelCase, as
 * Tauri passes them) and its result. Results are parsed on the client too,
 * so a host that answers out of contract is caught where it happens.
 */
export const COMMANDS = {
  get_display_server: { args: NoArgs, result: DisplayServerSchema },
  get_monitors: { args: NoArgs, result: z.array(MonitorInfoSchema) },
  start_capture: {
    args: z.strictObject({ monitorIndex: z.number().int().min(0), config: ScreenCaptureConfigSchema }),
    result: Nothing,
  },
  stop_capture: { args: NoArgs, result: Nothing },
  send_input_event: { args: z.strictObject({ event: InputEventSchema }), result: Nothing },
  set_input_enabled: { args: z.strictObject({ enabled: z.boolean() }), result: Nothing },
  configure_input_forwarding: {
    args: z.strictObject({ config: InputForwardingConfigSchema }),
    result: Nothing,
  },
  get_video_codecs: { args: NoArgs, result: z.array(VideoCodecSchema) },
  get_hardware_acceleration_options: { args: NoArgs, result: z.array(HardwareAccelerationSchema) },
  get_clipboard_text: { args: NoArgs, result: z.string() },
  set_clipboard_text: { args: z.strictObject({ text: z.string() }), result: Nothing },
  initialize_security: { args: z.strictObject({ secretKey: z.string() }), result: Nothing },
  // sound
  get_audio_devices: { args: NoArgs, result: AudioDevicesSchema },
  /** Turns the desktop's sound for viewers on or off, live (no viewer reconnects). */
  set_audio_enabled: {
    args: z.strictObject({ enabled: z.boolean() }),
    result: z.strictObject({ enabled: z.boolean(), streaming: AudioStreamSchema.nullable() }),
  },
  /** Whether a viewer's microphone reaches the desktop (everyone's is off until allowed). */
  set_viewer_microphone: {
    args: z.strictObject({ viewerId: ClientIdSchema, allowed: z.boolean() }),
    result: Nothing,
  },
  // viewers and who may join (SmolDesk additions in the same style)
  /** A signed viewer token (JWT) and the share link that carries it. */
  create_viewer_token: {
    args: z.strictObject({
      role: ViewerRoleSchema.optional(),
      ttlSeconds: z.number().int().min(1).max(86_400).optional(),
    }),
    result: z.strictObject({
      token: z.string(),
      role: ViewerRoleSchema,
      expires_at: z.number().int(),
      url: z.string().optional(),
    }),
  },
  list_viewers: {
    args: NoArgs,
    result: z.array(
      z.strictObject({
        peer_id: z.string(),
        role: z.enum(['viewer', 'view-only']),
        state: z.enum(['pending', 'connecting', 'connected']),
        permissions: ViewerPermissionsSchema,
        /** Its microphone is reaching the desktop and is above silence now. */
        talking: z.boolean(),
        /** Whom it signed in as (single sign-on), if it did. */
        identity: VerifiedIdentitySchema.optional(),
      }),
    ),
  },
  approve_viewer: {
    args: z.strictObject({ peerId: ClientIdSchema, role: ViewerRoleSchema.optional() }),
    result: Nothing,
  },
  deny_viewer: { args: PeerId, result: Nothing },
  kick_viewer: { args: PeerId, result: Nothing },
  set_viewer_role: {
    args: z.strictObject({ peerId: ClientIdSchema, role: ViewerRoleSchema }),
    result: Nothing,
  },
  /** Changes what a viewer may do (only the fields given); returns the result. */
  set_viewer_permissions: {
    args: z.strictObject({ peerId: ClientIdSchema, permissions: ViewerPermissionsSchema.partial() }),
    result: ViewerPermissionsSchema,
  },
  // clipboard history (SmolDesk addition)
  get_clipboard_history: { args: NoArgs, result: z.array(ClipboardEntrySchema) },
  clear_clipboard_history: { args: NoArgs, result: Nothing },
  // file transfer
  /** Offers a local file to a viewer (peerId may be left out when exactly one viewer is connected). */
  send_file: {
    args: z.strictObject({ path: z.string().min(1).max(4096), peerId: ClientIdSchema.optional() }),
    result: z.strictObject({ transferId: z.string() }),
  },
  accept_transfer: { args: TransferId, result: Nothing },
  reject_transfer: { args: TransferId, result: Nothing },
  pause_transfer: { args: TransferId, result: Nothing },
  resume_transfer: { args: TransferId, result: Nothing },
  cancel_transfer: { args: TransferId, result: Nothing },
  list_transfers: { args: NoArgs, result: z.array(TransferInfoSchema) },
  // the host's control page (SmolDesk additions)
  /** Everything the control page shows at a glance. */
  get_host_status: { args: NoArgs, result: HostStatusSchema },
  /**
   * Sets the room password ('' removes it) and/or whether viewers without a
   * token may ask to join; with single sign-on also who may join once signed
   * in (`allow`: e-mail addresses, `group:NAME`, `sub:ID`; empty: nobody by
   * identity) and whether a link alone still admits.
   */
  set_room_access: {
    args: z.strictObject({
      password: z.string().max(256).optional(),
      approval: z.boolean().optional(),
      allow: z.array(z.string().min(1).max(320)).max(500).optional(),
      linkAlone: z.boolean().optional(),
    }),
    result: z.strictObject({
      password: z.boolean(),
      approval: z.boolean(),
      allow: z.array(z.string()).optional(),
      link_alone: z.boolean().optional(),
    }),
  },
  /** Whether viewers may resize the shared virtual monitor to their window (the embedded desktop: yes by default). */
  set_viewer_resize: {
    args: z.strictObject({ allowed: z.boolean() }),
    result: z.strictObject({ allowed: z.boolean() }),
  },
  /** A small JPEG of one monitor as it looks now (base64). */
  get_monitor_thumbnail: {
    args: z.strictObject({
      monitorIndex: z.number().int().min(0).max(63),
      width: z.number().int().min(64).max(640).optional(),
    }),
    result: z.strictObject({ mime: z.literal('image/jpeg'), width: z.number().int(), data: z.string() }),
  },
  /** The newest log lines (info and above), oldest first. */
  get_recent_logs: {
    args: z.strictObject({ limit: z.number().int().min(1).max(500).optional() }),
    result: z.array(
      z.strictObject({
        time: z.number(),
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']),
        name: z.string(),
        msg: z.string(),
        detail: z.string().optional(),
      }),
    ),
  },
} as const satisfies Record<string, { args: z.ZodType; result: z.ZodType }>

export type CommandName = keyof typeof COMMANDS
export type CommandArgs<C extends CommandName> = z.infer<(typeof COMMANDS)[C]['args']>
export type CommandResult<C extends CommandName> = z.infer<(typeof COMMANDS)[C]['result']>

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[]

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name)
}
