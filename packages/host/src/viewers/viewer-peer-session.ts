import type { ClientMessage, IceCandidate, VideoCodec } from '@smoldesk/protocol'
import type { AudioService } from '../audio/audio-service.ts'
import type { MicrophonePacket } from '../audio/microphone.ts'
import type { CaptureService } from '../capture/capture-service.ts'
import { PathEstimate, type PathSeed } from '../congestion/path-estimate.ts'
import type { EmitEvent } from '../events.ts'
import type { ViewerInput } from '../input/viewer-input.ts'
import { createLogger } from '../log.ts'
import type { MediaTransport, PeerDataChannel, ViewerPeer } from '../webrtc/transport.ts'
import type { ViewerRoster } from './viewer-roster.ts'

const log = createLogger('viewers.peer')

/** A viewer that has answered but is not connected after this long gets a fresh offer. */
const CONNECT_WATCHDOG_MS = 4000
/** Offers per join before the viewer is given up. */
export const MAX_OFFERS_PER_JOIN = 4

/** What every viewer's peer session shares, handed down by the hub. */
export interface PeerSessionContext {
  transport: MediaTransport
  capture: Pick<CaptureService, 'requestKeyframe' | 'encoderRate' | 'setPathCeiling'>
  /** The desktop's sound shares each viewer's path with its video. */
  audio: Pick<AudioService, 'setPathCeiling'>
  roster: ViewerRoster
  input: ViewerInput
  emit: EmitEvent
  signal(message: ClientMessage): void
  iceServers(): Parameters<MediaTransport['createPeer']>[0]['iceServers']
  /** The codecs in use changed (a viewer chose one, or left). */
  codecsChanged(): void
  /** What the viewer's previous connection knew of its path (recent only), and where this one left it. */
  recallPath(viewerId: string): PathSeed | undefined
  rememberPath(viewerId: string, seed: PathSeed | undefined): void
  /** The clipboard, files or session channel opened. */
  onDataChannel(viewerId: string, channel: PeerDataChannel): void
  /** A packet of the viewer's microphone arrived (the microphones decide whether it plays). */
  microphone(viewerId: string, packet: MicrophonePacket): void
  /** Not connected in time: offer again (attempt + 1), or give up after MAX_OFFERS_PER_JOIN. */
  retry(session: ViewerPeerSession): void
  /** The connection failed or closed by itself. */
  lost(session: ViewerPeerSession, reason: string): void
  /** This session closed: the hub forgets it if it is still the viewer's current one. */
  closed(session: ViewerPeerSession): void
}

/** Removes candidate lines: candidates are trickled separately, after the answer. */
function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
    .join('\r\n')
}

/**
 * One media connection to one viewer: the offer, the answer and the codec
 * it chose, candidates held back until the answer is in, the watchdog that
 * offers again, and the viewer's input and channels while it is current.
 * `close()` is idempotent and removes it from the hub.
 */
export class ViewerPeerSession {
  readonly viewerId: string
  readonly attempt: number
  readonly #ctx: PeerSessionContext
  readonly #peer: ViewerPeer
  /** The codec the viewer's answer chose; undefined until it answered, or when it can decode none. */
  #codec: VideoCodec | undefined
  #connected = false
  /** Local candidates wait here until the viewer's answer is applied (see offer()). */
  #pendingCandidates: (IceCandidate | null)[] | undefined = []
  #watchdog: NodeJS.Timeout | undefined
  /**
   * What this viewer's path carries, from its RTCP: its ceiling holds its
   * encoder down. It starts where the viewer's previous connection left it.
   */
  readonly #path: PathEstimate
  /** When the path estimate was last written to the debug log (performance.now()). */
  #pathLoggedAt = Number.NEGATIVE_INFINITY
  #closed = false

