import {
  type CursorImage,
  decodeCursorFrame,
  INPUT_CHANNEL,
  MOTION_CHANNEL,
  type ServerMessage,
  SignalingClient,
  SmolDeskError,
} from '@smoldesk/protocol'

export type ConnectionState =
  | 'connecting'
  | 'waiting-for-host'
  | 'negotiating'
  | 'connected'
  | 'disconnected'
  | 'failed'

export interface ViewerConnectionOptions {
  signalingUrl: string
  roomId: string
  password?: string | undefined
  onState: (state: ConnectionState, detail?: string) => void
  onStream: (stream: MediaStream) => void
  /** The host's pointer shape changed. */
  onCursor?: (cursor: CursorImage) => void
}

/**
 * The viewer's connection to a host: joins the room on the signaling server
 * and answers the host's offer. Plain TypeScript, no framework; the UI only
 * renders what this reports.
 */
export class ViewerConnection {
  readonly #options: ViewerConnectionOptions
  #signaling: SignalingClient | undefined
  #pc: RTCPeerConnection | undefined
  #hostId: string | undefined
  /** How many peer connections this viewer has made (monitor switches must not add any). */
  peerConnectionsCreated = 0
  readonly #channels = new Map<string, RTCDataChannel>()

  constructor(options: ViewerConnectionOptions) {
    this.#options = options
  }

  get peerConnection(): RTCPeerConnection | undefined {
    return this.#pc
  }

  async connect(): Promise<void> {
    this.#options.onState('connecting')
    const signaling = await SignalingClient.connect(this.#options.signalingUrl)
    this.#signaling = signaling
    signaling.onMessageInOrder(
      (msg) => this.#onSignal(msg),
      (err) => this.#options.onState('failed', String(err)),
    )
    signaling.onClose(() => {
      if (this.#pc?.connectionState !== 'connected') this.#options.onState('disconnected', 'signaling closed')
    })
    const joined = await signaling.request(
      {
        type: 'join-room',
        roomId: this.#options.roomId,
        ...(this.#options.password !== undefined && { password: this.#options.password }),
      },
      'room-joined',
    )
    this.#iceServers = joined.iceServers.map((server) => ({
      urls: server.urls,
      ...(server.username !== undefined && { username: server.username }),
      ...(server.credential !== undefined && { credential: server.credential }),
    }))
    this.#options.onState('waiting-for-host')
  }

  /** Sends one input frame: motion on the unordered channel, the rest on the reliable one. */
  sendInput(frame: Uint8Array, motion: boolean): void {
    const channel = this.#channels.get(motion ? MOTION_CHANNEL : INPUT_CHANNEL)
    if (channel?.readyState === 'open') channel.send(frame as Uint8Array<ArrayBuffer>)
  }

  close(): void {
    this.#pc?.close()
    this.#signaling?.close()
    this.#options.onState('disconnected', 'closed')
  }

  #iceServers: RTCIceServer[] = []

  async #onSignal(msg: ServerMessage): Promise<void> {
    const signaling = this.#signaling
    if (!signaling) return
    switch (msg.type) {
      case 'offer': {
        // A new offer means a new host-side connection (e.g. a codec change): start afresh.
        this.#pc?.close()
        this.#hostId = msg.fromId
        const pc = this.#createPeerConnection(msg.fromId)
        this.#options.onState('negotiating')
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp })
        const answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        signaling.send({
          type: 'answer',
          targetId: msg.fromId,
          sdp: pc.localDescription?.sdp ?? answer.sdp ?? '',
        })
        return
      }
      case 'ice-candidate':
        if (msg.fromId === this.#hostId && msg.candidate && this.#pc) {
          const { candidate, sdpMid, sdpMLineIndex } = msg.candidate
          await this.#pc.addIceCandidate({
            candidate,
            sdpMid: sdpMid ?? null,
            sdpMLineIndex: sdpMLineIndex ?? null,
          })
        }
        return
      case 'peer-left':
        if (msg.peerId === this.#hostId) this.#options.onState('disconnected', 'the host left')
        return
      case 'error':
        throw new SmolDeskError(msg.code, msg.message)
      default:
        return
    }
  }

  #createPeerConnection(hostId: string): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.#iceServers })
    this.#pc = pc
    this.peerConnectionsCreated++
    pc.addEventListener('icecandidate', (ev) => {
      this.#signaling?.send({
        type: 'ice-candidate',
        targetId: hostId,
        candidate: ev.candidate
          ? {
              candidate: ev.candidate.candidate,
              sdpMid: ev.candidate.sdpMid,
              sdpMLineIndex: ev.candidate.sdpMLineIndex,
            }
          : null,
      })
    })
    pc.addEventListener('datachannel', (ev) => {
      ev.channel.binaryType = 'arraybuffer'
      this.#channels.set(ev.channel.label, ev.channel)
      ev.channel.addEventListener('message', (msg) => {
        if (!(msg.data instanceof ArrayBuffer)) return
        const cursor = decodeCursorFrame(new Uint8Array(msg.data))
        if (cursor) this.#options.onCursor?.(cursor)
      })
    })
    pc.addEventListener('track', (ev) => {
      this.#options.onStream(ev.streams[0] ?? new MediaStream([ev.track]))
    })
    pc.addEventListener('connectionstatechange', () => {
      if (this.#pc !== pc) return
      if (pc.connectionState === 'connected') this.#options.onState('connected')
      else if (pc.connectionState === 'failed') this.#options.onState('failed', 'the media connection failed')
      else if (pc.connectionState === 'disconnected')
        this.#options.onState('disconnected', 'media interrupted')
    })
    return pc
  }
}
