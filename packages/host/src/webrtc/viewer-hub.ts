import {
  type EventName,
  type EventPayload,
  type IceServer,
  type ServerMessage,
  SignalingClient,
  SmolDeskError,
  type VideoCodec,
} from '@smoldesk/protocol'
import type { CapturePipeline } from '../capture/capture-pipeline.ts'
import { createLogger } from '../log.ts'
import type { MediaTransport, ViewerPeer } from './transport.ts'

const log = createLogger('webrtc.hub')

export type EmitEvent = <E extends EventName>(event: E, payload: EventPayload<E>) => void

export interface ViewerHubOptions {
  transport: MediaTransport
  pipeline: CapturePipeline
  signalingUrl: string
  roomId?: string | undefined
  emit: EmitEvent
  /** The codec the pipeline produces now; peers are offered exactly this one. */
  codec: () => VideoCodec
}

interface Viewer {
  peer: ViewerPeer
  codec: VideoCodec
  connected: boolean
}

/**
 * The host's side of every viewer: it joins the signaling server as the
 * room's creator, offers each viewer that joins a peer connection, and fans
 * the single encoder's RTP out to every connected peer.
 */
export class ViewerHub {
  readonly #options: ViewerHubOptions
  readonly #viewers = new Map<string, Viewer>()
  #signaling: SignalingClient | undefined
  #iceServers: IceServer[] = []
  #roomId: string | undefined
  #closed = false

  constructor(options: ViewerHubOptions) {
    this.#options = options
    options.pipeline.on('rtp', (packet) => {
      for (const viewer of this.#viewers.values()) if (viewer.connected) viewer.peer.sendRtp(packet)
    })
    options.pipeline.on('sourceChanged', () => {
      for (const viewer of this.#viewers.values()) viewer.peer.sourceChanged()
    })
  }

  get roomId(): string | undefined {
    return this.#roomId
  }

  get viewerCount(): number {
    return this.#viewers.size
  }

  async start(): Promise<string> {
    const signaling = await SignalingClient.connect(this.#options.signalingUrl)
    this.#signaling = signaling
    signaling.onMessage((msg) => {
      this.#onSignal(msg).catch((err: unknown) => log.warn({ err: String(err) }, 'signaling message failed'))
    })
    signaling.onClose(() => {
      if (!this.#closed) log.warn('signaling connection closed; viewers stay connected, new ones cannot join')
    })
    const created = await signaling.request(
      { type: 'create-room', ...(this.#options.roomId !== undefined && { roomId: this.#options.roomId }) },
      'room-created',
    )
    this.#roomId = created.roomId
    this.#iceServers = created.iceServers
    log.info({ roomId: created.roomId }, 'room open')
    return created.roomId
  }

  /** The codec changed: viewers on another codec get a fresh offer (a new peer connection). */
  async codecChanged(): Promise<void> {
    const codec = this.#options.codec()
    for (const [viewerId, viewer] of this.#viewers) {
      if (viewer.codec !== codec) await this.#connect(viewerId)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#viewers.values()].map((v) => v.peer.close()))
    this.#viewers.clear()
    this.#signaling?.close()
  }

  async #onSignal(msg: ServerMessage): Promise<void> {
    switch (msg.type) {
      case 'peer-joined':
        await this.#connect(msg.peerId)
        return
      case 'peer-left':
        await this.#drop(msg.peerId, 'left the room')
        return
      case 'answer':
        await this.#viewers.get(msg.fromId)?.peer.acceptAnswer(msg.sdp)
        return
      case 'ice-candidate':
        await this.#viewers.get(msg.fromId)?.peer.addRemoteCandidate(msg.candidate)
        return
      default:
        return
    }
  }

  async #connect(viewerId: string): Promise<void> {
    const signaling = this.#signaling
    if (!signaling) throw new SmolDeskError('INTERNAL', 'hub not started')
    await this.#viewers.get(viewerId)?.peer.close()
    const codec = this.#options.codec()
    const viewer: Viewer = {
      codec,
      connected: false,
      peer: this.#options.transport.createPeer({
        viewerId,
        codec,
        iceServers: this.#iceServers,
        events: {
          onLocalCandidate: (candidate) =>
            signaling.send({ type: 'ice-candidate', targetId: viewerId, candidate }),
          onConnectionState: (state) => this.#onState(viewerId, viewer, state),
          onKeyframeRequest: () => log.debug({ viewerId }, 'keyframe requested (short GOP answers it)'),
        },
      }),
    }
    this.#viewers.set(viewerId, viewer)
    const sdp = await viewer.peer.createOffer()
    signaling.send({ type: 'offer', targetId: viewerId, sdp })
  }

  #onState(viewerId: string, viewer: Viewer, state: string): void {
    if (this.#viewers.get(viewerId) !== viewer) return
    log.info({ viewerId, state }, 'viewer connection state')
    if (state === 'connected' && !viewer.connected) {
      viewer.connected = true
      this.#options.emit('viewer-connected', { viewerId })
    } else if (state === 'failed' || state === 'closed') {
      void this.#drop(viewerId, `connection ${state}`)
    }
  }

  async #drop(viewerId: string, reason: string): Promise<void> {
    const viewer = this.#viewers.get(viewerId)
    if (!viewer) return
    this.#viewers.delete(viewerId)
    await viewer.peer.close()
    if (viewer.connected) this.#options.emit('viewer-disconnected', { viewerId, reason })
  }
}
