import {
  CHANNEL_LOW_WATER_BYTES,
  type CLIPBOARD_CHANNEL,
  type CursorImage,
  DATA_LINK_CHANNEL,
  decodeCursorFrame,
  type FILES_CHANNEL,
  INPUT_CHANNEL,
  MOTION_CHANNEL,
  type RoomRole,
  type SESSION_CHANNEL,
  type ServerMessage,
  SignalingClient,
  SmolDeskError,
  type TransferLink,
  type ViewerRole,
} from '@smoldesk/protocol'
import { attachDataLink } from './data-link.ts'
import type { ChannelEnd } from './files.ts'
import { describeDiagnosis, diagnoseIce } from './ice-diagnosis.ts'
import { createLogger } from './log.ts'

const log = createLogger('connection')

/**
 * A password must not cross the network in the clear: over plain HTTP it is
 * sent only to this machine, unless the user says otherwise.
 */
export function passwordMaySend(signalingUrl: string, allowInsecure: boolean): boolean {
  const url = new URL(signalingUrl)
  if (url.protocol === 'wss:' || allowInsecure) return true
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.endsWith('.localhost')
}

export type ConnectionState =
  | 'connecting'
  | 'waiting-for-approval'
  | 'waiting-for-host'
  | 'negotiating'
  | 'connected'
  | 'reconnecting'
  | 'disconnected'
  | 'failed'

export interface ViewerConnectionOptions {
  signalingUrl: string
  roomId: string
  password?: string | undefined
  /** The viewer token from the share link (its fragment). */
  token?: string | undefined
  /** A token the host gave this viewer for joining again after a drop (preferred over `token`). */
  rejoinToken?: () => string | undefined
  /** Ask for less than control. */
  role?: ViewerRole | undefined
  /** Send a password over plain HTTP to a non-local server anyway. */
  allowInsecurePassword?: boolean | undefined
  /** 'relay' forces TURN (for testing a relay, or hiding the local address). */
  iceTransportPolicy?: RTCIceTransportPolicy | undefined
  onState: (state: ConnectionState, detail?: string) => void
  /** The role the room gave us: a view-only viewer sends no input. */
  onRole?: (role: RoomRole) => void
  onStream: (stream: MediaStream) => void
  /** The host's pointer shape changed. */
  onCursor?: (cursor: CursorImage) => void
  /** The clipboard and files capabilities, handed each new channel of theirs. */
  channels?: Partial<
    Record<
      typeof CLIPBOARD_CHANNEL | typeof FILES_CHANNEL | typeof SESSION_CHANNEL,
      { attachHost(link: TransferLink): ChannelEnd }
    >
  >
}

/**
 * Getting the media back after it dropped: the first attempt comes at once
 * (on a healthy network a new connection takes well under a second, so the
 * picture is back within the 2 s a user tolerates); each attempt has
 * MEDIA_ATTEMPT_MS to succeed, and then the next waits this much longer.
 */
export const MEDIA_RETRY_DELAYS_MS = [0, 1000, 2000, 4000, 8000] as const

/** A failed media connection is made anew after this long. */
const MEDIA_FAILED_GRACE_MS = 500
/** A media connection 'disconnected' this long (no packets) is given up and made anew. */
const MEDIA_DISCONNECTED_GRACE_MS = 1000
/** An attempt that has not brought the media back after this long is followed by the next. */
const MEDIA_ATTEMPT_MS = 3000
/** Signaling after a drop: short attempts, at most a second apart, for about two minutes. */
const SIGNALING_RETRY_DELAYS_MS = [100, ...Array.from({ length: 80 }, () => 1000)]
const SIGNALING_ATTEMPT_TIMEOUT_MS = 1500

interface Recovery {
  /** When the media was found lost. */
  since: number
  attempts: number
  /** The next attempt may not start before this (performance.now()). */
  nextAt: number
  busy: boolean
}

