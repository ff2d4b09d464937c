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
import { CaptureService } from './capture/capture-service.ts'
import { EncoderProbeCache } from './capture/codec-probe.ts'
import { Thumbnails } from './capture/thumbnail.ts'
import { CLIPBOARD_MAX_BYTES, type Clipboard } from './clipboard/clipboard.ts'
import { ClipboardSync } from './clipboard/clipboard-sync.ts'
import { X11Clipboard } from './clipboard/x11/x11-clipboard.ts'
import { ResizeService } from './display/resize-service.ts'
import { X11Connection } from './display/x11/connection.ts'
import { listX11Monitors } from './display/x11/monitors.ts'
import { watchRandr } from './display/x11/randr.ts'
import { x11ResizeBackend } from './display/x11/x11-resize-backend.ts'
import { type CommandContext, hostCommands } from './host-commands.ts'
import type { InputInjector } from './input/injector.ts'
import { InputService } from './input/input-service.ts'
import { ViewerInput } from './input/viewer-input.ts'
import { CursorWatcher } from './input/x11/cursor-watcher.ts'
import { XTestInjector } from './input/x11/xtest-injector.ts'
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
 * The host daemon: owns the display connections, the capabilities and the
 * IPC server. `close()` is idempotent and closes everything it owns.
 */
