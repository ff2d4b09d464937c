import {
  type CursorImage,
  type RoomRole,
  type ServerMessage,
  SmolDeskError,
  type VerifiedIdentity,
} from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { missingBrowserFeatures, passwordMaySend } from './browser-support.ts'
import type { Capabilities } from './capability-channels.ts'
import { describeDiagnosis, type IceDiagnosis } from './ice-diagnosis.ts'
import { MediaPeer } from './media-peer.ts'
import { MediaRecovery } from './media-recovery.ts'
import { SignalingSession, type SignalingSessionOptions } from './signaling-session.ts'

const log = createLogger('session')

export type ConnectionState =
  | 'connecting'
  | 'waiting-for-approval'
  | 'waiting-for-host'
  | 'negotiating'
  | 'connected'
  | 'reconnecting'
  | 'disconnected'
  | 'failed'

/** Where the connection stands and why, as the page renders it. */
export interface ConnectionStatus {
  state: ConnectionState
  /** The coded reason (a refusal, an end, a codec the browser lacks), as the host or server said it. */
  error: SmolDeskError | undefined
  /** What is going on, in words, when there is no code. */
  detail: string
  /** Why ICE failed, when it did. */
  ice: IceDiagnosis | undefined
  /** The host went away (left, or closed the room), as opposed to the network. */
  hostGone: boolean
}

export interface ViewerSessionOptions extends SignalingSessionOptions {
  /** Send a password over plain HTTP to a non-local server anyway. */
  allowInsecurePassword?: boolean | undefined
  /** 'relay' forces TURN (for testing a relay, or hiding the local address). */
  iceTransportPolicy?: RTCIceTransportPolicy | undefined
  /** The page-long clipboard, files and session capabilities, handed each new channel of theirs. */
  capabilities: Capabilities
}

export interface ViewerSessionEvents {
  status(status: ConnectionStatus): void
  /** The role the room gave us: a view-only viewer sends no input. */
  role(role: RoomRole): void
  stream(stream: MediaStream): void
  cursor(cursor: CursorImage): void
  /** Whom we signed in as with the organisation's identity provider (single sign-on), if we did. */
  identity?(identity: VerifiedIdentity | undefined): void
}

/**
 * The viewer's session with one host: its place in the room (signaling),
 * the current media connection, and the policy that brings the media back
 * when it drops, each its own object. Plain TypeScript; the page renders
 * the status this reports. Transfers, clipboard and settings belong to the
 * page and carry on across the media connections made here.
 */
export class ViewerSession {
  readonly #o: ViewerSessionOptions
  readonly #events: ViewerSessionEvents
  readonly #signaling: SignalingSession
  readonly #recovery: MediaRecovery
  #media: MediaPeer | undefined
  #iceServers: RTCIceServer[] = []
  /** Why the current connection carries no picture (our answer refused the host's codecs), if so. */
  #codecRefused: SmolDeskError | undefined
  /** Our microphone while it is on: each new media connection sends it too. */
  #microphone: MediaStreamTrack | undefined
  #closed = false
  /** How many peer connections this viewer has made (monitor switches must not add any). */
  peerConnectionsCreated = 0
  lastIceDiagnosis: IceDiagnosis | undefined