  constructor(ctx: PeerSessionContext, viewerId: string, attempt: number, codecs: VideoCodec[]) {
    this.#ctx = ctx
    this.viewerId = viewerId
    this.attempt = attempt
    const seed = ctx.recallPath(viewerId)
    if (seed) log.debug({ viewerId, attempt, seed }, 'path carried over')
    this.#path = new PathEstimate(seed, performance.now())
    this.#peer = ctx.transport.createPeer({
      viewerId,
      codecs,
      iceServers: ctx.iceServers(),
      events: {
        onLocalCandidate: (candidate) => {
          if (this.#pendingCandidates) this.#pendingCandidates.push(candidate)
          else ctx.signal({ type: 'ice-candidate', targetId: viewerId, candidate })
        },
        onConnectionState: (state) => this.#onState(state),
        onKeyframeRequest: () => {
          if (this.#codec) ctx.capture.requestKeyframe(this.#codec)
        },
        onPathFeedback: (feedback) => {
          const codec = this.#codec
          const rate = codec && ctx.capture.encoderRate(codec)
          if (this.#closed || !codec || !rate) return
          const before = this.#path.ceiling
          const at = performance.now()
          const ceiling = this.#path.update(feedback, rate, at)
          // Each change, and once a second while none comes: a ceiling stuck at its floor then
          // still shows what the encoder made meanwhile (nothing, if it stalled).
          if (ceiling !== before || at - this.#pathLoggedAt >= 1000) {
            const why =
              ceiling !== undefined && ceiling < (before ?? Number.POSITIVE_INFINITY)
                ? this.#path.lastDecrease
                : undefined
            this.#pathLoggedAt = at
            log.debug(
              { viewerId, feedback, sendKbps: Math.round(rate.sendKbps), ceiling, why },
              'path estimate',
            )
          }
          if (ceiling !== before) this.#holdTo(codec, ceiling)
        },
        onInput: (frame, channel) => {
          if (this.#closed) return
          // View-only viewers watch; their input never reaches the injector.
          if (ctx.roster.role(viewerId) !== 'viewer') ctx.input.refuse(viewerId)
          else ctx.input.handle(viewerId, frame, channel)
        },
        onInputClosed: () => ctx.input.viewerGone(viewerId),
        onDataChannel: (channel) => {
          if (!this.#closed) ctx.onDataChannel(viewerId, channel)
        },
        onMicrophone: (packet) => {
          if (!this.#closed) ctx.microphone(viewerId, packet)
        },
      },
    })
  }

  get codec(): VideoCodec | undefined {
    return this.#codec
  }

  get connected(): boolean {
    return this.#connected
  }

  /**
   * Offers the connection. Our candidates are held back until the answer
   * is applied: werift starts DTLS only if ICE is not yet connected when it
   * applies the answer, and a browser that already has our candidates can
   * complete ICE before that (seen here: DTLS never started).
   */
  async offer(): Promise<void> {
    log.debug({ viewerId: this.viewerId, attempt: this.attempt }, 'creating offer')
    const sdp = await this.#peer.createOffer()
    if (this.#closed) return
    this.#ctx.signal({ type: 'offer', targetId: this.viewerId, sdp: withoutCandidates(sdp) })
  }

  async answer(sdp: string): Promise<void> {
    const { codec, offered } = await this.#peer.acceptAnswer(sdp)
    if (this.#closed) return
    this.#codec = codec
    if (codec) {
      this.#ctx.codecsChanged()
      // A ceiling carried over from the viewer's previous connection holds from the first frame on.
      const ceiling = this.#path.ceiling
      if (ceiling !== undefined) this.#holdTo(codec, ceiling)
    } else {
      // Nothing the host can encode decodes there: say so instead of showing a black video.
      this.#ctx.emit('error', {
        code: 'CODEC_UNSUPPORTED',
        message: `viewer ${this.viewerId} can decode none of the codecs this host streams (${offered.join(', ')})`,
        source: 'webrtc',
      })
    }
    log.info({ viewerId: this.viewerId, codec: codec ?? 'none' }, 'answer applied')
    const pending = this.#pendingCandidates ?? []
    this.#pendingCandidates = undefined
    for (const candidate of pending)
      this.#ctx.signal({ type: 'ice-candidate', targetId: this.viewerId, candidate })
    this.#watchdog = setTimeout(() => {
      if (!this.#connected && !this.#closed) this.#ctx.retry(this)
    }, CONNECT_WATCHDOG_MS)
  }

  addRemoteCandidate(candidate: IceCandidate | null): Promise<void> {
    return this.#peer.addRemoteCandidate(candidate)
  }

  sendRtp(packet: Buffer): void {
    if (this.#connected) this.#peer.sendRtp(packet)
  }

  sourceChanged(): void {
    this.#peer.sourceChanged()
  }

  sendAudioRtp(packet: Buffer): void {
    if (this.#connected) this.#peer.sendAudioRtp(packet)
  }

  audioSourceChanged(): void {
    this.#peer.audioSourceChanged()
  }

  sendToViewer(frame: Uint8Array): void {
    this.#peer.sendToViewer(frame)
  }

  /** Idempotent. werift's close can take seconds: the returned promise is for whoever must wait. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    clearTimeout(this.#watchdog)
    // Only a connection that carried media knows its path; an offer never answered says nothing.
    if (this.#connected) {
      log.debug({ viewerId: this.viewerId, seed: this.#path.seed }, 'path remembered')
      this.#ctx.rememberPath(this.viewerId, this.#path.seed)
    }
    this.#holdTo(this.#codec, undefined)
    this.#ctx.closed(this)
    return this.#peer.close().catch((err: unknown) => log.warn({ err: String(err) }, 'closing a peer failed'))
  }

  /**
   * Holds the viewer's video encoder, its retransmissions and the desktop's
   * sound to its path's ceiling (undefined: lets go).
   */
  #holdTo(codec: VideoCodec | undefined, ceiling: number | undefined): void {
    if (codec) this.#ctx.capture.setPathCeiling(codec, this.viewerId, ceiling)
    this.#peer.setPathCeiling(ceiling)
    this.#ctx.audio.setPathCeiling(this.viewerId, ceiling)
  }

  #onState(state: string): void {
    if (this.#closed) return
    log.info({ viewerId: this.viewerId, state }, 'viewer connection state')
    if (state === 'connected' && !this.#connected) {
      this.#connected = true
      clearTimeout(this.#watchdog)
      // A new viewer can only start decoding at a keyframe.
      if (this.#codec) this.#ctx.capture.requestKeyframe(this.#codec)
      const role = this.#ctx.roster.role(this.viewerId)
      const identity = this.#ctx.roster.identity(this.viewerId)
      this.#ctx.emit('viewer-connected', {
        viewerId: this.viewerId,
        ...(role && { role }),
        ...(identity && { identity }),
      })
    } else if (state === 'failed' || state === 'closed') {
      this.#ctx.lost(this, `connection ${state}`)
    }
  }
}