export class Host {
  readonly ipc: IpcServer
  readonly token: string
  readonly display: string | undefined
  readonly stateDir: string
  readonly #options: HostOptions
  readonly #probe = new EncoderProbeCache()
  readonly #thumbnails = new Thumbnails()
  readonly #security = new SecurityContext()
  readonly tokens = new ViewerTokens(this.#security)
  readonly capture: CaptureService
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
  #injector: Promise<InputInjector> | undefined
  #cursor: Promise<CursorWatcher> | undefined
  #hub: ViewerHub | undefined
  #x11: Promise<X11Connection> | undefined
  #clipboard: Promise<Clipboard> | undefined
  #stateWritten = false
  #closing: Promise<void> | undefined

  private constructor(explicit: HostOptions) {
    // The environment's switches, under what the caller said: read once, here.
    const options: HostOptions = { ...environmentOptions(), ...definedOnly(explicit) }
    this.#options = options
    this.display = options.display ?? process.env.DISPLAY ?? undefined
    this.stateDir = options.stateDir ?? resolveStateDir()
    this.token = randomBytes(32).toString('hex')
    if (options.secretKey !== undefined) this.#security.initialize(options.secretKey)
    this.roster = new ViewerRoster((viewerId) => this.viewerInput.viewerGone(viewerId))
    this.capture = new CaptureService({
      display: () => {
        if (!this.display) throw new SmolDeskError('NO_DISPLAY', 'no X display to capture')
        return this.display
      },
      monitors: async () => listX11Monitors(await this.#x11Connection()),
      probe: this.#probe,
      emit: (event, payload) => {
        this.ipc.emit(event, payload)
        if (event === 'capture-started' || event === 'capture-stopped') this.session.changed()
      },
      onCodecChanged: async () => this.#hub?.codecChanged(),
      captureHelper: options.captureHelper ?? HOST_DEFAULTS.captureHelper,
      watchMonitors: async (onChange) => watchRandr(await this.#x11Connection(), onChange),
    })
    this.#viewerResize = options.viewerResize ?? false
    this.resize = new ResizeService({
      backend: () => (this.display ? x11ResizeBackend(this.display) : undefined),
      monitors: async () => listX11Monitors(await this.#x11Connection()),
      target: () => this.capture.running?.monitorIndex,
      allowed: () => this.#viewerResize,
      beforeChange: () => this.capture.pauseForLayout(),
      // The stream takes the new rectangle at once; viewers see the new sizes.
      afterChange: () => void this.capture.followLayout().then(() => this.session.changed()),
    })
    this.session = new SessionService({
      resize: this.resize,
      capture: this.capture,
      monitors: async () => listX11Monitors(await this.#x11Connection()),
      choices: () => this.#probe.get(),
      roster: this.roster,
      inputEnabled: () => this.input.enabled,
      rejoinToken: async (role) => {
        const roomId = this.#hub?.roomId
        return roomId ? (await this.tokens.issue(roomId, role, REJOIN_TOKEN_TTL_S)).token : undefined
      },
      revokeToken: (token) => this.tokens.revoke(token),
    })
    this.input = new InputService({
      injector: () => this.#injectorBackend(),
      monitors: async () => listX11Monitors(await this.#x11Connection()),
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
      clipboard: () => this.#clipboardBackend(),
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

  static async start(options: HostOptions = {}): Promise<Host> {
    const host = new Host(options)
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
          signalingUrl: options.signalingUrl,
          roomId: options.roomId,
          password: options.roomPassword,
          approval: options.approval,
          admission: new ViewerAdmission(host.tokens),
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
        if (host.display) {
          // Viewers draw the pointer themselves from its image: no waiting for the video.
          const hub = host.#hub
          host.#cursor = CursorWatcher.open(host.display)
          host.#cursor
            .then((cursor) => {
              const send = (image: CursorImage) => hub.broadcastToViewers(encodeCursor(0, image))
              if (cursor.current) send(cursor.current)
              cursor.onChange(send)
            })
            .catch((err: unknown) => log.warn({ err: String(err) }, 'cursor shapes unavailable'))
        }
      }
      // Open the clipboard now so clipboard-changed events flow before anyone calls a clipboard command.
      if (host.display) {
        host
          .#clipboardBackend()
          .catch((err: unknown) => log.warn({ err: String(err) }, 'clipboard unavailable'))
      }
    } catch (err) {
      await host.close()
      throw err
    }
    log.info({ port: host.ipc.port, display: host.display, stateDir: host.stateDir }, 'host started')
    return host
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
      await this.resize.close()
      await this.input.releaseAll().catch(() => {})
      const injector = await this.#injector?.catch(() => undefined)
      injector?.close()
      const cursor = await this.#cursor?.catch(() => undefined)
      cursor?.close()
      const clipboard = await this.#clipboard?.catch(() => undefined)
      clipboard?.close()
      const x11 = await this.#x11?.catch(() => undefined)
      x11?.close()
      if (this.#stateWritten) await removeStateFile(this.stateDir, process.pid)
      log.info('host stopped')
    })()
    return this.#closing
  }

  /** The X display every capability talks to, or NO_DISPLAY naming what needed it. */
  #requireDisplay(what: string): string {
    if (!this.display)
      throw new SmolDeskError('NO_DISPLAY', `no X display ${what}: set DISPLAY or pass --display :N`)
    return this.display
  }

  /** The shared X connection, opened on first use and reopened if the server dropped it. */
  async #x11Connection(): Promise<X11Connection> {
    const display = this.#requireDisplay('to query')
    this.#x11 = reopenIfClosed(this.#x11, () => X11Connection.open(display))
    return this.#x11
  }

  async #injectorBackend(): Promise<InputInjector> {
    const display = this.#requireDisplay('for input')
    this.#injector = reopenIfClosed(this.#injector, () => XTestInjector.open(display))
    return this.#injector
  }

  async #clipboardBackend(): Promise<Clipboard> {
    const display = this.#requireDisplay('for the clipboard')
    this.#clipboard = reopenIfClosed(this.#clipboard, async () => {
      const clipboard = await X11Clipboard.open(
        display,
        this.#options.clipboardMaxBytes ?? CLIPBOARD_MAX_BYTES,
      )
      clipboard.onChange((change) => this.clipboardSync.onChange(change))
      return clipboard
    })
    return this.#clipboard
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
      display: this.display,
      capture: this.capture,
      input: this.input,
      session: this.session,
      transfers: this.transfers,
      clipboardSync: this.clipboardSync,
      roster: this.roster,
      probe: this.#probe,
      security: this.#security,
      thumbnails: this.#thumbnails,
      monitors: async () => listX11Monitors(await this.#x11Connection()),
      clipboard: () => this.#clipboardBackend(),
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

/** Keeps a lazily opened resource; a failed or closed one is opened again on the next use. */
function reopenIfClosed<T extends { closed?: boolean }>(
  current: Promise<T> | undefined,
  open: () => Promise<T>,
): Promise<T> {
  if (current) {
    return current.then(
      (value) => (value.closed ? open() : value),
      () => open(),
    )
  }
  return open()
}

/** The options someone set: an explicit `undefined` leaves the default (or the environment's) in place. */
function definedOnly(options: HostOptions): HostOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as HostOptions
}
