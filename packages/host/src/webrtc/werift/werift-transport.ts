import {
  CLIPBOARD_CHANNEL,
  DATA_LINK_CHANNEL,
  FILES_CHANNEL,
  type IceCandidate,
  INPUT_CHANNEL,
  MOTION_CHANNEL,
  parseDataLinkMessage,
  SESSION_CHANNEL,
  type VideoCodec,
} from '@smoldesk/protocol'
import {
  MediaStream,
  MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  type RTCDataChannel,
  RTCIceCandidate,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  type RTCRtpTransceiver,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpSrPacket,
  RtpPacket,
  useAbsSendTime,
  useAudioLevelIndication,
  useSdesMid,
} from 'werift'
import { LoopLateness } from '../../congestion/loop-lateness.ts'
import { RetransmitLimiter } from '../../congestion/retransmit-limiter.ts'
import { createLogger } from '../../log.ts'
import { HOST_DEFAULTS } from '../../options.ts'
import { linkMtu } from '../native/link-mtu.ts'
import { NativeDataLink } from '../native/native-data-link.ts'
import type { MediaTransport, PeerOptions, ViewerPeer } from '../transport.ts'
import { limitRetransmissions } from './nack-limit.ts'
import { RtpContinuity } from './rtp-continuity.ts'
import { SenderReports } from './sender-reports.ts'
import { useSrtpKeyObjects } from './srtp-keys.ts'
import { wrapChannel } from './werift-channel.ts'

type NodeDataChannelModule = typeof import('node-datachannel')

const log = createLogger('webrtc.werift')

/**
 * RTP playout-delay extension with min = max = 0: tells the browser to show
 * each frame as soon as it is decoded instead of building a jitter buffer.
 * Measured here: 69 ms → 37 ms glass-to-glass at 1080p60.
 */
export const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay'
const PLAYOUT_DELAY_ZERO = Buffer.from([0, 0, 0])

/** RTCP payload-specific feedback message types (RFC 4585 / 5104) that ask for a keyframe: PLI and FIR. */
const KEYFRAME_FEEDBACK = new Set([1, 4])
/** goog-remb: the browser reports its own bandwidth estimate (one of the inputs of congestion control). */
const FEEDBACK = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
  { type: 'goog-remb' },
]

function codecParameters(codec: VideoCodec): RTCRtpCodecParameters {
  switch (codec) {
    case 'H264':
      return new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback: FEEDBACK,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      })
    case 'VP8':
      return new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: FEEDBACK })
    case 'VP9':
      return new RTCRtpCodecParameters({
        mimeType: 'video/VP9',
        clockRate: 90000,
        rtcpFeedback: FEEDBACK,
        parameters: 'profile-id=0',
      })
    case 'AV1':
      return new RTCRtpCodecParameters({ mimeType: 'video/AV1', clockRate: 90000, rtcpFeedback: FEEDBACK })
  }
}

/**
 * Opus as the browser's WebRTC stack expects it; stereo both ways, 10 ms
 * frames allowed (minptime), in-band FEC asked of the viewer's microphone
 * encoder (speech: SILK, where FEC exists).
 */
const OPUS = new RTCRtpCodecParameters({
  mimeType: 'audio/opus',
  clockRate: 48000,
  channels: 2,
  parameters: 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1',
})
const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level'

/**
 * The round trip a receiver report measures (RFC 3550 6.4.1: now − the
 * sender report it names − the receiver's delay since), in ms; undefined
 * when it names another report than our last. werift keeps only a smoothed
 * round trip (85 % the old value), too slow to see a queue fill; the
 * fields it measures from are private in its typings.
 */
/**
 * How far back the host loop's lateness can have held up the report being
 * handled: the tick timed just before it (libuv runs timers before polling
 * sockets), with room for a turn of I/O in between.
 */
const HOST_LATE_WINDOW_MS = 50

