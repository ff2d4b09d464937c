import {
  decodeFrame,
  describeZodError,
  encodeControl,
  type HardwareAcceleration,
  type MonitorInfo,
  presetOf,
  type ScreenCaptureConfig,
  type SessionRequest,
  SessionRequestSchema,
  type SessionState,
  type SessionToViewer,
  SmolDeskError,
  STREAM_PRESETS,
  summarizeStream,
  type VideoCodec,
} from '@smoldesk/protocol'
import type { CaptureService } from '../capture/capture-service.ts'
import type { ResizeService } from '../display/resize-service.ts'
import { createLogger } from '../log.ts'
import type { ViewerRoster } from '../viewers/viewer-roster.ts'
import type { PeerDataChannel } from '../webrtc/transport.ts'

const log = createLogger('session')

/** Requests a viewer may make per second; more are answered RATE_LIMITED (each one restarts the encoder). */
const MAX_REQUESTS_PER_SECOND = 5
/** Viewers whose rejoin tokens are remembered (for revoking them on a kick). */
const MAX_REJOIN_ENTRIES = 1000

export interface SessionServiceOptions {
  capture: CaptureService
  monitors: () => Promise<MonitorInfo[]>
  /** The probed codecs and accelerations (cached after the first probe). */
  choices: () => Promise<{ codecs: VideoCodec[]; accelerations: HardwareAcceleration[] }>
  /** Each viewer's role, and the token it joined with (a rejoin token shows it is a viewer we knew under another id). */
  roster: Pick<ViewerRoster, 'role' | 'joinToken' | 'permissions'>
  inputEnabled: () => boolean
  /** Whether the desktop's sound goes with the picture now, and why not. */
  audio: () => { streaming: boolean; reason?: string }
  /** A signed viewer token for a role (see `rejoin_token`); undefined when none can be made. */
  rejoinToken: (role: 'viewer' | 'view-only') => Promise<string | undefined>
  /** Takes a token back before it expires. */
  revokeToken: (token: string) => void
  /** The watched monitor follows a viewer's window size. */
  resize: Pick<ResizeService, 'state' | 'request'>
}

interface RejoinEntry {
  role: 'viewer' | 'view-only'
  token: Promise<string | undefined>
  /** The token once issued. */
  value?: string | undefined
}

interface SharedState {
  monitors: MonitorInfo[]
  choices: { codecs: VideoCodec[]; accelerations: HardwareAcceleration[] }
  resize: Promise<'allowed' | 'not-allowed' | 'unsupported'>
}

interface Attached {
  channel: PeerDataChannel
  window: { start: number; count: number }
}

/**
 * The session channel on the host: tells each viewer what it can switch
 * (monitors, presets, the probed codecs) and what is streaming, and carries
 * out a viewer's switch with the same checks as start_capture, so a bad
 * request never interrupts the stream.
 */
export class SessionService {
  readonly #o: SessionServiceOptions
  readonly #viewers = new Map<string, Attached>()
  /** Each viewer's rejoin token, kept across its drops; replaced (and the old one revoked) on a role change. */
  readonly #rejoin = new Map<string, RejoinEntry>()

  constructor(options: SessionServiceOptions) {
    this.#o = options
  }

