import { randomBytes } from 'node:crypto'
import {
  CLIPBOARD_CHANNEL,
  type CursorImage,
  type EventPayload,
  encodeCursor,
  FILES_CHANNEL,
  SESSION_CHANNEL,
  SmolDeskError,
  type ViewerRole,
} from '@smoldesk/protocol'
import { AudioService } from './audio/audio-service.ts'
import { CaptureService } from './capture/capture-service.ts'
import { EncoderProbeCache } from './capture/codec-probe.ts'
import { CLIPBOARD_MAX_BYTES, type Clipboard } from './clipboard/clipboard.ts'
import { ClipboardSync } from './clipboard/clipboard-sync.ts'
import type { DisplayBackend } from './display/backend.ts'
import { openDisplayBackend } from './display/open-backend.ts'
import { ResizeService } from './display/resize-service.ts'
import { type CommandContext, hostCommands } from './host-commands.ts'
import { InputService } from './input/input-service.ts'
import { ViewerInput } from './input/viewer-input.ts'
import { IpcServer } from './ipc/server.ts'
import { removeStateFile, resolveStateDir, writeStateFile } from './ipc/state-file.ts'
import { createLogger } from './log.ts'
import { environmentOptions, HOST_DEFAULTS, type HostOptions } from './options.ts'
import { SecurityContext } from './security/security-context.ts'
import { ViewerAdmission } from './security/viewer-admission.ts'
import { type IssuedToken, ViewerTokens } from './security/viewer-tokens.ts'
import { SessionService } from './session/session-service.ts'
import { TransferService } from './transfer/transfer-service.ts'
import { ViewerHub } from './viewers/viewer-hub.ts'
import { ViewerRoster } from './viewers/viewer-roster.ts'
import { loadNativeDataStack } from './webrtc/native/native-data-link.ts'
import type { PeerDataChannel } from './webrtc/transport.ts'
import { WeriftTransport } from './webrtc/werift/werift-transport.ts'

const log = createLogger('host')
/** How long a viewer may take to come back after a drop without asking the host again. */
const REJOIN_TOKEN_TTL_S = 3600

/**
 * The host daemon: owns the display backend, the capabilities and the IPC
 * server. `close()` is idempotent and closes everything it owns.
 */