function extmapId(sdp: string, uri: string): number | undefined {
  for (const line of sdp.split(/\r?\n/)) {
    const match = /^a=extmap:(\d+)(?:\/\w+)? (\S+)/.exec(line)
    if (match?.[2] === uri) return Number(match[1])
  }
  return undefined
}

/** Whether an answer kept its video section (a rejected one has port 0). */
export function videoAccepted(sdp: string): boolean {
  const line = /^m=video (\d+)/m.exec(sdp)
  return line !== null && line[1] !== '0'
}

class WeriftViewerPeer implements ViewerPeer {
  readonly viewerId: string
  readonly #offered: VideoCodec[]
  readonly #pc: RTCPeerConnection
  readonly #track = new MediaStreamTrack({ kind: 'video' })
  readonly #transceiver: RTCRtpTransceiver
  /** The desktop's sound out, the viewer's microphone in: one section, there from the first offer. */
  readonly #audioTrack = new MediaStreamTrack({ kind: 'audio' })
  readonly #audio: RTCRtpTransceiver
  readonly #videoContinuity = new RtpContinuity(() => this.#transceiver.sender, 90_000)
  readonly #audioContinuity = new RtpContinuity(() => this.#audio.sender, 48_000)
  readonly #senderReports = new SenderReports()
  /** What the viewer's NACKs get resent: within the path's ceiling, once a round trip. */
  readonly #retransmits = new RetransmitLimiter()
  #retransmitsLoggedAt = 0
  #playoutDelayId: number | undefined
  readonly #reliable: RTCDataChannel
  /** Only the latest host → viewer message matters (a cursor image supersedes the last). */
  #pendingToViewer: Uint8Array | undefined
  #dataLink: NativeDataLink | undefined
  /**
   * Every ICE transport the offer gathered: werift gathers one per m-line and, once the answer
   * bundles them, forgets the extras without closing their sockets (three UDP sockets a viewer
   * connection, seen here); close() closes them all.
   */
  readonly #gathered: { stop(): Promise<void> }[] = []
  #closed = false

