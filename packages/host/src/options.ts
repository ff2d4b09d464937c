import type { IdentityPolicy } from './security/identity-policy.ts'

/** The host's options and their defaults, in one place. */
export interface HostOptions {
  /** X display to share (":1"); default $DISPLAY. */
  display?: string | undefined
  /**
   * A Wayland session to share instead (SmolDesk's embedded sway or GNOME):
   * which compositor family, and the environment its clients need. Without
   * it the host probes its own environment (WAYLAND_DISPLAY, SWAYSOCK, …).
   */
  wayland?: WaylandTarget | undefined
  /**
   * Share a Wayland desktop through the desktop portal even where SmolDesk
   * has a way of its own (GNOME, sway; SMOLDESK_PORTAL=control|view):
   * 'control' asks the desktop's user for the screen, keyboard and pointer
   * at every start, 'view' for the screen only, remembered (a restore token
   * in the state dir). Desktops SmolDesk has no way of its own into (KDE)
   * use the portal with 'control' anyway.
   */
  portal?: PortalMode | undefined
  /**
   * The sound server (`unix:/path/to/native`, as PULSE_SERVER takes it):
   * the embedded desktop's own; left out, libpulse finds the user's
   * (PULSE_SERVER, then the session's PulseAudio or pipewire-pulse).
   */
  soundServer?: string | undefined
  /** IPC port on 127.0.0.1; 0 picks a free one (written to host.json). */
  ipcPort?: number
  /** Where host.json goes; default from resolveStateDir(). */
  stateDir?: string
  /** Write host.json (the CLI's `invoke`/`listen` find the host through it). */
  writeStateFile?: boolean
  /** ws:// URL of the signaling server the host announces its room on; no viewers without it. */
  signalingUrl?: string | undefined
  /** Room code to create; default: a random 8-character code. */
  roomId?: string | undefined
  /** Room password (checked by the signaling server); none by default, tokens still apply. */
  roomPassword?: string | undefined
  /** Viewers without a valid token may ask the host to let them in (viewer-join-request). */
  approval?: boolean | undefined
  /**
   * Who may join when viewers sign in (single sign-on): an allow-list, and
   * whether a viewer link alone still admits. Needs `trustSignalingIdentity`.
   */
  identityPolicy?: IdentityPolicy | undefined
  /** The signaling server is this process's own, the relying party: its word on identities is taken. */
  trustSignalingIdentity?: boolean | undefined
  /** That relying party's identity provider (for the control page). */
  ssoIssuer?: string | undefined
  /** Security key for the token layer; default: a random per-launch key (initialize_security replaces it). */
  secretKey?: string | undefined
  /** Base URL of the viewer app, for share links (create_viewer_token). */
  viewerUrl?: string | undefined
  /** Start the encoder probe at start-up so the first get_video_codecs is instant. */
  probeEncodersAtStart?: boolean
  /** Largest clipboard content accepted or offered, in bytes (default 10 MB). */
  clipboardMaxBytes?: number | undefined
  /** Where files from viewers go (default ~/Downloads/SmolDesk). */
  downloadDir?: string | undefined
  /** Largest file a viewer may send, in bytes (default 100 MB). */
  maxTransferBytes?: number | undefined
  /** Accept viewers' files without accept_transfer. */
  autoAcceptTransfers?: boolean | undefined
  /**
   * Viewers may give the shared monitor their window's size (virtual
   * monitors only). `start` turns it on for its own embedded desktop;
   * otherwise off until the host allows it (set_viewer_resize).
   */
  viewerResize?: boolean | undefined
  /** Capture with SmolDesk's helper where it applies, else ffmpeg's x11grab (SMOLDESK_CAPTURE=x11grab). */
  captureHelper?: boolean | undefined
  /** The files channel's SCTP stack: libdatachannel ('native') or werift's own (SMOLDESK_DATA_STACK=werift). */
  dataStack?: 'native' | 'werift' | undefined
  /** How long the native data link may take to open before files go over werift (SMOLDESK_DATA_LINK_TIMEOUT_MS). */
  dataLinkTimeoutMs?: number | undefined
  /**
   * Stop the native data stack's threads when the host closes, so an
   * embedding process can exit. The CLI, which exits right after, turns it
   * off: libdatachannel's cleanup() can deadlock the main thread (seen once
   * in CI: DataChannelWrapper::CloseAll blocked in napi_release_threadsafe_function,
   * the process then deaf to SIGTERM), and the process's exit ends the threads anyway.
   */
  releaseNativeStack?: boolean | undefined
}

export const HOST_DEFAULTS = {
  ipcHost: '127.0.0.1',
  ipcPort: 0,
  writeStateFile: true,
  probeEncodersAtStart: true,
  captureHelper: true,
  dataStack: 'native',
  dataLinkTimeoutMs: 10_000,
  releaseNativeStack: true,
} as const

/**
 * The host's environment switches, read here and nowhere else (for
 * comparing stacks, and for tests that need a link to fail at once); the
 * Host merges them under its explicit options.
 */
export function environmentOptions(
  env: NodeJS.ProcessEnv = process.env,
): Pick<HostOptions, 'captureHelper' | 'dataStack' | 'dataLinkTimeoutMs' | 'portal'> {
  const timeout = Number(env.SMOLDESK_DATA_LINK_TIMEOUT_MS)
  const portal = env.SMOLDESK_PORTAL
  return {
    ...((portal === 'control' || portal === 'view') && { portal }),
    ...(env.SMOLDESK_CAPTURE === 'x11grab' && { captureHelper: false }),
    ...(env.SMOLDESK_DATA_STACK === 'werift' && { dataStack: 'werift' as const }),
    ...(env.SMOLDESK_DATA_LINK_TIMEOUT_MS !== undefined &&
      Number.isFinite(timeout) &&
      timeout >= 0 && { dataLinkTimeoutMs: timeout }),
  }
}

/** What the portal is asked for: the screen with keyboard and pointer, or the screen only. */
export type PortalMode = 'control' | 'view'

/** What a portal-backed desktop needs: its Wayland socket, PipeWire's runtime dir and the session bus. */
export interface PortalEnv {
  WAYLAND_DISPLAY: string
  XDG_RUNTIME_DIR: string
  DBUS_SESSION_BUS_ADDRESS: string
}

/** A Wayland compositor to share and the environment its clients need. */
export type WaylandTarget =
  | { kind: 'wlroots'; env: { WAYLAND_DISPLAY: string; XDG_RUNTIME_DIR: string; SWAYSOCK: string } }
  | { kind: 'gnome'; env: PortalEnv }
  | { kind: 'portal'; env: PortalEnv; mode: PortalMode }
