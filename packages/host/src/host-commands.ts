import { SmolDeskError, summarizeStream, type ViewerPermissions, type ViewerRole } from '@smoldesk/protocol'
import type { AudioService } from './audio/audio-service.ts'
import type { CaptureService } from './capture/capture-service.ts'
import type { EncoderProbeCache } from './capture/codec-probe.ts'
import type { Clipboard } from './clipboard/clipboard.ts'
import type { ClipboardSync } from './clipboard/clipboard-sync.ts'
import type { CommandHandlers } from './commands.ts'
import type { DisplayBackend } from './display/backend.ts'
import { detectDisplayServer } from './display/detect.ts'
import type { InputService } from './input/input-service.ts'
import { createLogger, recentLogLines } from './log.ts'
import type { HostOptions } from './options.ts'
import { IdentityPolicy } from './security/identity-policy.ts'
import type { SecurityContext } from './security/security-context.ts'
import type { IssuedToken } from './security/viewer-tokens.ts'
import type { SessionService } from './session/session-service.ts'
import type { TransferService } from './transfer/transfer-service.ts'
import type { ViewerHub } from './viewers/viewer-hub.ts'
import type { ViewerRoster } from './viewers/viewer-roster.ts'

/*
 * The host's IPC command surface (ipc-interface.de.md, DESIGN.md): each
 * command carried out on the host's parts. The Host builds the context;
 * nothing here owns anything.
 */

const log = createLogger('host')

/** What the commands work with: the host's parts, its lazily opened backends, its settings. */
export interface CommandContext {
  options: HostOptions
  /** The display server being shared. */
  backend: DisplayBackend
  capture: CaptureService
  audio: AudioService
  input: InputService
  session: SessionService
  transfers: TransferService
  clipboardSync: ClipboardSync
  roster: ViewerRoster
  probe: EncoderProbeCache
  security: SecurityContext
  clipboard(): Promise<Clipboard>
  /** The viewer hub, when the host is connected to a signaling server. */
  hub(): ViewerHub | undefined
  shareLink(role?: ViewerRole, ttlSeconds?: number): Promise<{ url?: string } & IssuedToken>
  /** Viewers may give the shared virtual monitor their window's size (the host's consent). */
  viewerResize: { get(): boolean; set(allowed: boolean): void }
}

function requireHub(h: CommandContext): ViewerHub {
  const hub = h.hub()
  if (!hub) throw new SmolDeskError('UNAVAILABLE', 'the host is not connected to a signaling server')
  return hub
}

/**
 * Changes a viewer's permissions; the microphone's goes through the sound
 * side too (its virtual source must exist before anyone may talk into it,
 * and a viewer who may no longer talk is silenced at once). Only a viewer
 * who may control the desktop may talk into it: view-only means watching.
 */
async function setPermissions(
  h: CommandContext,
  peerId: string,
  change: { [K in keyof ViewerPermissions]?: boolean | undefined },
): Promise<ViewerPermissions> {
  requireHub(h)
  const before = h.roster.permissions(peerId)
  if (change.microphone === true) {
    if (h.roster.role(peerId) !== 'viewer')
      throw new SmolDeskError(
        'FORBIDDEN',
        `viewer ${peerId} is view-only: make it a viewer before it may talk`,
      )
    await h.audio.microphones.prepare()
  }
  const after = h.roster.setPermissions(peerId, change)
  if (before.microphone !== after.microphone)
    await h.audio.microphones.permissionChanged(peerId, after.microphone)
  h.session.changed()
  return after
}

/** The viewer a file goes to: the one named, or the only one connected. */
function fileRecipient(h: CommandContext, peerId: string | undefined): string {
  if (peerId !== undefined) return peerId
  const connected = requireHub(h).connectedViewers()
  if (connected.length === 1 && connected[0] !== undefined) return connected[0]
  throw new SmolDeskError(
    'INVALID_ARGS',
    connected.length === 0 ? 'no viewer is connected' : 'several viewers are connected: pass peerId',
  )
}