  constructor(options: WeriftPeerOptions) {
    this.viewerId = options.viewerId
    useSrtpKeyObjects()
    this.#offered = [...options.codecs]
    this.#pc = new RTCPeerConnection({
      // Every codec the host can stream, best first: the browser's answer keeps those it decodes
      // (Firefox without OpenH264 drops H264), and werift sends the first one left.
      codecs: { video: options.codecs.map(codecParameters), audio: [OPUS] },
      headerExtensions: {
        video: [
          useSdesMid(),
          useAbsSendTime(),
          new RTCRtpHeaderExtensionParameters({ uri: PLAYOUT_DELAY_URI }),
        ],
        audio: [useSdesMid(), useAbsSendTime(), useAudioLevelIndication()],
      },
      iceServers: options.iceServers.map((s) => ({
        urls: Array.isArray(s.urls) ? (s.urls[0] ?? '') : s.urls,
        ...(s.username !== undefined && { username: s.username }),
        ...(s.credential !== undefined && { credential: s.credential }),
      })),
      // Loopback is a real path when host and viewer share a machine (and in tests).
      iceAdditionalHostAddresses: ['127.0.0.1'],
    })
    // Picture and sound in one stream: the browser synchronizes the tracks of a stream (lip sync),
    // from the sender reports that map each track's RTP clock onto wall time.
    const stream = new MediaStream({ id: `smoldesk-${options.viewerId}` })
    this.#transceiver = this.#pc.addTransceiver(this.#track, { direction: 'sendonly', streams: [stream] })
    this.#audio = this.#pc.addTransceiver(this.#audioTrack, { direction: 'sendrecv', streams: [stream] })
    this.#audio.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp, extensions) => {
        const level = extensions?.[AUDIO_LEVEL_URI] as { level: number } | undefined
        options.events.onMicrophone({
          sequence: rtp.header.sequenceNumber,
          payload: rtp.payload,
          levelDbov: level ? -level.level : undefined,
        })
      })
    })
    // Input: motion unordered and never retransmitted (the latest position wins), the rest reliable.
    const channels = [
      [this.#pc.createDataChannel(MOTION_CHANNEL, { ordered: false, maxRetransmits: 0 }), 'motion'],
      [this.#pc.createDataChannel(INPUT_CHANNEL, { ordered: true }), 'reliable'],
    ] as const
    this.#reliable = channels[1][0]
    this.#reliable.stateChanged.subscribe((state) => {
      const pending = this.#pendingToViewer
      if (state === 'open' && pending) {
        this.#pendingToViewer = undefined
        this.#reliable.send(Buffer.from(pending))
      }
    })
    // Clipboard, files and the session's requests: reliable and ordered, each on its own channel so a
    // big file never delays a paste or a monitor switch.
    // With the native data stack the files channel runs on its own peer connection (see
    // native-data-link.ts), negotiated over the data-link channel; otherwise here.
    const native = options.dataStack
    if (native) this.#openDataLink(native, options)
    for (const label of native
      ? [CLIPBOARD_CHANNEL, SESSION_CHANNEL]
      : [CLIPBOARD_CHANNEL, FILES_CHANNEL, SESSION_CHANNEL]) {
      const channel = this.#pc.createDataChannel(label, { ordered: true })
      channel.stateChanged.subscribe((state) => {
        if (state === 'open') options.events.onDataChannel(wrapChannel(channel))
      })
    }
    for (const [channel, kind] of channels) {
      channel.onMessage.subscribe((data) => {
        if (typeof data !== 'string') options.events.onInput(data, kind)
      })
      channel.stateChanged.subscribe((state) => {
        if (state === 'closed') options.events.onInputClosed()
      })
    }
    this.#pc.onIceCandidate.subscribe((candidate) => {
      options.events.onLocalCandidate(candidate ? (candidate.toJSON() as IceCandidate) : null)
    })
    this.#pc.connectionStateChange.subscribe((state) => options.events.onConnectionState(state))
    const sender = this.#transceiver.sender
    limitRetransmissions(sender, this.#retransmits)
    sender.onRtcp.subscribe((packet) => {
      // Payload-specific feedback is also REMB (Chromium's bandwidth estimate, about once a
      // second): only PLI and FIR ask for a keyframe. Taking REMB for one restarted the encoder
      // every 2 s whenever the GOP was longer than a second.
      if (packet instanceof RtcpPayloadSpecificFeedback) {
        if (KEYFRAME_FEEDBACK.has(packet.feedback.count)) options.events.onKeyframeRequest()
        else if (packet.feedback instanceof ReceiverEstimatedMaxBitrate) {
          options.events.onPathFeedback({ kind: 'remb', kbps: Number(packet.feedback.bitrate) / 1000 })
        }
      } else if (packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket) {
        const report = packet.reports.find((r) => r.ssrc === sender.ssrc)
        if (report) {
          this.#noteSenderReport()
          const rttMs = this.#senderReports.roundTripMs(report.lsr, report.dlsr, Date.now() / 1000)
          if (rttMs !== undefined) this.#retransmits.setRoundTrip(rttMs)
          this.#logRetransmits()
          options.events.onPathFeedback({
            kind: 'report',
            // 24-bit two's complement (duplicates can make it negative); werift reads it unsigned.
            packetsLost: report.packetsLost >= 0x800000 ? report.packetsLost - 0x1000000 : report.packetsLost,
            highestSequence: report.highestSequence,
            rttMs,
            hostLateMs: LoopLateness.shared().worst(HOST_LATE_WINDOW_MS),
          })
        }
      }
    })
  }

  async createOffer(): Promise<string> {
    const offer = await this.#pc.createOffer()
    await this.#pc.setLocalDescription(offer)
    this.#gathered.push(...this.#pc.iceTransports)
    return this.#pc.localDescription?.sdp ?? offer.sdp
  }

  async acceptAnswer(sdp: string): Promise<{ codec: VideoCodec | undefined; offered: VideoCodec[] }> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp })
    // Only if the viewer accepted the extension: its answer repeats our extmap line.
    this.#playoutDelayId = extmapId(sdp, PLAYOUT_DELAY_URI)
    // A video section the viewer rejected (port 0) carries nothing, whatever codec werift kept.
    const mime = videoAccepted(sdp) ? this.#transceiver.sender.codec?.mimeType : undefined
    const codec = this.#offered.find((c) => mime?.toLowerCase() === `video/${c.toLowerCase()}`)
    log.debug({ viewer: this.viewerId, codec, playoutDelayId: this.#playoutDelayId }, 'answer accepted')
    return { codec, offered: [...this.#offered] }
  }

  async addRemoteCandidate(candidate: IceCandidate | null): Promise<void> {
    if (!candidate || candidate.candidate === '') return
    await this.#pc.addIceCandidate(
      new RTCIceCandidate({
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid ?? '0',
        sdpMLineIndex: candidate.sdpMLineIndex ?? 0,
      }),
    )
  }

  sendRtp(packet: Buffer): void {
    if (this.#closed) return
    const rtp = RtpPacket.deSerialize(packet)
    if (this.#playoutDelayId !== undefined) {
      rtp.header.extensions.push({ id: this.#playoutDelayId, payload: PLAYOUT_DELAY_ZERO })
    }
    this.#videoContinuity.beforeSend(performance.now())
    this.#track.writeRtp(rtp)
    this.#noteSenderReport()
  }

  setPathCeiling(kbps: number | undefined): void {
    this.#retransmits.setCeiling(kbps)
  }

  /** What was resent and refused, at most once a second, while resends are refused. */
  #logRetransmits(): void {
    const now = performance.now()
    if (now - this.#retransmitsLoggedAt < 1000) return
    const refused = this.#retransmits.takeRefused()
    if (refused === 0) return
    this.#retransmitsLoggedAt = now
    log.debug(
      { viewer: this.viewerId, resentKbps: Math.round(this.#retransmits.kbps(now)), refused },
      'retransmissions held back',
    )
  }

  /** werift's last sender report on the video (it sends them itself, every 0.5–1.5 s). */
  #noteSenderReport(): void {
    const s = this.#transceiver.sender as unknown as {
      lastSRtimestamp?: number
      lastSentSRTimestamp?: number
    }
    this.#senderReports.note(s.lastSRtimestamp, s.lastSentSRTimestamp)
  }

  sendAudioRtp(packet: Buffer): void {
    if (this.#closed) return
    this.#audioContinuity.beforeSend(performance.now())
    this.#audioTrack.writeRtp(RtpPacket.deSerialize(packet))
  }

  audioSourceChanged(): void {
    this.#audioContinuity.sourceChanged()
  }

  sendToViewer(frame: Uint8Array): void {
    if (this.#closed) return
    if (this.#reliable.readyState === 'open') this.#reliable.send(Buffer.from(frame))
    else this.#pendingToViewer = frame
  }

  sourceChanged(): void {
    this.#videoContinuity.sourceChanged()
  }

  #openDataLink(native: NodeDataChannelModule, options: WeriftPeerOptions): void {
    const channel = this.#pc.createDataChannel(DATA_LINK_CHANNEL, { ordered: true })
    let overWerift = false
    // A link that does not come up in time (seen between two libdatachannel peers under load) or
    // fails later gives way to werift's own files channel on this connection: files keep working,
    // and transfers resume on it from where they stopped.
    const filesOverWerift = (why: string) => {
      if (this.#closed || overWerift) return
      overWerift = true
      log.warn({ viewer: this.viewerId }, `data link ${why}; files go over werift`)
      this.#dataLink?.close()
      const files = this.#pc.createDataChannel(FILES_CHANNEL, { ordered: true })
      files.stateChanged.subscribe((s) => {
        if (s === 'open') options.events.onDataChannel(wrapChannel(files))
      })
    }
    channel.stateChanged.subscribe((state) => {
      if (state === 'open' && !this.#dataLink && !this.#closed) {
        const fallback = setTimeout(() => filesOverWerift('did not open'), options.dataLinkTimeoutMs)
        // The main connection is up: its pair tells whether the viewer is on this machine.
        const pair = this.#pc.iceTransports[0]?.connection.nominated
        const mtu = linkMtu(pair?.localCandidate, pair?.remoteCandidate)
        log.info(
          { viewer: this.viewerId, remote: pair?.remoteCandidate.host, mtu: mtu ?? 'default' },
          'data link',
        )
        this.#dataLink = new NativeDataLink(native, {
          viewerId: options.viewerId,
          iceServers: options.iceServers,
          mtu,
          send: (message) => {
            // The main connection may be closing: a lost candidate then no longer matters.
            if (channel.readyState === 'open') channel.send(JSON.stringify(message))
          },
          onChannel: (files) => {
            clearTimeout(fallback)
            options.events.onDataChannel(files)
          },
          onFailed: () => {
            clearTimeout(fallback)
            filesOverWerift('failed')
          },
        })
        const link = this.#dataLink
        options.links.add(link)
        void link.settled.then(() => options.links.delete(link))
      }
    })
    channel.onMessage.subscribe((data) => {
      const message = parseDataLinkMessage(data)
      if (message) this.#dataLink?.handle(message)
      else log.warn({ viewer: this.viewerId }, 'malformed data-link message ignored')
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#dataLink?.close()
    this.#track.stop()
    await this.#pc.close()
    await Promise.all(this.#gathered.map((t) => t.stop().catch(() => {})))
  }
}

interface WeriftPeerOptions extends PeerOptions {
  dataStack: NodeDataChannelModule | undefined
  /** Every native link made, so the transport can wait for them before it stops the stack. */
  links: Set<NativeDataLink>
  /** How long the native data link may take to open before files go over werift's own channel. */
  dataLinkTimeoutMs: number
}

export class WeriftTransport implements MediaTransport {
  readonly #dataStack: NodeDataChannelModule | undefined
  readonly #dataLinkTimeoutMs: number
  readonly #releaseNativeStack: boolean
  readonly #links = new Set<NativeDataLink>()
  #closing: Promise<void> | undefined

  /**
   * `dataStack`: the native stack for the files channel (loadNativeDataStack), or werift's own;
   * `dataLinkTimeoutMs`: how long its link may take to open (HostOptions.dataLinkTimeoutMs);
   * `releaseNativeStack`: stop the stack's threads on close (HostOptions.releaseNativeStack).
   */
  constructor(
    options: {
      dataStack?: NodeDataChannelModule | undefined
      dataLinkTimeoutMs?: number
      releaseNativeStack?: boolean
    } = {},
  ) {
    this.#dataStack = options.dataStack
    this.#dataLinkTimeoutMs = options.dataLinkTimeoutMs ?? HOST_DEFAULTS.dataLinkTimeoutMs
    this.#releaseNativeStack = options.releaseNativeStack ?? HOST_DEFAULTS.releaseNativeStack
  }

  /**
   * Stops the native stack once every link it carried has closed: its
   * cleanup() while a channel is still closing is where it deadlocked.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const native = this.#dataStack
      if (!native) return
      await Promise.all([...this.#links].map((link) => link.settled))
      this.#links.clear()
      // The native data stack's threads would keep an embedding process alive once its peers are gone.
      if (this.#releaseNativeStack)
        await new Promise<void>((resolve) => setImmediate(() => resolve(native.cleanup())))
    })()
    return this.#closing
  }

  createPeer(options: PeerOptions): ViewerPeer {
    return new WeriftViewerPeer({
      ...options,
      dataStack: this.#dataStack,
      dataLinkTimeoutMs: this.#dataLinkTimeoutMs,
      links: this.#links,
    })
  }
}
