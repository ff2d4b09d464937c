import { SmolDeskError } from '@smoldesk/protocol'
import {
  type EmbeddedDesktop,
  type EmbeddedDesktopKind,
  startEmbeddedDesktop,
} from '../display/embedded/embedded-desktop.ts'
import type { DesktopBackend } from '../display/embedded/virtual-desktop.ts'
import type { MonitorLayout } from '../display/embedded/xorg-config.ts'
import { Host } from '../host.ts'
import type { HostOptions } from '../options.ts'
import { WebServer } from '../web/web-server.ts'
import { type NetworkValues, setUpNetwork } from './network-options.ts'
import { onShutdownSignal } from './output.ts'
import type { SharingOptions } from './sharing-options.ts'
import { identityPolicy } from './sso-options.ts'

/** Where `smoldesk start` serves the viewer unless told otherwise; a taken port falls back to a free one. */
export const DEFAULT_WEB_PORT = 7470

/** How a room is protected: password, approval, and the share link's token lifetime. */
export interface AccessOptions {
  password: string | undefined
  approval: boolean
  tokenTtlSeconds: number
  /** `start --allow`: who may join once signed in (single sign-on). */
  allow?: string | undefined
  /** `start --link-alone`: with --allow, a viewer link still admits without signing in. */
  linkAlone?: boolean | undefined
}

/** The security key comes from the environment, never the command line (where `ps` shows it). */
const secretKey = () => process.env.SMOLDESK_SECRET_KEY || undefined

/** `smoldesk host`: the daemon alone, until a signal. */
export async function runHost(options: {
  display: string | undefined
  ipcPort: number | undefined
  signalingUrl: string | undefined
  roomId: string | undefined
  access: AccessOptions
  sharing: SharingOptions
}): Promise<void> {
  const host = await Host.start({
    ...options.sharing,
    // The process exits right after the host closes (see HostOptions.releaseNativeStack).
    releaseNativeStack: false,
    display: options.display,
    signalingUrl: options.signalingUrl,
    roomId: options.roomId,
    roomPassword: options.access.password,
    approval: options.access.approval,
    secretKey: secretKey(),
    ...(options.ipcPort !== undefined && { ipcPort: options.ipcPort }),
  })
  onShutdownSignal(() => host.close())
  process.stdout.write(`SmolDesk host: IPC at ${host.ipcUrl} (display ${host.display ?? 'none'})\n`)
  if (host.roomId) {
    const link = await host.shareLink('viewer', options.access.tokenTtlSeconds)
    process.stdout.write(`Room: ${host.roomId}\nViewer token: ${link.token}\n`)
  }
}

/** `smoldesk signaling`: the signaling server (and the viewer app) alone. */
export async function runSignaling(options: {
  host: string
  port: number
  network: NetworkValues
}): Promise<void> {
  const network = await setUpNetwork(options.network, options.host)
  let web: WebServer
  try {
    web = await WebServer.start({
      host: options.host,
      port: options.port,
      strictPort: true,
      tls: network.tls,
      // On its own, the signaling server's loop is its capacity (see SignalingOptions.shedOnLoad).
      signaling: { ...network.signaling, shedOnLoad: true },
    })
  } catch (err) {
    await network.coturn?.close()
    throw err
  }
  onShutdownSignal(async () => {
    await web.close()
    await network.coturn?.close()
  })
  process.stdout.write(
    [`SmolDesk signaling: ${web.signalingUrl} (viewer at ${web.baseUrl}/)`, ...network.describe, ''].join(
      '\n',
    ),
  )
}

/**
 * `smoldesk start`: signaling + host + viewer on one HTTP port, sharing the
 * first monitor at once. Without a display it brings up an embedded virtual
 * desktop first; everything it started stops with it (Ctrl-C, SIGTERM, or
 * the desktop's X server dying).
 */