  constructor(options: ViewerSessionOptions, events: ViewerSessionEvents) {
    this.#o = options
    this.#events = events
    this.#signaling = new SignalingSession(options, {
      message: (msg) => this.#onSignal(msg),
      error: (error) => this.#fail(error),
      lost: () => {
        if (this.#media?.connectionState !== 'connected')
          this.#say('reconnecting', 'signaling connection lost')
      },
      recovered: () => {
        if (this.#media?.connectionState === 'connected') return
        // The network that took signaling away took the media too: ask for a new connection now,
        // not at the watchdog's next turn.
        if (this.#recovery.repairs) this.restartMedia()
        else this.#say('waiting-for-host')
      },
      unreachable: () => this.#say('failed', 'the signaling server cannot be reached'),
      identity: (identity) => this.#events.identity?.(identity),
    })
    this.#recovery = new MediaRecovery({
      mediaState: () => this.#media?.connectionState,
      probeSignaling: (ms) => this.#signaling.probe(ms),
      abandonSignaling: () => this.#signaling.abandon(),
      restartMedia: () => this.restartMedia(),
      attempting: (n) => this.#say('reconnecting', `the connection dropped; reconnecting (attempt ${n})`),
    })
  }

  get peerConnection(): RTCPeerConnection | undefined {
    return this.#media?.peerConnection
  }

  /** Our microphone on (a track) or off (null), now and on every connection that follows. */
  setMicrophone(track: MediaStreamTrack | null): void {
    this.#microphone = track ?? undefined
    this.#media?.setMicrophone(track).catch((err: unknown) => log.warn({ err: String(err) }, 'microphone'))
  }

  /** The data-only peer connection of the files channel, when the host offered one. */
  get dataPeerConnection(): RTCPeerConnection | undefined {
    return this.#media?.dataPeerConnection
  }

  async connect(): Promise<void> {
    try {
      const lacking = missingBrowserFeatures(globalThis)
      if (lacking.length > 0) {
        throw new SmolDeskError(
          'BROWSER_UNSUPPORTED',
          `this browser has no ${lacking.join(' and no ')}, which SmolDesk needs for the picture and input`,
        )
      }
      const { password, signalingUrl } = this.#o
      if (password && !passwordMaySend(signalingUrl, this.#o.allowInsecurePassword ?? false)) {
        throw new SmolDeskError(
          'INSECURE_TRANSPORT',
          'refusing to send the room password over plain HTTP to another machine; use HTTPS (or add &insecure=1 if you accept the risk)',
        )
      }
      this.#say('connecting')
      await this.#signaling.connect()
      this.#recovery.start()
    } catch (err) {
      this.#fail(SmolDeskError.from(err))
    }
  }

  sendInput(frame: Uint8Array, motion: boolean): void {
    this.#media?.sendInput(frame, motion)
  }

  /** The open clipboard or files channel (for diagnostics and the fuzz tests). */
  dataChannel(label: string): RTCDataChannel | undefined {
    return this.#media?.dataChannel(label)
  }

  /**
   * Drops the media connection and asks the host for a new one (leave and
   * join the room again): what a viewer does after its network dropped.
   * Transfers and the clipboard carry on over the new connection.
   */
  restartMedia(): void {
    this.#recovery.countAttempt()
    this.#closeMedia()
    this.#say('reconnecting', 'reconnecting the media connection')
    this.#signaling.rejoin()
  }

  /** The host ended the session (kick, denial): close everything, say why, never reconnect. */
  end(error: SmolDeskError): void {
    if (this.#closed) return
    // Forget the peer first: its closing must not replace the reason with "the media connection failed".
    this.#shutDown()
    this.#fail(error, true)
  }

  /** Leaves (the user disconnected, the page goes): idempotent. */
  close(): void {
    if (this.#closed) return
    this.#shutDown()
    this.#say('disconnected', 'closed', true)
  }

  #shutDown(): void {
    this.#closed = true
    this.#recovery.close()
    this.#closeMedia()
    this.#signaling.close()
  }

  async #onSignal(msg: ServerMessage): Promise<void> {
    switch (msg.type) {
      case 'offer':
        await this.#answer(msg.fromId, msg.sdp)
        return
      case 'ice-candidate':
        if (msg.candidate && msg.fromId === this.#media?.hostId) await this.#media.addCandidate(msg.candidate)
        return
      case 'room-joined':
        this.#iceServers = msg.iceServers.map((server) => ({
          urls: server.urls,
          ...(server.username !== undefined && { username: server.username }),
          ...(server.credential !== undefined && { credential: server.credential }),
        }))
        this.#events.role(msg.role ?? 'viewer')
        this.#say('waiting-for-host')
        return
      case 'join-pending':
        this.#say('waiting-for-approval', 'the host has been asked to let you in')
        return
      case 'kicked':
        this.end(new SmolDeskError(msg.code, msg.message))
        return
      case 'room-left':
        this.#say('disconnected', 'the host closed the room', false, true)
        return
      case 'peer-left':
        if (msg.peerId === this.#media?.hostId) this.#say('disconnected', 'the host left', false, true)
        return
      default:
        return
    }
  }

  /** A new offer means a new host-side connection (e.g. a codec change): start afresh. */
  async #answer(hostId: string, offer: string): Promise<void> {
    this.#closeMedia()
    const media = new MediaPeer(
      hostId,
      {
        iceServers: this.#iceServers,
        ...(this.#o.iceTransportPolicy && { iceTransportPolicy: this.#o.iceTransportPolicy }),
      },
      this.#o.capabilities,
      {
        signal: (msg) => this.#signaling.send(msg),
        stream: (stream) => this.#events.stream(stream),
        cursor: (cursor) => this.#events.cursor(cursor),
        state: (state) => this.#onMediaState(media, state),
        hopeless: () => {
          this.#recovery.giveUp()
          void this.#explainFailure(media)
        },
      },
    )
    this.#media = media
    this.peerConnectionsCreated++
    this.#say('negotiating')
    const refused = await media.answer(offer, this.#microphone)
    // The host offers every codec it can encode: none left means this browser decodes none of them.
    this.#codecRefused =
      refused &&
      new SmolDeskError(
        'CODEC_UNSUPPORTED',
        `this browser cannot decode any video format the host can send (${refused.join(', ')})`,
      )
    if (this.#codecRefused) this.#fail(this.#codecRefused)
  }

  #onMediaState(media: MediaPeer, state: RTCPeerConnectionState): void {
    if (this.#media !== media || this.#closed) return
    if (state === 'connected') {
      this.#recovery.connected()
      // Connected without a picture still says why (the data channels work: clipboard, files).
      this.#emit({ state: 'connected', error: this.#codecRefused })
    } else if (state === 'failed') void this.#explainFailure(media)
    else if (state === 'disconnected') this.#say('disconnected', 'media interrupted')
  }

  async #explainFailure(media: MediaPeer): Promise<void> {
    const ice = await media.diagnose()
    this.lastIceDiagnosis = ice
    if (this.#media !== media || this.#closed) return
    log.warn({ ice }, 'media connection failed')
    this.#emit({
      state: 'failed',
      error: new SmolDeskError('ICE_FAILED', 'the media connection failed', {
        detail: describeDiagnosis(ice),
      }),
      ice,
    })
  }

  #closeMedia(): void {
    const media = this.#media
    this.#media = undefined
    media?.close()
  }

  #fail(error: SmolDeskError, evenIfClosed = false): void {
    if (this.#closed && !evenIfClosed) return
    log.warn({ code: error.code, message: error.message }, 'session failed')
    this.#emit({ state: 'failed', error })
  }

  #say(state: ConnectionState, detail = '', evenIfClosed = false, hostGone = false): void {
    if (this.#closed && !evenIfClosed) return
    this.#emit({ state, detail, hostGone })
  }

  #emit(status: Partial<ConnectionStatus> & { state: ConnectionState }): void {
    this.#events.status({ error: undefined, detail: '', ice: undefined, hostGone: false, ...status })
  }
}