export class Host {
  readonly ipc: IpcServer
  readonly token: string
  /** The display server being shared; every capability goes through it. */
  readonly backend: DisplayBackend
  readonly stateDir: string
  readonly #options: HostOptions
  readonly #probe = new EncoderProbeCache()
  readonly #security = new SecurityContext()
  readonly tokens = new ViewerTokens(this.#security)
  readonly capture: CaptureService
  /** The desktop's sound to viewers, their microphones to the desktop. */
  readonly audio: AudioService
  readonly input: InputService
  readonly viewerInput: ViewerInput
  readonly transfers: TransferService
  readonly clipboardSync: ClipboardSync
  readonly session: SessionService
  readonly resize: ResizeService
  /** Who is in the room, as what, allowed what: asked by every capability. */
  readonly roster: ViewerRoster
  /** Viewers may give the shared virtual monitor their window's size (the host's consent). */
  #viewerResize: boolean
  #hub: ViewerHub | undefined
  #stateWritten = false
  #closing: Promise<void> | undefined

  private constructor(options: HostOptions, backend: DisplayBackend) {
    this.#options = options
    this.backend = backend
    this.stateDir = options.stateDir ?? resolveStateDir()
    this.token = randomBytes(32).toString('hex')
    if (options.secretKey !== undefined) this.#security.initialize(options.secretKey)
    this.roster = new ViewerRoster((viewerId) => this.viewerInput.viewerGone(viewerId))
    const monitors = () => backend.monitors()
    this.audio = new AudioService({
      server: options.soundServer,
      emit: (event, payload) => this.ipc.emit(event, payload),
      changed: () => this.session.changed(),
      mayTalk: (viewerId) =>
        this.roster.role(viewerId) === 'viewer' && this.roster.permissions(viewerId).microphone,
    })
    this.capture = new CaptureService({
      audio: this.audio,
      source: () => backend.captureSource(),
      monitors,
      probe: this.#probe,
      emit: (event, payload) => {
        this.ipc.emit(event, payload)
        if (event === 'capture-started' || event === 'capture-stopped') this.session.changed()
      },
      onCodecChanged: async () => this.#hub?.codecChanged(),
      watchMonitors: (onChange) => backend.watchMonitors(onChange),
    })
    this.#viewerResize = options.viewerResize ?? false
    this.resize = new ResizeService({
      backend: () => backend.resizer(),
      monitors,
      target: () => this.capture.running?.monitorIndex,
      allowed: () => this.#viewerResize,
      beforeChange: () => this.capture.pauseForLayout(),
      // The stream takes the new rectangle at once; viewers see the new sizes.
      afterChange: () => void this.capture.followLayout().then(() => this.session.changed()),
    })
    this.session = new SessionService({
      resize: this.resize,
      capture: this.capture,
      monitors,
      choices: () => this.#probe.get(),
      roster: this.roster,
      inputEnabled: () => this.input.enabled,
      audio: () => {
        const why = this.audio.unavailable ?? (this.audio.enabled ? undefined : 'the host turned sound off')
        return { streaming: this.audio.streaming !== null, ...(why !== undefined && { reason: why }) }
      },
      rejoinToken: async (role) => {
        const roomId = this.#hub?.roomId
        return roomId ? (await this.tokens.issue(roomId, role, REJOIN_TOKEN_TTL_S)).token : undefined
      },
      revokeToken: (token) => this.tokens.revoke(token),
    })
    this.input = new InputService({
      injector: () => backend.injector(),
      monitors,
      capturedMonitor: () => this.capture.pipeline.plan?.config.monitorIndex,
    })
    this.viewerInput = new ViewerInput(this.input)
    this.transfers = new TransferService({
      downloadDir: options.downloadDir,
      maxBytes: options.maxTransferBytes,
      autoAccept: options.autoAcceptTransfers,
      roster: this.roster,
      emit: (event, payload) => this.ipc.emit(event, payload),
    })
    this.clipboardSync = new ClipboardSync({
      clipboard: () => this.#clipboard(),
      maxBytes: options.clipboardMaxBytes ?? CLIPBOARD_MAX_BYTES,
      roster: this.roster,
      emit: (event, payload) => this.ipc.emit(event, payload),
    })
    const handlers = hostCommands(this.#commandContext())
    this.ipc = new IpcServer({
      host: HOST_DEFAULTS.ipcHost,
      port: options.ipcPort ?? HOST_DEFAULTS.ipcPort,
      token: this.token,
      dispatch: (command, args) => (handlers[command] as (a: unknown) => Promise<unknown>)(args),
    })
  }

  static async start(explicit: HostOptions = {}): Promise<Host> {
    // The environment's switches, under what the caller said: read once, here.
    const options: HostOptions = { ...environmentOptions(), ...definedOnly(explicit) }
    const backend = await openDisplayBackend(options)
    const host = new Host(options, backend)
    try {
      const port = await host.ipc.listen()
      if (options.writeStateFile ?? HOST_DEFAULTS.writeStateFile) {
        await writeStateFile(host.stateDir, { port, token: host.token, pid: process.pid })
        host.#stateWritten = true
      }
      if (options.probeEncodersAtStart ?? HOST_DEFAULTS.probeEncodersAtStart) void host.#probe.get()
      if (options.signalingUrl) {
        const o = host.#options
        host.#hub = new ViewerHub({
          transport: new WeriftTransport({
            dataStack: await loadNativeDataStack(o.dataStack ?? HOST_DEFAULTS.dataStack),
            dataLinkTimeoutMs: o.dataLinkTimeoutMs ?? HOST_DEFAULTS.dataLinkTimeoutMs,
            releaseNativeStack: o.releaseNativeStack ?? HOST_DEFAULTS.releaseNativeStack,
          }),
          capture: host.capture,
          audio: host.audio,
          signalingUrl: options.signalingUrl,
          roomId: options.roomId,
          password: options.roomPassword,
          approval: options.approval,
          admission: new ViewerAdmission(host.tokens, options.identityPolicy),
          trustSignalingIdentity: options.trustSignalingIdentity,
          roster: host.roster,
          emit: (event, payload) => {
            host.ipc.emit(event, payload)
            // A viewer that resized the monitor gives it its own size back when it goes.
            if (event === 'viewer-disconnected')
              void host.resize.viewerGone((payload as EventPayload<'viewer-disconnected'>).viewerId)
          },
          input: host.viewerInput,
          onDataChannel: (viewerId, channel) => host.#onDataChannel(viewerId, channel),
        })
        await host.#hub.start()
        host.#followCursor(host.#hub)
      }
      // Open the clipboard now so clipboard-changed events flow before anyone calls a clipboard command.
      host.#clipboard().catch((err: unknown) => log.warn({ err: String(err) }, 'clipboard unavailable'))
    } catch (err) {
      await host.close()
      throw err
    }
    log.info({ port: host.ipc.port, display: backend.description, stateDir: host.stateDir }, 'host started')
    return host
  }