export async function runStart(options: {
  display: string | undefined
  /** An embedded desktop to start even when there is a display (`--desktop`). */
  desktop: EmbeddedDesktopKind | undefined
  ipcPort: number | undefined
  monitors: MonitorLayout[]
  backend: DesktopBackend | 'auto'
  listen: string
  port: number | undefined
  roomId: string | undefined
  access: AccessOptions
  network: NetworkValues
  sharing: SharingOptions
}): Promise<void> {
  let desktop: EmbeddedDesktop | undefined
  let web: WebServer | undefined
  let host: Host | undefined
  let network: Awaited<ReturnType<typeof setUpNetwork>> | undefined
  let stopping = false
  const shutdown = async () => {
    stopping = true
    await host?.close()
    await web?.close()
    await network?.coturn?.close()
    await desktop?.close()
  }
  onShutdownSignal(shutdown)
  try {
    let target: Pick<HostOptions, 'display' | 'wayland'> = { display: options.display ?? process.env.DISPLAY }
    const kind = options.desktop ?? (!target.display && !process.env.WAYLAND_DISPLAY ? 'x11' : undefined)
    if (kind) {
      if (!options.desktop) process.stdout.write('No display found: starting an embedded virtual desktop…\n')
      desktop = await startEmbeddedDesktop(kind, options.monitors, options.backend)
      target = desktop.target
    }
    network = await setUpNetwork(options.network, options.listen)
    web = await WebServer.start({
      host: options.listen,
      port: options.port ?? DEFAULT_WEB_PORT,
      strictPort: options.port !== undefined,
      tls: network.tls,
      signaling: network.signaling,
    })
    host = await Host.start({
      ...options.sharing,
      releaseNativeStack: false,
      // SmolDesk's own desktop is the viewer's to size; a display of yours only if you say so.
      viewerResize: options.sharing.viewerResize ?? desktop !== undefined,
      ...target,
      signalingUrl: web.localSignalingUrl,
      roomId: options.roomId,
      roomPassword: options.access.password,
      approval: options.access.approval,
      identityPolicy: identityPolicy(options.access.allow, options.access.linkAlone, network.signaling.sso),
      // The signaling server in this process is the relying party that checked the ID tokens.
      trustSignalingIdentity: network.signaling.sso !== undefined,
      ssoIssuer: network.signaling.sso?.issuer,
      secretKey: secretKey(),
      viewerUrl: web.baseUrl,
      ...(options.ipcPort !== undefined && { ipcPort: options.ipcPort }),
    })
  } catch (err) {
    await shutdown()
    throw err
  }
  // Share the first monitor at once; if that fails (no X display, no encoder), say why and keep
  // serving: start_capture can be retried through the IPC.
  let sharing = 'the first monitor'
  if (host.backend.kind === 'portal') {
    process.stdout.write('Asking the desktop to share its screen: answer its dialog on the desktop…\n')
  }
  try {
    await host.capture.start(0, {})
  } catch (err) {
    const error = SmolDeskError.from(err)
    sharing = `nothing yet (${error.code}: ${error.message})`
  }
  desktop?.serverExited.then(async () => {
    if (stopping) return
    process.stderr.write("smoldesk: the embedded desktop's display server exited; stopping\n")
    await shutdown()
    process.exit(1)
  })
  const link = await host.shareLink('viewer', options.access.tokenTtlSeconds)
  const hours = Math.round((options.access.tokenTtlSeconds / 3600) * 10) / 10
  const lines = [
    '',
    'SmolDesk is running.',
    '',
    `  Open the viewer:  ${link.url}`,
    `  Host control:     ${host.ipc.controlPageUrl}`,
    '                    (this machine only: start/stop sharing, invite, approve viewers, passwords)',
    '',
    `  The link carries a viewer token valid for ${hours} h; make new ones with`,
    `  ./smoldesk invoke create_viewer_token '{"role":"view-only","ttlSeconds":600}'.`,
    ...(options.access.password ? ['  Viewers also need the room password.'] : []),
    ...(options.access.allow
      ? [
          `  Signed-in viewers allowed: ${options.access.allow}${options.access.linkAlone ? ' (a link alone is enough too)' : ' (a link alone is not enough)'}`,
        ]
      : []),
    ...(options.access.approval
      ? ['  Viewers without a token may ask to join: ./smoldesk listen viewer-join-request']
      : []),
    desktop
      ? `  Desktop:  embedded ${desktop.description}`
      : `  Desktop:  your display, ${host.backend.description}`,
    `  Sharing:  ${sharing}`,
    `  Sound:    ${soundLine(host)}`,
    `  Room:     ${host.roomId}`,
    `  Host IPC: ${host.ipcUrl} (token in ${host.stateDir}/host.json)`,
    `  Files:    viewers' files go to ${host.transfers.downloadDir}${options.sharing.autoAcceptTransfers ? '' : ' once you accept them (./smoldesk listen transfer-offered)'}`,
    ...network.describe.map((line) => `  ${line}`),
    options.listen === '127.0.0.1'
      ? '  Only this machine can connect; use --listen 0.0.0.0 to let others in.'
      : `  Listening on ${options.listen}.`,
    '',
    'Try in another terminal:',
    '  ./smoldesk invoke get_monitors',
    `  ./smoldesk invoke start_capture '{"monitorIndex":0,"config":{"fps":60}}'`,
    'Press Ctrl-C to stop.',
    '',
  ]
  process.stdout.write(lines.join('\n'))
}

/** What viewers hear, for the banner. */
function soundLine(host: Host): string {
  const audio = host.audio.streaming
  if (audio)
    return `the desktop's (${audio.device}, Opus ${audio.bitrate_kbps} kbit/s); viewers' microphones once you allow each`
  return `none: ${host.audio.unavailable ?? 'not sharing'}`
}
