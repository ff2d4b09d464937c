import {
  CLIPBOARD_CHANNEL,
  FILES_CHANNEL,
  type RoomRole,
  SESSION_CHANNEL,
  type SessionState,
  SmolDeskError,
  type TransferInfo,
  type VerifiedIdentity,
  type VideoCodec,
} from '@smoldesk/protocol'
import { statusLine } from './advice.ts'
import { type RemoteClipboard, ViewerClipboard } from './clipboard.ts'
import { decodableCodecs } from './codecs.ts'
import { ViewerFiles } from './files.ts'
import { InputCapture } from './input.ts'
import type { LinkParams } from './link-params.ts'
import { createLogger } from './log.ts'
import { type MicrophoneState, ViewerMicrophone } from './microphone.ts'
import { RemoteSizeFollower } from './remote-size.ts'
import { type ConnectionStatus, ViewerSession } from './session/viewer-session.ts'
import { SessionChannel } from './session-channel.ts'
import { loadSettings, type Settings, saveSettings } from './settings.ts'
import { type SoundState, ViewerSound } from './sound.ts'
import { StatsSampler, type VideoStats } from './stats.ts'
import { NO_ZOOM, panBy, type ViewTransform, zoomAbout } from './view.ts'

const log = createLogger('app')

declare global {
  interface Window {
    /** For tests and debugging: the live session and what the page shows. */
    smoldesk?: {
      connection: ViewerSession
      stats: VideoStats | undefined
      state: ConnectionStatus['state']
      /** The status in one line: "CODE: message (detail)", or words. */
      detail: string
      error: SmolDeskError | undefined
      role: RoomRole | undefined
      files: ViewerFiles
      clipboard: ViewerClipboard
      session: SessionChannel
      sound: ViewerSound
      microphone: ViewerMicrophone
      remoteSize?: RemoteSizeFollower
    }
  }
}

/** Everything the page renders, as one immutable snapshot. */
export interface ViewerSnapshot {
  status: ConnectionStatus
  role: RoomRole | undefined
  /** Whom we signed in as (single sign-on), if we did. */
  identity: VerifiedIdentity | undefined
  /** What the host streams and offers (its session channel). */
  host: SessionState | undefined
  stream: MediaStream | undefined
  stats: VideoStats | undefined
  transfers: TransferInfo[]
  remoteClip: RemoteClipboard | undefined
  /** The last thing to tell the user (a refusal, a clipboard result). */
  note: string
  settings: Settings
  view: ViewTransform
  /** The user pressed Disconnect. */
  userClosed: boolean
  /** The host's sound here, and whether the browser holds it back. */
  sound: { state: SoundState; volume: number; muted: boolean }
  /** This viewer's microphone to the host. */
  microphone: { state: MicrophoneState; why: string }
}

/** Stats are sampled this often. */
const STATS_EVERY_MS = 1000

/**
 * The viewer page's model: the session with the host, the page-long
 * capabilities (files, clipboard, the host's session channel), settings,
 * input, stats and the local view. Plain TypeScript; React subscribes to
 * its snapshot and calls its methods. A password typed after a refusal
 * makes a new session; transfers and the clipboard carry on.
 */
export class ViewerApp {
  readonly files: ViewerFiles
  readonly clipboard: ViewerClipboard
  readonly sessionChannel: SessionChannel
  readonly sound: ViewerSound
  readonly microphone: ViewerMicrophone
  readonly decodable: VideoCodec[] = decodableCodecs()
  readonly #link: LinkParams
  readonly #listeners = new Set<() => void>()
  #snapshot: ViewerSnapshot
  #session: ViewerSession | undefined
  #capture: InputCapture | undefined
  #detachInput: (() => void) | undefined
  #statsTimer: ReturnType<typeof setInterval> | undefined
  readonly #unlisten: (() => void)[] = []
  #closed = false