  /** The X display being shared, when it is one (the CLI prints it). */
  get display(): string | undefined {
    return this.backend.x11Display
  }

  /** A share link for a new viewer: the room code, and a signed token in the fragment (never sent to a server). */
  async shareLink(role: ViewerRole = 'viewer', ttlSeconds?: number): Promise<{ url?: string } & IssuedToken> {
    const roomId = this.#hub?.roomId
    if (!roomId) throw new SmolDeskError('UNAVAILABLE', 'the host is not connected to a signaling server')
    const issued = await this.tokens.issue(roomId, role, ttlSeconds)
    const base = this.#options.viewerUrl
    return base ? { ...issued, url: `${base}/?room=${roomId}#token=${issued.token}` } : issued
  }

  /** The signaling room viewers join, when the host is connected to a signaling server. */
  get roomId(): string | undefined {
    return this.#hub?.roomId
  }

  get ipcUrl(): string {
    return `ws://127.0.0.1:${this.ipc.port}/ipc`
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.ipc.close()
      await this.#hub?.close()
      await this.transfers.close()
      // Capture first: giving a resized monitor its size back must not start an encoder again.
      await this.capture.close()
      await this.audio.close()
      await this.resize.close()
      await this.input.releaseAll().catch(() => {})
      await this.backend.close()
      if (this.#stateWritten) await removeStateFile(this.stateDir, process.pid)
      log.info('host stopped')
    })()
    return this.#closing
  }

  /** Viewers draw the pointer themselves from its image: no waiting for the video. */
  #followCursor(hub: ViewerHub): void {
    this.backend
      .cursor()
      .then((cursor) => {
        if (!cursor) return
        const send = (image: CursorImage) => hub.broadcastToViewers(encodeCursor(0, image))
        if (cursor.current) send(cursor.current)
        cursor.onChange(send)
      })
      .catch((err: unknown) => log.warn({ err: String(err) }, 'cursor shapes unavailable'))
  }

  #clipboard(): Promise<Clipboard> {
    return this.backend.clipboard((change) => this.clipboardSync.onChange(change))
  }

  /** A viewer's clipboard or files channel opened: the capability takes it over. */
  #onDataChannel(viewerId: string, channel: PeerDataChannel): void {
    if (channel.label === CLIPBOARD_CHANNEL) {
      this.clipboardSync.attach(viewerId, channel)
    } else if (channel.label === SESSION_CHANNEL) {
      this.session.attach(viewerId, channel)
    } else if (channel.label === FILES_CHANNEL) {
      log.info({ viewerId }, 'files channel open')
      const end = this.transfers.attach(viewerId, channel)
      channel.onMessage((frame) => end.receive(frame))
      channel.onClose(() => {
        log.info({ viewerId }, 'files channel closed')
        end.detach()
      })
    }
  }

  /** What the IPC commands work with: the host's parts, its lazily opened backends, its settings. */
  #commandContext(): CommandContext {
    return {
      options: this.#options,
      capture: this.capture,
      audio: this.audio,
      input: this.input,
      session: this.session,
      transfers: this.transfers,
      clipboardSync: this.clipboardSync,
      roster: this.roster,
      probe: this.#probe,
      security: this.#security,
      backend: this.backend,
      clipboard: () => this.#clipboard(),
      hub: () => this.#hub,
      shareLink: (role, ttl) => this.shareLink(role, ttl),
      viewerResize: {
        get: () => this.#viewerResize,
        set: (allowed) => {
          this.#viewerResize = allowed
        },
      },
    }
  }
}

/** The options someone set: an explicit `undefined` leaves the default (or the environment's) in place. */
function definedOnly(options: HostOptions): HostOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as HostOptions
}
