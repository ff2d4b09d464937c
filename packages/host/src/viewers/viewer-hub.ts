import { setTimeout as sleep } from 'node:timers/promises'
import {
  type ServerMessage,
  SmolDeskError,
  type VerifiedIdentity,
  type VideoCodec,
  type ViewerRole,
} from '@smoldesk/protocol'
import type { AudioService } from '../audio/audio-service.ts'
import type { CaptureService } from '../capture/capture-service.ts'
import type { PathSeed } from '../congestion/path-estimate.ts'
import type { EmitEvent } from '../events.ts'
import type { ViewerInput } from '../input/viewer-input.ts'
import { audit, createLogger } from '../log.ts'
import { JOIN_REQUEST_TIMEOUT_MS, type ViewerAdmission } from '../security/viewer-admission.ts'
import type { MediaTransport, PeerDataChannel } from '../webrtc/transport.ts'
import { HostRoom } from './host-room.ts'
import { MAX_OFFERS_PER_JOIN, type PeerSessionContext, ViewerPeerSession } from './viewer-peer-session.ts'
import type { RosterViewer, ViewerRoster } from './viewer-roster.ts'

/** How long a kicked viewer's connection stays open for the last messages to it to leave. */
const KICK_FLUSH_MS = 200
/**
 * How long a kicked viewer's connection (its signaling client id) stays
 * out: it is told so again if it asks to come back meanwhile. A new page
 * is a new client, and asks (or brings a link) like anyone.
 */
const KICKED_MEMORY_MS = 10 * 60_000
/** At most this many kicked connections are remembered (the oldest go first). */
const KICKED_MEMORY_MAX = 1000
/**
 * A viewer's path, as its last connection knew it, seeds its next one for
 * this long: a connection that started anew (media recovery, a new offer)
 * on the same link. Older than that, the link may be another one.
 */
const PATH_MEMORY_MS = 60_000

const log = createLogger('viewers.hub')

export interface ViewerHubOptions {
  /** The WebRTC stack; the hub closes it when it closes. */
  transport: MediaTransport
  /** The video, one encoder per codec in use; each viewer gets its codec's packets. */
  capture: Pick<
    CaptureService,
    'on' | 'offeredCodecs' | 'requestKeyframe' | 'useCodecs' | 'codec' | 'encoderRate' | 'setPathCeiling'
  >
  /** The desktop's sound to every viewer; viewers' microphones back (when the host allows each). */
  audio: Pick<AudioService, 'on' | 'microphones' | 'setPathCeiling'>
  signalingUrl: string
  roomId?: string | undefined
  password?: string | undefined
  approval?: boolean | undefined
  /** Who may join, and as what: tokens and approvals. */
  admission: ViewerAdmission
  /**
   * Take the signaling server's word for whom a viewer signed in as: only
   * when it is this process's own (`smoldesk start`), the relying party
   * that checked the identity provider's ID token.
   */
  trustSignalingIdentity?: boolean | undefined
  /** Who is in the room, with roles and permissions (shared with the capabilities). */
  roster: ViewerRoster
  emit: EmitEvent
  /** Input frames from viewers, and word that a viewer's input is gone. */
  input: ViewerInput
  /** A viewer's clipboard, files or session channel opened (the capability attaches itself to it). */
  onDataChannel?: (viewerId: string, channel: PeerDataChannel) => void
}

/**
 * The host's side of every viewer: the room on the signaling server, the
 * host's own admission check, and one ViewerPeerSession per viewer (its
 * current media connection), to which the encoders' RTP fans out by codec.
 * The hub keeps the map of sessions; a session's close removes it.
 */
export class ViewerHub {
  readonly #o: ViewerHubOptions
  readonly #room: HostRoom
  readonly #sessions = new Map<string, ViewerPeerSession>()
  readonly #requestTimers = new Map<string, NodeJS.Timeout>()
  /** Whom each viewer with a join request waiting signed in as (its peer-joined follows the approval). */
  readonly #identities = new Map<string, VerifiedIdentity | undefined>()
  /** Connections the host removed, until when they stay out (ms, performance.now()). */
  readonly #kicked = new Map<string, number>()
  /** Each viewer's path as its last connection left it, and when (performance.now()). */
  readonly #paths = new Map<string, { seed: PathSeed; at: number }>()
  readonly #ctx: PeerSessionContext
  #latestToViewers: Uint8Array | undefined
  #closed = false

