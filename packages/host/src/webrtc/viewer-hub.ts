import { setTimeout as sleep } from 'node:timers/promises'
import {
  defaultPermissions,
  type IceCandidate,
  type IceServer,
  type ServerMessage,
  SignalingClient,
  SmolDeskError,
  type VideoCodec,
  type ViewerPermissions,
  type ViewerRole,
} from '@smoldesk/protocol'
import type { CaptureService } from '../capture/capture-service.ts'
import type { EmitEvent } from '../events.ts'
import type { ViewerInput } from '../input/viewer-input.ts'
import { createLogger } from '../log.ts'
import { JOIN_REQUEST_TIMEOUT_MS, type ViewerAdmission } from '../security/viewer-admission.ts'
import type { MediaTransport, PeerDataChannel, ViewerPeer } from './transport.ts'

/** How long a kicked viewer's connection stays open for the last messages to it to leave. */
const KICK_FLUSH_MS = 200

const log = createLogger('webrtc.hub')

/** A viewer that has answered but is not connected after this long gets a fresh offer. */
const CONNECT_WATCHDOG_MS = 4000
const MAX_OFFERS_PER_JOIN = 4

export interface ViewerHubOptions {
  transport: MediaTransport
  /** The video, one encoder per codec in use; each viewer gets its codec's packets. */
  capture: Pick<CaptureService, 'on' | 'offeredCodecs' | 'requestKeyframe' | 'useCodecs' | 'codec'>
  signalingUrl: string
  roomId?: string | undefined
  /** A room password, checked by the signaling server (scrypt-hashed there). */
  password?: string | undefined
  /** Viewers without a valid token wait for the host's approval instead of being turned away. */
  approval?: boolean | undefined
  /** Who may join, and as what: tokens and approvals. */
  admission: ViewerAdmission
  emit: EmitEvent
  /** Input frames from viewers, and word that a viewer's input is gone. */
  input: ViewerInput
  /** A viewer's clipboard or files channel opened (the capability attaches itself to it). */
  onDataChannel?: (viewerId: string, channel: PeerDataChannel) => void
}

interface Viewer {
  role: ViewerRole
  permissions: ViewerPermissions
  peer: ViewerPeer
  /** The codec the viewer's answer chose; undefined until it answered, or when it can decode none. */
  codec: VideoCodec | undefined
  connected: boolean
  /** Local candidates wait here until the viewer's answer is applied (see #connect). */
  pendingCandidates: (IceCandidate | null)[] | undefined
  attempt: number
  watchdog: NodeJS.Timeout | undefined
}

/** Removes candidate lines: candidates are trickled separately, after the answer. */
function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
    .join('\r\n')
}

/**
 * The host's side of every viewer: it joins the signaling server as the
 * room's creator, offers each viewer that joins a peer connection, and fans
 * the single encoder's RTP out to every connected peer.
 */
export class ViewerHub {
  readonly #options: ViewerHubOptions
  readonly #viewers = new Map<string, Viewer>()
  readonly #requestTimers = new Map<string, NodeJS.Timeout>()
  #signaling: SignalingClient | undefined
  #iceServers: IceServer[] = []
  #roomId: string | undefined
  #closed = false
  #latestToViewers: Uint8Array | undefined
  readonly #joinTokens = new Map<string, string>()
  /** The room's access settings now (the host may change them while sharing). */
  #password: string | undefined
  #approval: boolean