/** A browser data channel as the shared clipboard/file code sees it. */
function channelLink(channel: RTCDataChannel): TransferLink {
  channel.bufferedAmountLowThreshold = CHANNEL_LOW_WATER_BYTES
  return {
    send: (frame) => {
      if (channel.readyState === 'open') channel.send(frame as Uint8Array<ArrayBuffer>)
    },
    bufferedAmount: () => channel.bufferedAmount,
    drained: () =>
      new Promise<void>((resolve) => {
        if (channel.readyState !== 'open' || channel.bufferedAmount <= CHANNEL_LOW_WATER_BYTES) {
          resolve()
          return
        }
        const done = () => {
          channel.removeEventListener('bufferedamountlow', done)
          channel.removeEventListener('close', done)
          resolve()
        }
        channel.addEventListener('bufferedamountlow', done)
        channel.addEventListener('close', done)
      }),
  }
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

  /** The data-only peer connection of the files channel, when the host offered one. */
  get dataPeerConnection(): RTCPeerConnection | undefined {
    return this.#dataPc
  }

  async connect(): Promise<void> {
    const lacking = missingBrowserFeatures(globalThis)
    if (lacking.length > 0) {
      throw new SmolDeskError(
        'BROWSER_UNSUPPORTED',
        `this browser has no ${lacking.join(' and no ')}, which SmolDesk needs for the picture and input`,
      )
    }
    const { password, signalingUrl } = this.#options
    if (password && !passwordMaySend(signalingUrl, this.#options.allowInsecurePassword ?? false)) {
      throw new SmolDeskError(
        'INSECURE_TRANSPORT',
        'refusing to send the room password over plain HTTP to another machine; use HTTPS (or add &insecure=1 if you accept the risk)',
      )
    }
    this.#options.onState('connecting')
    const signaling = await SignalingClient.connect(signalingUrl)
    this.#attach(signaling)
    this.#join(signaling)
    this.#watchdog = setInterval(() => void this.#watchMedia(), 250)
  }

  #watchdog: ReturnType<typeof setInterval> | undefined
  /** Media recovery: when the connection was lost, how many attempts so far, when the next may start. */
  #recovery: Recovery | undefined
  /** Set once the media connection was up: only then is its loss something to repair. */
  #hadMedia = false
  /** Why the current connection carries no picture (our answer refused the host's codec), if so. */
  #codecRefused: string | undefined
  /** ICE failed for a reason another attempt cannot fix (nothing to connect with): say so and stop. */
  #hopeless = false

  /**
   * Automatic reconnect: a media connection that failed, or stayed
   * 'disconnected' for a second, is replaced (leave and join again), first at
   * once and then with back-off; if the signaling connection does not answer
   * a ping within a second it is abandoned and resumed first. Transfers,
   * clipboard and the page's settings carry on.
   */
  async #watchMedia(): Promise<void> {
    if (this.#closed || !this.#hadMedia || this.#hopeless) return
    const state = this.#pc?.connectionState
    const now = performance.now()
    if (state === 'connected') {
      this.#recovery = undefined
      return
    }
    this.#recovery ??= { since: now, attempts: 0, nextAt: now, busy: false }
    const r = this.#recovery
    if (r.busy || now < r.nextAt) return
    // A connection being negotiated (a new offer after a codec change, say) gets its time; one that
    // lost its packets gets a second to come back by itself; a failed one is replaced after a moment
    // (a host that removed us says so on signaling, which may come just after).
    const grace =
      state === 'failed' || state === 'closed'
        ? MEDIA_FAILED_GRACE_MS
        : state === 'disconnected'
          ? MEDIA_DISCONNECTED_GRACE_MS
          : MEDIA_ATTEMPT_MS
    if (r.attempts === 0 && now - r.since < grace) return
    r.busy = true
    try {
      this.#options.onState(
        'reconnecting',
        `the connection dropped; reconnecting (attempt ${r.attempts + 1})`,
      )
      const signaling = this.#signaling
      if (!signaling || !(await signaling.probe(1000))) {
        // The server does not answer: resume signaling; the next round restarts the media over it.
        this.#countAttempt(r)
        signaling?.abandon()
        return
      }
      if (!this.#closed) this.restartMedia()
    } finally {
      r.busy = false
    }
  }

  /** The next attempt waits for this one to have had its time, plus the back-off. */
  #countAttempt(r: Recovery): void {
    const delay = MEDIA_RETRY_DELAYS_MS[Math.min(r.attempts, MEDIA_RETRY_DELAYS_MS.length - 1)] ?? 0
    r.attempts++
    r.nextAt = performance.now() + MEDIA_ATTEMPT_MS + delay
  }

  #attach(signaling: SignalingClient): void {
    this.#signaling = signaling
    signaling.onMessageInOrder(
      (msg) => this.#onSignal(msg),
      (err) => this.#options.onState('failed', describe(err)),
    )
    signaling.onClose((code) => {
      if (this.#closed || code === 1000) return
      void this.#reconnect()
    })
  }

  #join(signaling: SignalingClient): void {
    const { roomId, password, role } = this.#options
    const token = this.#options.rejoinToken?.() ?? this.#options.token
    signaling.send({
      type: 'join-room',
      roomId,
      ...(password !== undefined && password !== '' && { password }),
      ...(token !== undefined && { token }),
      ...(role !== undefined && { role }),
    })
    // The answer is room-joined, join-pending (the host decides) or an error; #onSignal handles all three.
  }

  /**
   * The signaling connection dropped: the media connection carries on, and
   * we get our room place back with `resume` (or join afresh if it expired).
   */
  async #reconnect(): Promise<void> {
    const previous = this.#signaling
    if (!previous) return
    if (this.#pc?.connectionState !== 'connected')
      this.#options.onState('reconnecting', 'signaling connection lost')
    const next = await SignalingClient.recover(this.#options.signalingUrl, previous, {
      cancelled: () => this.#closed,
      delaysMs: SIGNALING_RETRY_DELAYS_MS,
      attemptTimeoutMs: SIGNALING_ATTEMPT_TIMEOUT_MS,
      // Our place is gone: join as a new viewer.
      restart: async (fresh) => {
        this.#attach(fresh)
        this.#join(fresh)
      },
    })
    if (next) {
      this.#signaling = next
      if (this.#pc?.connectionState === 'connected') return
      // The network that took signaling away took the media too: ask for a new connection now,
      // not at the watchdog's next turn.
      if (this.#hadMedia && !this.#hopeless) this.restartMedia()
      else this.#options.onState('waiting-for-host')
    } else if (!this.#closed) this.#options.onState('failed', 'the signaling server cannot be reached')
  }

  /** Sends one input frame: motion on the unordered channel, the rest on the reliable one. */
  sendInput(frame: Uint8Array, motion: boolean): void {
    const channel = this.#channels.get(motion ? MOTION_CHANNEL : INPUT_CHANNEL)
    if (channel?.readyState === 'open') channel.send(frame as Uint8Array<ArrayBuffer>)
  }

  #closed = false

  /** The host ended the session (kick, denial): close everything, say why, never reconnect. */
  end(code: string, message: string): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#watchdog)
    // Forget the peer first: its closing must not replace the reason with "the media connection failed".
    this.#closePeer()
    this.#signaling?.close()
    this.#options.onState('failed', `${code}: ${message}`)
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#watchdog)
    this.#pc?.close()
    this.#dataPc?.close()
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
        this.#closePeer()
        this.#hostId = msg.fromId
        const pc = this.#createPeerConnection(msg.fromId)
        this.#options.onState('negotiating')
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp })
        preferOfferOrder(pc, msg.sdp)
        const answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        const sdp = pc.localDescription?.sdp ?? answer.sdp ?? ''
        signaling.send({ type: 'answer', targetId: msg.fromId, sdp })
        const refused = refusedVideoCodecs(msg.sdp, sdp)
        // The host offers every codec it can encode: none left means this browser decodes none of them.
        this.#codecRefused =
          refused &&
          `CODEC_UNSUPPORTED: this browser cannot decode any video format the host can send (${refused.join(', ')})`
        if (this.#codecRefused) this.#options.onState('failed', this.#codecRefused)
        return
      }
      case 'ice-candidate':
        if (msg.fromId === this.#hostId && msg.candidate && this.#pc) {
          const { candidate, sdpMid, sdpMLineIndex } = msg.candidate
          try {
            await this.#pc.addIceCandidate({
              candidate,
              sdpMid: sdpMid ?? null,
              sdpMLineIndex: sdpMLineIndex ?? null,
            })
          } catch (err) {
            // A candidate for a section this browser rejected (Firefox: "No such transceiver"), or for
            // a connection replaced meanwhile, changes nothing: ICE goes on with the others, and a
            // failure is explained from the connection's own state, not by this.
            log.warn({ err: String(err), sdpMid }, 'host candidate not usable')
          }
        }
        return
      case 'room-joined':
        this.#iceServers = msg.iceServers.map((server) => ({
          urls: server.urls,
          ...(server.username !== undefined && { username: server.username }),
          ...(server.credential !== undefined && { credential: server.credential }),
        }))
        this.#options.onRole?.(msg.role ?? 'viewer')
        this.#options.onState('waiting-for-host')
        return
      case 'join-pending':
        this.#options.onState('waiting-for-approval', 'the host has been asked to let you in')
        return
      case 'kicked':
        this.end(msg.code, msg.message)
        return
      case 'room-left':
        if (this.#rejoining) this.#rejoining = false
        else this.#options.onState('disconnected', 'the host closed the room')
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
    const pc = new RTCPeerConnection({
      iceServers: this.#iceServers,
      ...(this.#options.iceTransportPolicy && { iceTransportPolicy: this.#options.iceTransportPolicy }),
    })
    this.#pc = pc
    this.peerConnectionsCreated++
    let gathered = 0
    pc.addEventListener('icecandidate', (ev) => {
      if (ev.candidate) gathered++
      // Relay-only gathering finished with nothing to offer (no working TURN server): no pair can
      // ever form, so say why now instead of waiting for ICE to time out. (Without the relay policy
      // the host's checks can still find us: peer-reflexive candidates.)
      else if (gathered === 0 && this.#pc === pc && this.#options.iceTransportPolicy === 'relay') {
        this.#hopeless = true
        void this.#explainFailure(pc)
      }
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
    const capabilityChannel = (channel: RTCDataChannel): boolean => {
      channel.binaryType = 'arraybuffer'
      const capability = this.#options.channels?.[channel.label as typeof FILES_CHANNEL]
      if (capability) this.#attachCapability(channel, capability)
      return capability !== undefined
    }
    pc.addEventListener('datachannel', (ev) => {
      if (capabilityChannel(ev.channel)) return
      if (ev.channel.label === DATA_LINK_CHANNEL) {
        // The host's files channel on its own peer connection (see data-link.ts).
        this.#dataPc = attachDataLink(
          ev.channel,
          {
            iceServers: this.#iceServers,
            ...(this.#options.iceTransportPolicy && { iceTransportPolicy: this.#options.iceTransportPolicy }),
          },
          (channel) => void capabilityChannel(channel),
        )
        return
      }
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
      if (this.#pc !== pc || this.#closed) return
      if (pc.connectionState === 'connected') {
        this.#hadMedia = true
        // Connected without a picture still says why (the data channels work: clipboard, files).
        this.#options.onState('connected', this.#codecRefused)
      } else if (pc.connectionState === 'failed') void this.#explainFailure(pc)
      else if (pc.connectionState === 'disconnected')
        this.#options.onState('disconnected', 'media interrupted')
    })
    return pc
  }

  /** Hands a clipboard or files channel to its capability once it is open, and takes it back when it closes. */
  #attachCapability(
    channel: RTCDataChannel,
    capability: { attachHost(link: TransferLink): ChannelEnd },
  ): void {
    let end: ChannelEnd | undefined
    this.#capabilityChannels.add(channel)
    const open = () => {
      end = capability.attachHost(channelLink(channel))
    }
    if (channel.readyState === 'open') open()
    else channel.addEventListener('open', open, { once: true })
    channel.addEventListener('message', (msg) => {
      if (msg.data instanceof ArrayBuffer) end?.receive(new Uint8Array(msg.data))
    })
    channel.addEventListener('close', () => end?.detach())
  }

  /**
   * Drops the media connection and asks the host for a new one (leave and
   * join the room again): what a viewer does after its network dropped.
   * Transfers and the clipboard carry on over the new connection.
   */
  restartMedia(): void {
    // Whoever asked (the watchdog, a test, the user), this is an attempt: the watchdog waits for it.
    const now = performance.now()
    this.#recovery ??= { since: now, attempts: 0, nextAt: now, busy: false }
    this.#countAttempt(this.#recovery)
    this.#closePeer()
    const signaling = this.#signaling
    if (!signaling) return
    this.#options.onState('reconnecting', 'reconnecting the media connection')
    this.#rejoining = true
    signaling.send({ type: 'leave-room' })
    this.#join(signaling)
  }

  readonly #capabilityChannels = new Set<RTCDataChannel>()
  /** The data-only peer connection carrying the files channel, when the host offers one. */
  #dataPc: RTCPeerConnection | undefined

  #closePeer(): void {
    const pc = this.#pc
    this.#pc = undefined
    pc?.close()
    this.#dataPc?.close()
    this.#dataPc = undefined
    // Closing locally fires no close event on the channels: tell the capabilities ourselves.
    for (const channel of this.#capabilityChannels) channel.dispatchEvent(new Event('close'))
    this.#capabilityChannels.clear()
  }

  /** The open clipboard or files channel (for diagnostics and the fuzz tests). */
  dataChannel(label: string): RTCDataChannel | undefined {
    return [...this.#capabilityChannels].find((c) => c.label === label && c.readyState === 'open')
  }
  /** We left the room only to join it again: its room-left is ours, not the host's. */
  #rejoining = false

  /** Says why ICE failed, from what each side gathered and which pair was tried. */
  async #explainFailure(pc: RTCPeerConnection): Promise<void> {
    const reports: ({ type: string; id: string } & Record<string, unknown>)[] = []
    try {
      ;(await pc.getStats()).forEach((r: { type: string; id: string } & Record<string, unknown>) => {
        reports.push(r)
      })
    } catch {}
    const usedTurn = this.#iceServers.some((s) => [s.urls].flat().some((u) => u.startsWith('turn')))
    const diagnosis = diagnoseIce(reports, usedTurn, this.#options.iceTransportPolicy === 'relay')
    this.lastIceDiagnosis = diagnosis
    this.#options.onState('failed', `the media connection failed. ${describeDiagnosis(diagnosis)}`)
  }

  lastIceDiagnosis: ReturnType<typeof diagnoseIce> | undefined
}

/**
 * What a browser lacks of what the viewer needs. Debian's WebKitGTK (2.50,
 * MiniBrowser and Epiphany) has no RTCPeerConnection at all: it is built
 * without a WebRTC backend, whatever its enable-webrtc setting says.
 */
export function missingBrowserFeatures(scope: object): string[] {
  const has = (name: string) => typeof (scope as Record<string, unknown>)[name] === 'function'
  return [
    ...(has('RTCPeerConnection') ? [] : ['WebRTC (RTCPeerConnection)']),
    ...(has('WebSocket') ? [] : ['WebSocket']),
  ]
}

/** The video codecs of an SDP's video section, in its order (repair and FEC formats left out). */
export function videoCodecsOf(sdp: string): string[] {
  const section = sdp.split(/\r?\nm=/).find((s) => s.startsWith('video ') || s.startsWith('m=video '))
  if (!section || /^(m=)?video 0 /.test(section)) return []
  return [...section.matchAll(/a=rtpmap:\d+ ([\w-]+)\/90000/g)]
    .map((m) => (m[1] ?? '').toUpperCase())
    .filter((c) => !['RTX', 'RED', 'ULPFEC', 'FLEXFEC-03'].includes(c))
}

/** The video codecs the host offered if our answer kept none of them, else undefined. */
export function refusedVideoCodecs(offer: string, answer: string): string[] | undefined {
  const offered = videoCodecsOf(offer)
  if (offered.length === 0) return undefined
  const accepted = new Set(videoCodecsOf(answer))
  return offered.some((c) => accepted.has(c)) ? undefined : offered
}

/**
 * Our answer lists the codecs we decode in the host's order: the host
 * offers its cheapest, best encoder first, and sends whichever codec our
 * answer puts first, so a browser's own taste must not start a second
 * encoder on the host for nothing.
 */
function preferOfferOrder(pc: RTCPeerConnection, offer: string): void {
  const order = videoCodecsOf(offer)
  const video = pc.getTransceivers().find((t) => t.receiver.track.kind === 'video')
  const decodes =
    typeof RTCRtpReceiver === 'undefined' ? undefined : RTCRtpReceiver.getCapabilities?.('video')?.codecs
  if (!video || !decodes || typeof video.setCodecPreferences !== 'function') return
  const rank = (codec: RTCRtpCodec) => {
    const i = order.indexOf(codec.mimeType.replace(/^video\//i, '').toUpperCase())
    return i < 0 ? order.length : i
  }
  try {
    video.setCodecPreferences([...decodes].sort((a, b) => rank(a) - rank(b)))
  } catch (err) {
    log.warn({ err: String(err) }, 'codec preferences not taken; the browser orders its answer itself')
  }
}

function describe(err: unknown): string {
  const error = SmolDeskError.from(err)
  return `${error.code}: ${error.message}`
}