  constructor(link: LinkParams, download: (name: string, blob: Blob) => void) {
    this.#link = link
    this.#snapshot = {
      status: { state: 'connecting', error: undefined, detail: '', ice: undefined, hostGone: false },
      role: undefined,
      identity: undefined,
      host: undefined,
      stream: undefined,
      stats: undefined,
      transfers: [],
      remoteClip: undefined,
      note: '',
      settings: loadSettings(),
      view: NO_ZOOM,
      userClosed: false,
      sound: { state: 'none', volume: 1, muted: false },
      microphone: { state: 'not-allowed', why: '' },
    }
    const settings = this.#snapshot.settings
    this.sound = new ViewerSound(settings, () =>
      this.#set({ sound: { state: this.sound.state, volume: this.sound.volume, muted: this.sound.muted } }),
    )
    this.microphone = new ViewerMicrophone(
      (track) => this.#session?.setMicrophone(track),
      () => this.#set({ microphone: { state: this.microphone.state, why: this.microphone.why } }),
    )
    this.files = new ViewerFiles({ onChange: (transfers) => this.#set({ transfers }), onDownload: download })
    this.clipboard = new ViewerClipboard({
      onRemote: (remote) => this.#set({ remoteClip: { ...remote } }),
      onError: (message) => this.#set({ note: message }),
    })
    this.sessionChannel = new SessionChannel((host) => {
      this.microphone.hostAllows(host?.microphone_allowed ?? false)
      this.#set({ host })
    })
    this.sessionChannel.onBye = (reason) => this.#session?.end(reason)
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  readonly getSnapshot = (): ViewerSnapshot => this.#snapshot

  /** Joins the room; the page's focus and leaving are the app's to watch from here on. */
  start(password?: string): void {
    if (this.#closed) return
    const previous = this.#session
    const link = this.#link
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const session = new ViewerSession(
      {
        capabilities: {
          [CLIPBOARD_CHANNEL]: this.clipboard,
          [FILES_CHANNEL]: this.files,
          [SESSION_CHANNEL]: this.sessionChannel,
        },
        signalingUrl: `${scheme}://${location.host}/signal`,
        roomId: link.roomId,
        password,
        token: link.token,
        rejoinToken: () => this.sessionChannel.state?.rejoin_token,
        role: link.role,
        allowInsecurePassword: link.insecure,
        ...(link.relay && { iceTransportPolicy: 'relay' as const }),
      },
      {
        status: (status) => {
          if (this.#session !== session) return
          if (status.state === 'connected' && status.error?.code === 'CODEC_UNSUPPORTED')
            this.#set({ note: `${statusLine(status)}. Clipboard and files still work.` })
          this.#set({ status })
        },
        role: (role) => {
          this.#set({ role })
          // A view-only viewer watches: its input is not even captured.
          if (role === 'view-only') this.#detachInput?.()
        },
        stream: (stream) => {
          this.sound.attach(stream)
          this.#set({ stream })
        },
        cursor: (cursor) => this.#capture?.setCursor(cursor),
        identity: (identity) => this.#set({ identity }),
      },
    )
    this.#session = session
    // Closed after the swap: its last word ('disconnected') is no longer the page's status.
    previous?.close()
    this.#publishDebug()
    if (this.#unlisten.length === 0) this.#watchPage()
    void session.connect()
  }

  /** The password form: a new session with it. */
  joinWithPassword(password: string): void {
    this.start(password)
  }

  /** The Disconnect button: leaves, and the page offers to connect again. */
  disconnect(): void {
    this.#set({ userClosed: true })
    this.#session?.close()
  }

  /**
   * Captures input on the video: what it sends goes to the host while input
   * is on; Ctrl+Alt+Shift hands focus back to the page (`onLeave`).
   */
  attachInput(video: HTMLVideoElement, stage: HTMLElement, onLeave: () => void): InputCapture {
    const capture = new InputCapture(
      video,
      (frame, motion) => {
        if (this.#snapshot.settings.inputOn) this.#session?.sendInput(frame, motion)
      },
      {
        onLeave,
        fullSize: () => {
          const stream = this.#snapshot.host?.stream
          return stream?.full_width && stream.full_height
            ? { width: stream.full_width, height: stream.full_height }
            : undefined
        },
        mode: () => this.#snapshot.settings.touchMode,
        zoomed: () => this.#snapshot.view.zoom > 1,
        onZoom: (factor, at) => {
          const box = stage.getBoundingClientRect()
          this.#set({
            view: zoomAbout(this.#snapshot.view, factor, { x: at.x - box.left, y: at.y - box.top }, box),
          })
        },
        onPan: (dx, dy) =>
          this.#set({ view: panBy(this.#snapshot.view, dx, dy, stage.getBoundingClientRect()) }),
      },
    )
    this.#capture = capture
    if (this.#snapshot.role !== 'view-only') this.#detachInput = capture.attach()
    return capture
  }

  get input(): InputCapture | undefined {
    return this.#capture
  }

  updateSettings(change: Partial<Settings>): void {
    // Input switched off: release held keys and buttons first, while input still goes out.
    if (change.inputOn === false) this.#capture?.releaseAll()
    const settings = { ...this.#snapshot.settings, ...change }
    saveSettings(settings)
    this.#set({ settings, ...(change.viewMode !== undefined && { view: NO_ZOOM }) })
  }

  /** The speaker button and slider; remembered like the other settings. */
  setSound(change: { volume?: number; muted?: boolean }): void {
    if (change.volume !== undefined) this.sound.setVolume(change.volume)
    if (change.muted !== undefined) this.sound.setMuted(change.muted)
    this.updateSettings({ volume: this.sound.volume, muted: this.sound.muted })
  }

  /** Asks the host for a switch (monitor, stream); a refusal becomes the note, with its code. */
  request(request: Parameters<SessionChannel['request']>[0]): void {
    this.sessionChannel.request(request).then(
      () => this.#set({ note: '' }),
      (err: unknown) => {
        const error = SmolDeskError.from(err)
        this.#set({ note: `The host refused: ${error.code}: ${error.message}` })
      },
    )
  }

  /** Follows this element's size with the remote monitor (where the host allows it); returns the stop. */
  followSize(stage: HTMLElement): () => void {
    const follower = new RemoteSizeFollower(stage, (size) =>
      this.sessionChannel.request({ type: 'resize', ...size }),
    )
    follower.start()
    if (window.smoldesk) window.smoldesk.remoteSize = follower
    return () => follower.stop()
  }

  sendFiles(list: Iterable<File>): void {
    for (const file of list) {
      try {
        this.files.sendFile(file, file.name)
      } catch (err) {
        this.#set({ note: `Cannot send ${file.name}: ${SmolDeskError.from(err).message}` })
      }
    }
  }

  async sendClipboard(): Promise<void> {
    const result = await this.clipboard.syncFromBrowser()
    this.#set({
      note: result.why ? `Clipboard not sent: ${result.why}` : result.sent ? 'Clipboard sent' : '',
    })
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#statsTimer)
    for (const unlisten of this.#unlisten.splice(0)) unlisten()
    this.#detachInput?.()
    this.microphone.stop()
    this.sound.close()
    this.#session?.close()
  }

  /** Stats each second; the clipboard on focus; leaving the page is leaving the room. */
  #watchPage(): void {
    const sampler = new StatsSampler()
    this.#statsTimer = setInterval(async () => {
      const pc = this.#session?.peerConnection
      if (!pc) return
      const stats = await sampler.sample(pc)
      this.#set({ stats })
    }, STATS_EVERY_MS)
    // Whatever the user copied elsewhere goes to the host when they come back to this page.
    const onFocus = () => {
      if (this.#snapshot.role === 'view-only') return
      void this.clipboard.syncFromBrowser().then((result) => {
        if (result.why) this.#set({ note: `Clipboard not sent: ${result.why}` })
      })
    }
    // Leaving the page (closing the tab, going elsewhere) is leaving the room, said at once: the host
    // then frees what this viewer held (its monitor size, its input) instead of waiting out the
    // signaling server's resume grace for a connection that only dropped.
    const onLeave = () => this.#session?.close()
    // The first click or key press is when a browser that holds sound back lets it start.
    const onGesture = () => this.sound.unlock()
    window.addEventListener('focus', onFocus)
    window.addEventListener('pagehide', onLeave)
    window.addEventListener('pointerdown', onGesture, true)
    window.addEventListener('keydown', onGesture, true)
    this.#unlisten.push(
      () => window.removeEventListener('pointerdown', onGesture, true),
      () => window.removeEventListener('keydown', onGesture, true),
      () => window.removeEventListener('focus', onFocus),
      () => window.removeEventListener('pagehide', onLeave),
    )
  }

  #set(change: Partial<ViewerSnapshot>): void {
    if (change.status && change.status.state !== this.#snapshot.status.state)
      log.info({ state: change.status.state, why: statusLine(change.status) }, 'connection state')
    this.#snapshot = { ...this.#snapshot, ...change }
    this.#publishDebug()
    for (const listener of this.#listeners) listener()
  }

  #publishDebug(): void {
    const session = this.#session
    if (!session) return
    const { status, stats, role } = this.#snapshot
    window.smoldesk = {
      ...window.smoldesk,
      connection: session,
      stats,
      state: status.state,
      detail: statusLine(status),
      error: status.error,
      role,
      files: this.files,
      clipboard: this.clipboard,
      session: this.sessionChannel,
      sound: this.sound,
      microphone: this.microphone,
    }
  }
}