  constructor(options: ViewerHubOptions) {
    this.#options = options
    this.#password = options.password || undefined
    this.#approval = options.approval ?? false
    options.capture.on('rtp', (codec, packet) => {
      for (const viewer of this.#viewers.values()) {
        if (viewer.connected && viewer.codec === codec) viewer.peer.sendRtp(packet)
      }
    })
    options.capture.on('sourceChanged', (codec) => {
      for (const viewer of this.#viewers.values()) if (viewer.codec === codec) viewer.peer.sourceChanged()
    })
  }

  get roomId(): string | undefined {
    return this.#roomId
  }

  /** Whether viewers need a room password, and whether those without a token may ask to join. */
  get access(): { password: boolean; approval: boolean } {
    return { password: this.#password !== undefined, approval: this.#approval }
  }

  /** Changes the room password ('' removes it) and/or approval, on the signaling server at once. */
  async updateRoom(change: { password?: string | undefined; approval?: boolean | undefined }): Promise<void> {
    const signaling = this.#signaling
    if (!signaling?.open)
      throw new SmolDeskError('UNAVAILABLE', 'the signaling server is not reachable right now')
    await signaling.request(
      {
        type: 'update-room',
        ...(change.password !== undefined && { password: change.password }),
        ...(change.approval !== undefined && { approval: change.approval }),
      },
      'room-updated',
    )
    if (change.password !== undefined) this.#password = change.password || undefined
    if (change.approval !== undefined) this.#approval = change.approval
  }

  get viewerCount(): number {
    return this.#viewers.size
  }

  async start(): Promise<string> {
    const signaling = await SignalingClient.connect(this.#options.signalingUrl)
    this.#attach(signaling)
    return this.#createRoom(signaling)
  }

  #attach(signaling: SignalingClient): void {
    this.#signaling = signaling
    signaling.onMessageInOrder(
      (msg) => this.#onSignal(msg),
      (err) => log.warn({ err: String(err) }, 'signaling message failed'),
    )
    signaling.onClose((code) => {
      if (this.#closed || code === 1000) return
      log.warn('signaling connection lost; viewers stay connected; reconnecting')
      void this.#reconnect()
    })
  }

  async #createRoom(signaling: SignalingClient): Promise<string> {
    const created = await signaling.request(
      {
        type: 'create-room',
        ...((this.#roomId ?? this.#options.roomId) !== undefined && {
          roomId: this.#roomId ?? this.#options.roomId,
        }),
        ...(this.#password && { password: this.#password }),
        ...(this.#approval && { approval: true }),
      },
      'room-created',
    )
    this.#roomId = created.roomId
    this.#iceServers = created.iceServers
    log.info({ roomId: created.roomId }, 'room open')
    return created.roomId
  }

  /**
   * Takes our room back after a signaling drop (`resume` within the
   * server's grace period), or opens it again under the same code.
   */
  async #reconnect(): Promise<void> {
    const previous = this.#signaling
    if (!previous) return
    const next = await SignalingClient.recover(this.#options.signalingUrl, previous, {
      cancelled: () => this.#closed,
      restart: async (fresh) => {
        this.#attach(fresh)
        await this.#createRoom(fresh)
      },
    })
    if (next) {
      this.#signaling = next
      log.info({ roomId: this.#roomId }, 'signaling back')
    } else if (!this.#closed) log.error('signaling server unreachable; no new viewers can join')
  }

  /** Viewers in the room with their roles: waiting for approval, negotiating, or connected. */
  viewers(): {
    peer_id: string
    role: ViewerRole
    state: 'pending' | 'connecting' | 'connected'
    permissions: ViewerPermissions
  }[] {
    return [
      ...this.#options.admission.pending.map((r) => ({
        peer_id: r.peerId,
        role: r.role,
        state: 'pending' as const,
        permissions: defaultPermissions(r.role),
      })),
      ...[...this.#viewers].map(([peerId, v]) => ({
        peer_id: peerId,
        role: v.role,
        state: v.connected ? ('connected' as const) : ('connecting' as const),
        permissions: { ...v.permissions },
      })),
    ]
  }

