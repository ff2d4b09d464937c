import {
  type ClientMessage,
  type CursorImage,
  DATA_LINK_CHANNEL,
  decodeCursorFrame,
  type IceCandidate,
  INPUT_CHANNEL,
  MOTION_CHANNEL,
} from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { type Capabilities, CapabilityChannels } from './capability-channels.ts'
import { attachDataLink } from './data-link.ts'
import { diagnoseIce, type IceDiagnosis } from './ice-diagnosis.ts'
import { preferOfferOrder, refusedVideoCodecs } from './sdp-codecs.ts'

const log = createLogger('media')

export interface MediaPeerEvents {
  /** Our answer and candidates, for the host. */
  signal(msg: ClientMessage): void
  stream(stream: MediaStream): void
  /** The host's pointer shape changed. */
  cursor(cursor: CursorImage): void
  /** The connection's state changed (never after close()). */
  state(state: RTCPeerConnectionState): void
  /** Relay-only gathering found nothing to offer: no pair can ever form, so no retry will help. */
  hopeless(): void
}

/**
 * One media connection to the host, made for one offer of its: the answer
 * (codecs in the host's order), candidates both ways, the input and cursor
 * channels, the capability channels (directly or over the host's data
 * link), the track. A new offer from the host means a new MediaPeer.
 */
export class MediaPeer {
  readonly hostId: string
  readonly #pc: RTCPeerConnection
  readonly #config: RTCConfiguration
  readonly #events: MediaPeerEvents
  readonly #capabilities: CapabilityChannels
  readonly #channels = new Map<string, RTCDataChannel>()
  /** The data-only peer connection carrying the files channel, when the host offers one. */
  #dataPc: RTCPeerConnection | undefined
  #closed = false

  constructor(hostId: string, config: RTCConfiguration, capabilities: Capabilities, events: MediaPeerEvents) {
    this.hostId = hostId
    this.#config = config
    this.#events = events
    this.#capabilities = new CapabilityChannels(capabilities)
    this.#pc = new RTCPeerConnection(config)
    this.#listen()
  }

  get peerConnection(): RTCPeerConnection {
    return this.#pc
  }

  get dataPeerConnection(): RTCPeerConnection | undefined {
    return this.#dataPc
  }

  get connectionState(): RTCPeerConnectionState {
    return this.#pc.connectionState
  }

  /** Answers the host's offer; returns the video codecs it offered if our answer kept none. */
  async answer(offer: string, microphone: MediaStreamTrack | undefined): Promise<string[] | undefined> {
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: offer })
    preferOfferOrder(this.#pc, offer)
    // The host's sound comes in and our microphone may go out on the same section: answering it
    // send-and-receive lets a microphone switched on later go out without a new negotiation.
    const audio = this.#audioTransceiver()
    if (audio) {
      audio.direction = 'sendrecv'
      if (microphone) await audio.sender.replaceTrack(microphone)
    }
    const answer = await this.#pc.createAnswer()
    await this.#pc.setLocalDescription(answer)
    const sdp = this.#pc.localDescription?.sdp ?? answer.sdp ?? ''
    if (this.#closed) return undefined
    this.#events.signal({ type: 'answer', targetId: this.hostId, sdp })
    return refusedVideoCodecs(offer, sdp)
  }

  async addCandidate({ candidate, sdpMid, sdpMLineIndex }: IceCandidate): Promise<void> {
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

  /** Our microphone on (a track) or off (null), on the running connection. */
  async setMicrophone(track: MediaStreamTrack | null): Promise<void> {
    await this.#audioTransceiver()?.sender.replaceTrack(track)
  }

  #audioTransceiver(): RTCRtpTransceiver | undefined {
    return this.#pc.getTransceivers().find((t) => t.receiver.track.kind === 'audio')
  }

  /** Sends one input frame: motion on the unordered channel, the rest on the reliable one. */
  sendInput(frame: Uint8Array, motion: boolean): void {
    const channel = this.#channels.get(motion ? MOTION_CHANNEL : INPUT_CHANNEL)
    if (channel?.readyState === 'open') channel.send(frame as Uint8Array<ArrayBuffer>)
  }

  /** The open clipboard or files channel (for diagnostics and the fuzz tests). */
  dataChannel(label: string): RTCDataChannel | undefined {
    return this.#capabilities.get(label)
  }

  /** Why ICE failed, from what each side gathered and which pair was tried. */
  async diagnose(): Promise<IceDiagnosis> {
    const reports: ({ type: string; id: string } & Record<string, unknown>)[] = []
    try {
      ;(await this.#pc.getStats()).forEach((r: { type: string; id: string } & Record<string, unknown>) => {
        reports.push(r)
      })
    } catch {}
    const usedTurn = (this.#config.iceServers ?? []).some((s) =>
      [s.urls].flat().some((u) => u.startsWith('turn')),
    )
    return diagnoseIce(reports, usedTurn, this.#config.iceTransportPolicy === 'relay')
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pc.close()
    this.#dataPc?.close()
    this.#dataPc = undefined
    this.#capabilities.close()
  }

  #listen(): void {
    const pc = this.#pc
    let gathered = 0
    pc.addEventListener('icecandidate', (ev) => {
      if (this.#closed) return
      if (ev.candidate) gathered++
      // Relay-only gathering finished with nothing to offer (no working TURN server): say why now
      // instead of waiting for ICE to time out. (Without the relay policy the host's checks can
      // still find us: peer-reflexive candidates.)
      else if (gathered === 0 && this.#config.iceTransportPolicy === 'relay') this.#events.hopeless()
      this.#events.signal({
        type: 'ice-candidate',
        targetId: this.hostId,
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
      if (this.#capabilities.adopt(ev.channel)) return
      if (ev.channel.label === DATA_LINK_CHANNEL) {
        // The host's files channel on its own peer connection (see data-link.ts).
        this.#dataPc = attachDataLink(ev.channel, this.#config, (channel) => {
          this.#capabilities.adopt(channel)
        })
        return
      }
      this.#channels.set(ev.channel.label, ev.channel)
      ev.channel.addEventListener('message', (msg) => {
        if (!(msg.data instanceof ArrayBuffer)) return
        const cursor = decodeCursorFrame(new Uint8Array(msg.data))
        if (cursor && !this.#closed) this.#events.cursor(cursor)
      })
    })
    // Picture and sound as one stream for the page, whatever streams the host put them in.
    const stream = new MediaStream()
    pc.addEventListener('track', (ev) => {
      if (this.#closed) return
      stream.addTrack(ev.track)
      this.#events.stream(stream)
    })
    pc.addEventListener('connectionstatechange', () => {
      if (!this.#closed) this.#events.state(pc.connectionState)
    })
  }
}