  constructor(options: ViewerHubOptions) {
    this.#o = options
    this.#room = new HostRoom({ ...options, onMessage: (msg) => this.#onSignal(msg) })
    this.#ctx = {
      transport: options.transport,
      capture: options.capture,
      audio: options.audio,
      roster: options.roster,
      input: options.input,
      emit: options.emit,
      signal: (message) => this.#room.send(message),
      iceServers: () => this.#room.iceServers,
      codecsChanged: () => this.#syncCodecs(),
      onDataChannel: (viewerId, channel) => this.#o.onDataChannel?.(viewerId, channel),
      recallPath: (viewerId) => {
        const known = this.#paths.get(viewerId)
        return known && performance.now() - known.at < PATH_MEMORY_MS ? known.seed : undefined
      },
      rememberPath: (viewerId, seed) => {
        const now = performance.now()
        // Viewers who left for good are forgotten with the rest of what is too old to count.
        for (const [id, known] of this.#paths) if (now - known.at >= PATH_MEMORY_MS) this.#paths.delete(id)
        if (seed) this.#paths.set(viewerId, { seed, at: now })
        else this.#paths.delete(viewerId)
      },
      microphone: (viewerId, packet) => options.audio.microphones.receive(viewerId, packet),
      retry: (session) => {
        if (session.attempt >= MAX_OFFERS_PER_JOIN) {
          void this.#drop(session.viewerId, 'could not connect')
          return
        }
        log.warn(
          { viewerId: session.viewerId, attempt: session.attempt },
          'viewer not connected in time; offering again',
        )
        this.#connect(session.viewerId, session.attempt + 1).catch((err: unknown) =>
          log.warn({ err: String(err) }, 'new offer failed'),
        )
      },
      lost: (session, reason) => void this.#drop(session.viewerId, reason),
      closed: (session) => {
        if (this.#sessions.get(session.viewerId) === session) this.#sessions.delete(session.viewerId)
      },
    }
    options.capture.on('rtp', (codec, packet) => {
      for (const session of this.#sessions.values()) if (session.codec === codec) session.sendRtp(packet)
    })
    options.capture.on('sourceChanged', (codec) => {
      for (const session of this.#sessions.values()) if (session.codec === codec) session.sourceChanged()
    })
    options.audio.on('rtp', (packet) => {
      for (const session of this.#sessions.values()) session.sendAudioRtp(packet)
    })
    options.audio.on('sourceChanged', () => {
      for (const session of this.#sessions.values()) session.audioSourceChanged()
    })
  }

  get roomId(): string | undefined {
    return this.#room.roomId
  }

  get access(): { password: boolean; approval: boolean } {
    return this.#room.access
  }

  /** Who may join once signed in, when the host trusts its signaling server's sign-ins. */
  get admission(): ViewerAdmission {
    return this.#o.admission
  }

  updateRoom(change: { password?: string | undefined; approval?: boolean | undefined }): Promise<void> {
    return this.#room.update(change)
  }

  start(): Promise<string> {
    return this.#room.open()
  }

  /** Everyone in the room or waiting to be let in. */
  viewers(): RosterViewer[] {
    return this.#o.roster.list(this.#o.admission.pending, (id) => this.#sessions.get(id)?.connected ?? false)
  }

  /** Viewers whose media connection is up. */
  connectedViewers(): string[] {
    return [...this.#sessions.values()].filter((s) => s.connected).map((s) => s.viewerId)
  }

  /** Answers a join request (approval rooms). */
  answerJoinRequest(peerId: string, approve: boolean, role?: ViewerRole): void {
    clearTimeout(this.#requestTimers.get(peerId))
    this.#requestTimers.delete(peerId)
    if (approve) {
      const granted = this.#o.admission.approve(peerId, role)
      this.#room.send({ type: 'approve-join', peerId, role: granted })
    } else {
      this.#o.admission.deny(peerId)
      this.#identities.delete(peerId)
      this.#room.send({ type: 'deny-join', peerId })
    }
  }

  /** Removes a viewer from the room: its peer connection closes and signaling tells it why. */
  async kick(peerId: string, code: SmolDeskError['code'] = 'KICKED', message?: string): Promise<void> {
    this.#remember(peerId)
    this.#room.send({ type: 'kick', peerId, code, ...(message !== undefined && { message }) })
    this.#o.admission.forget(peerId)
    // A moment for what was just sent on its data channels to leave before the connection closes.
    if (this.#sessions.get(peerId)?.connected) await sleep(KICK_FLUSH_MS)
    await this.#drop(peerId, 'removed by the host')
  }

  /** Sends a host → viewer message to every viewer, and to each one that joins later. */
  broadcastToViewers(frame: Uint8Array): void {
    this.#latestToViewers = frame
    for (const session of this.#sessions.values()) session.sendToViewer(frame)
  }

  /**
   * The configured codec changed: viewers on another codec get a fresh
   * offer (a new peer connection) and take the new codec if they can decode it.
   */
  async codecChanged(): Promise<void> {
    const codec = this.#o.capture.codec
    for (const [viewerId, session] of [...this.#sessions]) {
      if (session.codec !== codec) await this.#connect(viewerId, 1)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const timer of this.#requestTimers.values()) clearTimeout(timer)
    this.#requestTimers.clear()
    await Promise.all([...this.#sessions.values()].map((s) => s.close()))
    this.#room.close()
    await this.#o.transport.close()
  }

  /** Each codec some viewer uses keeps its encoder; the rest stop. */
  #syncCodecs(): void {
    const inUse = new Set<VideoCodec>()
    for (const session of this.#sessions.values()) if (session.codec) inUse.add(session.codec)
    this.#o.capture
      .useCodecs(inUse)
      .catch((err: unknown) => log.warn({ err: String(err) }, 'encoders for the viewers’ codecs'))
  }

  async #onSignal(msg: ServerMessage): Promise<void> {
    log.debug({ type: msg.type }, 'signal')
    switch (msg.type) {
      case 'join-request':
        await this.#onJoinRequest(msg.peerId, msg.role, msg.token, this.#trusted(msg.identity))
        return
      case 'peer-joined':
        await this.#onPeerJoined(
          msg.peerId,
          msg.role === 'view-only' ? 'view-only' : 'viewer',
          msg.token,
          this.#trusted(msg.identity),
        )
        return
      case 'peer-left':
        this.#o.admission.forget(msg.peerId)
        this.#identities.delete(msg.peerId)
        clearTimeout(this.#requestTimers.get(msg.peerId))
        this.#requestTimers.delete(msg.peerId)
        await this.#drop(msg.peerId, 'left the room')
        return
      case 'answer':
        await this.#sessions.get(msg.fromId)?.answer(msg.sdp)
        return
      case 'ice-candidate':
        // Not awaited: werift resolves a browser's mDNS (.local) candidate for up to 10 s, and the
        // queue must not stall other viewers meanwhile. Ordering after the answer is already kept.
        this.#sessions
          .get(msg.fromId)
          ?.addRemoteCandidate(msg.candidate)
          .catch((err: unknown) => log.debug({ err: String(err) }, 'remote candidate not usable'))
        return
      default:
        return
    }
  }

  /** A kicked connection stays out for a while (see KICKED_MEMORY_MS). */
  #remember(peerId: string): void {
    const now = performance.now()
    for (const [id, until] of this.#kicked) if (until <= now) this.#kicked.delete(id)
    this.#kicked.delete(peerId)
    this.#kicked.set(peerId, now + KICKED_MEMORY_MS)
    while (this.#kicked.size > KICKED_MEMORY_MAX) {
      const oldest = this.#kicked.keys().next().value
      if (oldest === undefined) break
      this.#kicked.delete(oldest)
    }
  }

  /**
   * A kicked connection that asks to come back is told again that it was
   * removed. Its media recovery may have been leaving and rejoining the
   * room just as the kick came: the server found it out of the room and
   * told it nothing, and its rejoin (the token revoked) became a request
   * for the host's approval (seen in CI).
   */
  #stillKicked(peerId: string): boolean {
    const until = this.#kicked.get(peerId)
    if (until === undefined || until <= performance.now()) return false
    log.info({ peerId }, 'a removed viewer asked to come back; told again')
    this.#room.send({
      type: 'kick',
      peerId,
      code: 'KICKED',
      message: 'the host removed you from the session',
    })
    return true
  }

  #trusted(identity: VerifiedIdentity | undefined): VerifiedIdentity | undefined {
    return this.#o.trustSignalingIdentity ? identity : undefined
  }

  async #onJoinRequest(
    peerId: string,
    role: ViewerRole,
    token: string | undefined,
    identity: VerifiedIdentity | undefined,
  ): Promise<void> {
    if (this.#stillKicked(peerId)) return
    let answer: Awaited<ReturnType<ViewerAdmission['request']>>
    try {
      answer = await this.#o.admission.request(peerId, this.#room.roomId ?? '', role, token, identity)
    } catch (err) {
      this.#refuse(peerId, err, identity)
      return
    }
    if (!('reason' in answer)) {
      this.#room.send({ type: 'approve-join', peerId, role: answer.role })
      return
    }
    this.#identities.set(peerId, identity)
    log.info(
      { peerId, role, reason: answer.reason, who: identity?.email ?? identity?.sub },
      'join request waits for the host',
    )
    this.#o.emit('viewer-join-request', {
      viewerId: peerId,
      role,
      reason: answer.reason,
      ...(identity && { identity }),
    })
    this.#requestTimers.set(
      peerId,
      setTimeout(() => {
        this.#requestTimers.delete(peerId)
        log.info({ peerId }, 'join request not answered in time; denied')
        try {
          this.answerJoinRequest(peerId, false)
        } catch {}
      }, JOIN_REQUEST_TIMEOUT_MS).unref(),
    )
  }

  /** The host's own check before any media or input: a token or an approval, else the viewer is sent away. */
  async #onPeerJoined(
    peerId: string,
    asked: ViewerRole,
    token: string | undefined,
    identity: VerifiedIdentity | undefined,
  ): Promise<void> {
    if (this.#stillKicked(peerId)) return
    // An approved request's identity is the one it asked with (peer-joined repeats it).
    const who = identity ?? this.#identities.get(peerId)
    this.#identities.delete(peerId)
    let role: ViewerRole
    try {
      role = await this.#o.admission.admit(peerId, this.#room.roomId ?? '', asked, token, who)
    } catch (err) {
      this.#refuse(peerId, err, who)
      return
    }
    this.#o.roster.admit(peerId, role, token, who)
    audit.info({ event: 'viewer-joined', viewerId: peerId, role, identity: who }, 'viewer joined')
    await this.#connect(peerId, 1)
  }

  /** Sends a viewer away with the coded reason (it sees the words), and tells the host's UI. */
  #refuse(peerId: string, err: unknown, identity: VerifiedIdentity | undefined): void {
    const error = SmolDeskError.from(err)
    log.warn({ peerId, code: error.code }, 'viewer refused')
    audit.info({ event: 'viewer-refused', viewerId: peerId, code: error.code, identity }, 'viewer refused')
    this.#room.send({ type: 'kick', peerId, code: error.code, message: error.message })
    this.#o.emit('error', {
      code: error.code,
      message: `viewer ${peerId} refused: ${error.message}`,
      source: 'security',
    })
  }

  /** A new media connection for a viewer, replacing the one it had. */
  async #connect(viewerId: string, attempt: number): Promise<void> {
    if (this.#closed) return
    const codecs = await this.#o.capture.offeredCodecs()
    // werift's close can take seconds; signaling for other viewers must not wait for it.
    void this.#sessions.get(viewerId)?.close()
    const session = new ViewerPeerSession(this.#ctx, viewerId, attempt, codecs)
    this.#sessions.set(viewerId, session)
    if (this.#latestToViewers) session.sendToViewer(this.#latestToViewers)
    await session.offer()
  }

  async #drop(viewerId: string, reason: string): Promise<void> {
    this.#o.roster.remove(viewerId)
    const session = this.#sessions.get(viewerId)
    if (!session) return
    void session.close()
    this.#syncCodecs()
    this.#o.input.viewerGone(viewerId)
    void this.#o.audio.microphones.viewerGone(viewerId)
    if (session.connected) this.#o.emit('viewer-disconnected', { viewerId, reason })
  }
}