  /** Connected viewers' ids. */
  connectedViewers(): string[] {
    return [...this.#viewers].filter(([, v]) => v.connected).map(([id]) => id)
  }

  /** A viewer's role, if it is in the room. */
  role(peerId: string): ViewerRole | undefined {
    return this.#viewers.get(peerId)?.role
  }

  /** What a viewer may do now; nothing for a viewer we do not know. */
  permissions(peerId: string): ViewerPermissions {
    const viewer = this.#viewers.get(peerId)
    return viewer ? { ...viewer.permissions } : defaultPermissions('view-only')
  }

  setPermissions(
    peerId: string,
    change: { [K in keyof ViewerPermissions]?: boolean | undefined },
  ): ViewerPermissions {
    const viewer = this.#viewers.get(peerId)
    if (!viewer) throw new SmolDeskError('PEER_NOT_FOUND', `no viewer ${peerId}`)
    for (const key of Object.keys(viewer.permissions) as (keyof ViewerPermissions)[]) {
      const value = change[key]
      if (value !== undefined) viewer.permissions[key] = value
    }
    log.info({ peerId, permissions: viewer.permissions }, 'viewer permissions changed')
    return { ...viewer.permissions }
  }

  /** Answers a join request (approval rooms). */
  answerJoinRequest(peerId: string, approve: boolean, role?: ViewerRole): void {
    clearTimeout(this.#requestTimers.get(peerId))
    this.#requestTimers.delete(peerId)
    if (approve) {
      const granted = this.#options.admission.approve(peerId, role)
      this.#send({ type: 'approve-join', peerId, role: granted })
    } else {
      this.#options.admission.deny(peerId)
      this.#send({ type: 'deny-join', peerId })
    }
  }

  /** Removes a viewer from the room: its peer connection closes and signaling tells it why. */
  async kick(peerId: string, code: SmolDeskError['code'] = 'KICKED', message?: string): Promise<void> {
    this.#send({ type: 'kick', peerId, code, ...(message !== undefined && { message }) })
    this.#options.admission.forget(peerId)
    // A moment for what was just sent on its data channels to leave before the connection closes.
    if (this.#viewers.get(peerId)?.connected) await sleep(KICK_FLUSH_MS)
    await this.#drop(peerId, 'removed by the host')
  }

  /** Changes what a viewer may do; demoting to view-only releases anything it holds. */
  setRole(peerId: string, role: ViewerRole): void {
    const viewer = this.#viewers.get(peerId)
    if (!viewer) throw new SmolDeskError('PEER_NOT_FOUND', `no viewer ${peerId}`)
    viewer.role = role
    // A new role brings that role's permissions; set_viewer_permissions refines them afterwards.
    viewer.permissions = defaultPermissions(role)
    if (role === 'view-only') this.#options.input.viewerGone(peerId)
  }

  /** Sends a host → viewer message to every viewer, and to each one that joins later. */
  broadcastToViewers(frame: Uint8Array): void {
    this.#latestToViewers = frame
    for (const viewer of this.#viewers.values()) viewer.peer.sendToViewer(frame)
  }

  /**
   * The configured codec changed: viewers on another codec get a fresh
   * offer (a new peer connection) and take the new codec if they can decode it.
   */
  async codecChanged(): Promise<void> {
    const codec = this.#options.capture.codec
    for (const [viewerId, viewer] of this.#viewers) {
      if (viewer.codec !== codec) await this.#connect(viewerId, 1, viewer.role)
    }
  }

  /** Each codec some viewer uses keeps its encoder; the rest stop. */
  #syncCodecs(): void {
    const inUse = new Set<VideoCodec>()
    for (const viewer of this.#viewers.values()) if (viewer.codec) inUse.add(viewer.codec)
    this.#options.capture
      .useCodecs(inUse)
      .catch((err: unknown) => log.warn({ err: String(err) }, 'encoders for the viewers’ codecs'))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const viewer of this.#viewers.values()) clearTimeout(viewer.watchdog)
    for (const timer of this.#requestTimers.values()) clearTimeout(timer)
    this.#requestTimers.clear()
    await Promise.all([...this.#viewers.values()].map((v) => v.peer.close()))
    this.#viewers.clear()
    this.#signaling?.close()
  }

  async #onSignal(msg: ServerMessage): Promise<void> {
    log.debug({ type: msg.type }, 'signal')
    switch (msg.type) {
      case 'join-request':
        await this.#onJoinRequest(msg.peerId, msg.role, msg.token)
        return
      case 'peer-joined':
        await this.#onPeerJoined(msg.peerId, msg.role === 'view-only' ? 'view-only' : 'viewer', msg.token)
        return
      case 'peer-left':
        this.#options.admission.forget(msg.peerId)
        clearTimeout(this.#requestTimers.get(msg.peerId))
        this.#requestTimers.delete(msg.peerId)
        await this.#drop(msg.peerId, 'left the room')
        return
      case 'answer':
        await this.#onAnswer(msg.fromId, msg.sdp)
        return
      case 'ice-candidate':
        // Not awaited: werift resolves a browser's mDNS (.local) candidate for up to 10 s, and the
        // queue must not stall other viewers meanwhile. Ordering after the answer is already kept.
        this.#viewers
          .get(msg.fromId)
          ?.peer.addRemoteCandidate(msg.candidate)
          .catch((err: unknown) => log.debug({ err: String(err) }, 'remote candidate not usable'))
        return
      default:
        return
    }
  }

  async #onJoinRequest(peerId: string, role: ViewerRole, token: string | undefined): Promise<void> {
    const roomId = this.#roomId ?? ''
    const answer = await this.#options.admission.request(peerId, roomId, role, token)
    if (!('reason' in answer)) {
      this.#send({ type: 'approve-join', peerId, role: answer.role })
      return
    }
    log.info({ peerId, role, reason: answer.reason }, 'join request waits for the host')
    this.#options.emit('viewer-join-request', { viewerId: peerId, role, reason: answer.reason })
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
  async #onPeerJoined(peerId: string, asked: ViewerRole, token: string | undefined): Promise<void> {
    let role: ViewerRole
    try {
      role = await this.#options.admission.admit(peerId, this.#roomId ?? '', asked, token)
    } catch (err) {
      const error = SmolDeskError.from(err)
      log.warn({ peerId, code: error.code }, 'viewer refused')
      this.#send({ type: 'kick', peerId, code: error.code, message: error.message })
      this.#options.emit('error', {
        code: error.code,
        message: `viewer ${peerId} refused: ${error.message}`,
        source: 'security',
      })
      return
    }
    if (token !== undefined) this.#joinTokens.set(peerId, token)
    await this.#connect(peerId, 1, role)
  }

  /** The token a viewer joined with, if any (a rejoin token links it to its earlier self). */
  joinToken(peerId: string): string | undefined {
    return this.#joinTokens.get(peerId)
  }

  #send(message: Parameters<SignalingClient['send']>[0]): void {
    this.#signaling?.send(message)
  }

  /**
   * Offers a new peer connection. Our candidates are held back until the
   * answer is applied: werift starts DTLS only if ICE is not yet connected
   * when it applies the answer, and a browser that already has our
   * candidates can complete ICE before that (seen here: DTLS never started).
   */
  async #connect(viewerId: string, attempt: number, role?: ViewerRole): Promise<void> {
    if (!this.#signaling) throw new SmolDeskError('INTERNAL', 'hub not started')
    const codecs = await this.#options.capture.offeredCodecs()
    const old = this.#viewers.get(viewerId)
    if (old) {
      clearTimeout(old.watchdog)
      this.#closeInBackground(old.peer)
    }
    const givenRole = role ?? old?.role ?? 'view-only'
    const viewer: Viewer = {
      role: givenRole,
      permissions: old && old.role === givenRole ? old.permissions : defaultPermissions(givenRole),
      codec: undefined,
      connected: false,
      pendingCandidates: [],
      attempt,
      watchdog: undefined,
      peer: this.#options.transport.createPeer({
        viewerId,
        codecs,
        iceServers: this.#iceServers,
        events: {
          onLocalCandidate: (candidate) => {
            if (viewer.pendingCandidates) viewer.pendingCandidates.push(candidate)
            else this.#send({ type: 'ice-candidate', targetId: viewerId, candidate })
          },
          onConnectionState: (state) => this.#onState(viewerId, viewer, state),
          onKeyframeRequest: () => {
            if (viewer.codec) this.#options.capture.requestKeyframe(viewer.codec)
          },
          onInput: (frame, channel) => {
            if (this.#viewers.get(viewerId) !== viewer) return
            // View-only viewers watch; their input never reaches the injector.
            if (viewer.role === 'view-only') this.#options.input.refuse(viewerId)
            else this.#options.input.handle(viewerId, frame, channel)
          },
          onInputClosed: () => this.#options.input.viewerGone(viewerId),
          onDataChannel: (channel) => {
            if (this.#viewers.get(viewerId) === viewer) this.#options.onDataChannel?.(viewerId, channel)
          },
        },
      }),
    }
    this.#viewers.set(viewerId, viewer)
    if (this.#latestToViewers) viewer.peer.sendToViewer(this.#latestToViewers)
    log.debug({ viewerId, attempt }, 'creating offer')
    const sdp = await viewer.peer.createOffer()
    this.#send({ type: 'offer', targetId: viewerId, sdp: withoutCandidates(sdp) })
    log.debug({ viewerId, attempt }, 'offer sent')
  }

  async #onAnswer(viewerId: string, sdp: string): Promise<void> {
    const viewer = this.#viewers.get(viewerId)
    if (!viewer) return
    const { codec, offered } = await viewer.peer.acceptAnswer(sdp)
    if (this.#viewers.get(viewerId) !== viewer) return
    viewer.codec = codec
    if (codec) this.#syncCodecs()
    else {
      // Nothing the host can encode decodes there: say so instead of showing a black video.
      this.#options.emit('error', {
        code: 'CODEC_UNSUPPORTED',
        message: `viewer ${viewerId} can decode none of the codecs this host streams (${offered.join(', ')})`,
        source: 'webrtc',
      })
    }
    log.info({ viewerId, codec: codec ?? 'none' }, 'answer applied')
    const pending = viewer.pendingCandidates ?? []
    viewer.pendingCandidates = undefined
    for (const candidate of pending) this.#send({ type: 'ice-candidate', targetId: viewerId, candidate })
    viewer.watchdog = setTimeout(() => {
      if (this.#viewers.get(viewerId) !== viewer || viewer.connected || this.#closed) return
      if (viewer.attempt >= MAX_OFFERS_PER_JOIN) {
        void this.#drop(viewerId, 'could not connect')
        return
      }
      log.warn({ viewerId, attempt: viewer.attempt }, 'viewer not connected in time; offering again')
      this.#connect(viewerId, viewer.attempt + 1, viewer.role).catch((err: unknown) =>
        log.warn({ err: String(err) }, 'new offer failed'),
      )
    }, CONNECT_WATCHDOG_MS)
  }

  #onState(viewerId: string, viewer: Viewer, state: string): void {
    if (this.#viewers.get(viewerId) !== viewer) return
    log.info({ viewerId, state }, 'viewer connection state')
    if (state === 'connected' && !viewer.connected) {
      viewer.connected = true
      clearTimeout(viewer.watchdog)
      // A new viewer can only start decoding at a keyframe.
      if (viewer.codec) this.#options.capture.requestKeyframe(viewer.codec)
      this.#options.emit('viewer-connected', { viewerId })
    } else if (state === 'failed' || state === 'closed') {
      void this.#drop(viewerId, `connection ${state}`)
    }
  }

  /** werift's close can take seconds; signaling for other viewers must not wait for it. */
  #closeInBackground(peer: ViewerPeer): void {
    peer.close().catch((err: unknown) => log.warn({ err: String(err) }, 'closing a peer failed'))
  }

  async #drop(viewerId: string, reason: string): Promise<void> {
    const viewer = this.#viewers.get(viewerId)
    this.#joinTokens.delete(viewerId)
    if (!viewer) return
    this.#viewers.delete(viewerId)
    clearTimeout(viewer.watchdog)
    this.#closeInBackground(viewer.peer)
    this.#syncCodecs()
    this.#options.input.viewerGone(viewerId)
    if (viewer.connected) this.#options.emit('viewer-disconnected', { viewerId, reason })
  }
}