  attach(viewerId: string, channel: PeerDataChannel): void {
    const viewer: Attached = { channel, window: { start: 0, count: 0 } }
    this.#viewers.set(viewerId, viewer)
    channel.onMessage((frame) => void this.#onFrame(viewerId, viewer, frame))
    channel.onClose(() => {
      if (this.#viewers.get(viewerId) === viewer) this.#viewers.delete(viewerId)
    })
    void this.#sendState(viewerId, viewer)
  }

  /** Something viewers see changed (capture, input switch, a role): tell every viewer. */
  changed(): void {
    if (this.#viewers.size === 0) return
    // What all viewers share is read once (the monitor list costs X round trips), then each gets its own.
    const shared = this.#shared()
    for (const [viewerId, viewer] of this.#viewers) void this.#sendState(viewerId, viewer, shared)
  }

  async state(viewerId: string, shared = this.#shared()): Promise<SessionState> {
    const { monitors, choices, resize } = await shared
    const role = this.#o.roster.role(viewerId)
    const rejoin = role ? await this.#rejoinToken(viewerId, role) : undefined
    const config = this.#o.capture.running
    return {
      type: 'session',
      monitors: monitors.map((m) => ({
        index: m.index,
        name: m.name.slice(0, 200),
        width: m.width,
        height: m.height,
        is_primary: m.is_primary,
        scale_factor: m.scale_factor,
      })),
      stream: config
        ? {
            ...summarizeStream(config, this.#o.capture.pipeline.captureMode),
            preset: presetOf({ fps: config.fps, quality: config.quality, latency_mode: config.latencyMode }),
            ...this.#o.capture.pipeline.fullSize,
          }
        : null,
      codecs: choices.codecs,
      hardware_accelerations: choices.accelerations,
      can_control: role === 'viewer',
      input_enabled: this.#o.inputEnabled(),
      audio: this.#o.audio(),
      microphone_allowed: this.#o.roster.permissions(viewerId).microphone,
      resize: role === 'viewer' ? await resize : 'not-allowed',
      ...(rejoin && { rejoin_token: rejoin }),
    }
  }

  /** The part of the session state that is the same for every viewer. */
  async #shared(): Promise<SharedState> {
    const [monitors, choices] = await Promise.all([
      this.#o.monitors().catch(() => []),
      this.#o.choices().catch(() => ({ codecs: [], accelerations: [] })),
    ])
    return { monitors, choices, resize: this.#o.resize.state().catch(() => 'unsupported' as const) }
  }

  /** Tells a viewer its session ends and why (before its peer connection is closed). */
  bye(viewerId: string, code: SmolDeskError['code'], message: string): void {
    const viewer = this.#viewers.get(viewerId)
    if (viewer) send(viewer.channel, { type: 'bye', code, message })
  }

  /** Tokens signed with the old key no longer verify: every connected viewer gets a new rejoin token. */
  signingKeyChanged(): void {
    this.#rejoin.clear()
    this.changed()
  }

  /** The viewer is gone for good (kicked): its rejoin token no longer admits it. */
  revokeRejoin(viewerId: string): void {
    const entry = this.#rejoin.get(viewerId)
    this.#rejoin.delete(viewerId)
    void entry?.token.then((token) => token && this.#o.revokeToken(token))
  }

  #rejoinToken(viewerId: string, role: 'viewer' | 'view-only'): Promise<string | undefined> {
    this.#adoptEarlierSelf(viewerId)
    const entry = this.#rejoin.get(viewerId)
    if (entry?.role === role) return entry.token
    if (entry) this.revokeRejoin(viewerId) // a demoted viewer must not come back with its old role
    const next: RejoinEntry = { role, token: this.#o.rejoinToken(role).catch(() => undefined) }
    void next.token.then((value) => {
      next.value = value
    })
    // Bounded: a host that saw thousands of viewers forgets the oldest (they re-ask for approval).
    if (this.#rejoin.size >= MAX_REJOIN_ENTRIES) this.#rejoin.delete(this.#rejoin.keys().next().value ?? '')
    this.#rejoin.set(viewerId, next)
    return next.token
  }

  /**
   * A viewer that came back under a new id with the rejoin token we gave it
   * takes over its entry: a kick must revoke the token it actually holds.
   */
  #adoptEarlierSelf(viewerId: string): void {
    if (this.#rejoin.has(viewerId)) return
    const presented = this.#o.roster.joinToken(viewerId)
    if (!presented) return
    for (const [earlierId, entry] of this.#rejoin) {
      if (entry.value !== presented) continue
      this.#rejoin.delete(earlierId)
      this.#rejoin.set(viewerId, entry)
      return
    }
  }

  async #sendState(viewerId: string, viewer: Attached, shared?: Promise<SharedState>): Promise<void> {
    const state = await this.state(viewerId, shared)
    if (this.#viewers.get(viewerId) === viewer) send(viewer.channel, state)
  }

  async #onFrame(viewerId: string, viewer: Attached, bytes: Uint8Array): Promise<void> {
    let id = 0
    try {
      const frame = decodeFrame(bytes)
      if (frame.kind !== 'control')
        throw new SmolDeskError('INVALID_ARGS', 'the session channel takes control messages')
      const raw = frame.message as { id?: unknown }
      if (typeof raw.id === 'number' && Number.isSafeInteger(raw.id) && raw.id >= 0) id = raw.id
      const parsed = SessionRequestSchema.safeParse(frame.message)
      if (!parsed.success) throw new SmolDeskError('INVALID_ARGS', describeZodError(parsed.error))
      const now = Date.now()
      if (now - viewer.window.start >= 1000) viewer.window = { start: now, count: 0 }
      // Resizes are coalesced by the resize service (one change every half second at most).
      if (parsed.data.type !== 'resize' && ++viewer.window.count > MAX_REQUESTS_PER_SECOND)
        throw new SmolDeskError('RATE_LIMITED', `at most ${MAX_REQUESTS_PER_SECOND} stream changes a second`)
      await this.#carryOut(viewerId, parsed.data)
      send(viewer.channel, { type: 'result', id })
      if (parsed.data.type !== 'resize')
        log.info({ viewer: viewerId, request: parsed.data }, 'viewer changed the stream')
    } catch (err) {
      const error = SmolDeskError.from(err)
      send(viewer.channel, {
        type: 'result',
        id,
        error: { code: error.code, message: error.message.slice(0, 1000) },
      })
    }
  }

  async #carryOut(viewerId: string, request: SessionRequest): Promise<void> {
    if (this.#o.roster.role(viewerId) !== 'viewer')
      throw new SmolDeskError('FORBIDDEN', 'a view-only viewer cannot change the stream')
    const capture = this.#o.capture
    const current = capture.running
    if (!current) throw new SmolDeskError('UNAVAILABLE', 'the host is not sharing its screen right now')
    const wire: ScreenCaptureConfig = { ...capture.wireConfig }
    delete wire.monitor_index
    if (request.type === 'select-monitor') {
      await capture.start(request.monitor_index, wire)
      return
    }
    if (request.type === 'resize') {
      await this.#o.resize.request(viewerId, request.width, request.height)
      return
    }
    await capture.start(current.monitorIndex, {
      ...wire,
      ...(request.preset && STREAM_PRESETS[request.preset]),
      ...(request.codec && { codec: request.codec }),
      ...(request.hardware_acceleration && { hardware_acceleration: request.hardware_acceleration }),
    })
  }
}

function send(channel: PeerDataChannel, message: SessionToViewer): void {
  channel.send(encodeControl(message))
}