/** Every IPC command, on the host's parts. */
export function hostCommands(h: CommandContext): CommandHandlers {
  return {
    // The backend's own server when it is a Wayland compositor; else a live probe (X11, or nothing there).
    get_display_server: async () =>
      h.backend.displayServer === 'Wayland' ? 'Wayland' : detectDisplayServer(h.options.display),
    get_monitors: async () => {
      const monitors = await h.backend.monitors()
      if (monitors.length === 0)
        throw new SmolDeskError('DISPLAY_ERROR', 'the X server reports no active monitor')
      return monitors
    },
    start_capture: async ({ monitorIndex, config }) => {
      await h.capture.start(monitorIndex, config)
      return null
    },
    stop_capture: async () => {
      await h.capture.stop()
      return null
    },
    send_input_event: async ({ event }) => {
      await h.input.send(event)
      return null
    },
    set_input_enabled: async ({ enabled }) => {
      await h.input.setEnabled(enabled)
      h.session.changed()
      return null
    },
    configure_input_forwarding: async ({ config }) => {
      await h.input.configure(config)
      return null
    },
    get_audio_devices: async () => h.audio.devices(),
    set_audio_enabled: async ({ enabled }) => {
      const streaming = await h.audio.setEnabled(enabled)
      return { enabled: h.audio.enabled, streaming }
    },
    set_viewer_microphone: async ({ viewerId, allowed }) => {
      await setPermissions(h, viewerId, { microphone: allowed })
      return null
    },
    get_video_codecs: async () => (await h.probe.get()).codecs,
    get_hardware_acceleration_options: async () => (await h.probe.get()).accelerations,
    get_clipboard_text: async () => (await h.clipboard()).getText(),
    set_clipboard_text: async ({ text }) => {
      await (await h.clipboard()).setText(text)
      return null
    },
    initialize_security: async ({ secretKey }) => {
      h.security.initialize(secretKey)
      // Every token signed so far is void now, the viewers' rejoin tokens too: hand out new ones.
      h.session.signingKeyChanged()
      return null
    },
    create_viewer_token: async ({ role, ttlSeconds }) => {
      const link = await h.shareLink(role, ttlSeconds)
      return {
        token: link.token,
        role: link.role,
        expires_at: link.expiresAt,
        ...(link.url !== undefined && { url: link.url }),
      }
    },
    list_viewers: async () =>
      requireHub(h)
        .viewers()
        .map((v) => ({ ...v, talking: h.audio.microphones.talking(v.peer_id) })),
    approve_viewer: async ({ peerId, role }) => {
      requireHub(h).answerJoinRequest(peerId, true, role)
      return null
    },
    deny_viewer: async ({ peerId }) => {
      requireHub(h).answerJoinRequest(peerId, false)
      return null
    },
    kick_viewer: async ({ peerId }) => {
      const hub = requireHub(h)
      h.session.revokeRejoin(peerId) // kicked means out: its rejoin token admits it no more
      // Said on the data channel too: the page learns it before its media drops, even while its
      // signaling connection is away, and does not try to come back.
      h.session.bye(peerId, 'KICKED', 'the host removed you from the session')
      await hub.kick(peerId)
      return null
    },
    set_viewer_role: async ({ peerId, role }) => {
      requireHub(h)
      const talked = h.roster.permissions(peerId).microphone
      h.roster.setRole(peerId, role)
      // A new role brings that role's permissions: the microphone is off again.
      if (talked) await h.audio.microphones.permissionChanged(peerId, false)
      h.session.changed()
      return null
    },
    set_viewer_permissions: async ({ peerId, permissions }) => setPermissions(h, peerId, permissions),
    get_clipboard_history: async () => h.clipboardSync.history(),
    clear_clipboard_history: async () => {
      h.clipboardSync.clearHistory()
      return null
    },
    send_file: async ({ path, peerId }) => {
      const info = await h.transfers.sendFile(path, fileRecipient(h, peerId))
      return { transferId: info.id }
    },
    accept_transfer: async ({ transferId }) => {
      await h.transfers.accept(transferId)
      return null
    },
    reject_transfer: async ({ transferId }) => {
      h.transfers.reject(transferId)
      return null
    },
    pause_transfer: async ({ transferId }) => {
      h.transfers.pause(transferId)
      return null
    },
    resume_transfer: async ({ transferId }) => {
      h.transfers.resume(transferId)
      return null
    },
    cancel_transfer: async ({ transferId }) => {
      h.transfers.cancel(transferId)
      return null
    },
    list_transfers: async () => h.transfers.list(),
    get_host_status: async () => {
      const config = h.capture.running
      const access = h.hub()?.access ?? { password: false, approval: false }
      return {
        display: h.backend.x11Display ?? null,
        backend: h.backend.description,
        room_id: h.hub()?.roomId ?? null,
        viewer_url: h.options.viewerUrl ?? null,
        capture: config ? summarizeStream(config, h.capture.pipeline.captureMode) : null,
        input_enabled: h.input.enabled,
        password: access.password,
        approval: access.approval,
        security_initialized: h.security.initialized,
        download_dir: h.transfers.downloadDir,
        viewer_resize: h.viewerResize.get(),
        ...(h.options.ssoIssuer !== undefined && {
          sso: {
            issuer: h.options.ssoIssuer,
            allow: h.hub()?.admission.policy?.entries ?? [],
            link_alone: h.hub()?.admission.policy?.linkAlone ?? true,
          },
        }),
        audio: {
          enabled: h.audio.enabled,
          streaming: h.audio.streaming,
          ...(h.audio.unavailable !== undefined && { unavailable: h.audio.unavailable }),
        },
      }
    },
    set_viewer_resize: async ({ allowed }) => {
      h.viewerResize.set(allowed)
      log.info({ allowed }, 'viewers may resize the shared monitor')
      h.session.changed()
      return { allowed }
    },
    set_room_access: async ({ password, approval, allow, linkAlone }) => {
      const hub = requireHub(h)
      if ((allow !== undefined || linkAlone !== undefined) && !h.options.trustSignalingIdentity)
        throw new SmolDeskError(
          'UNAVAILABLE',
          'single sign-on is off: start with --oidc-issuer and --oidc-client-id to let people in by who they are',
        )
      // Checked before anything changes: a bad entry leaves the room as it was.
      const current = hub.admission.policy
      const policy =
        allow !== undefined || linkAlone !== undefined
          ? new IdentityPolicy(allow ?? current?.entries ?? [], linkAlone ?? current?.linkAlone ?? true)
          : current
      await hub.updateRoom({ password, approval })
      hub.admission.setPolicy(policy)
      log.info(
        {
          password: hub.access.password,
          approval: hub.access.approval,
          allow: policy?.entries,
          linkAlone: policy?.linkAlone,
        },
        'room access changed',
      )
      return {
        ...hub.access,
        ...(policy && { allow: policy.entries, link_alone: policy.linkAlone }),
      }
    },
    get_monitor_thumbnail: async ({ monitorIndex, width }) => {
      const monitors = await h.backend.monitors()
      const monitor = monitors[monitorIndex]
      if (!monitor) throw new SmolDeskError('MONITOR_NOT_FOUND', `monitor ${monitorIndex} does not exist`)
      const w = width ?? 320
      const jpeg = await h.backend.snapshot(monitor, w)
      return { mime: 'image/jpeg' as const, width: w, data: jpeg.toString('base64') }
    },
    get_recent_logs: async ({ limit }) => recentLogLines(limit),
  }
}
