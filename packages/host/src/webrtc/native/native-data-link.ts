import type { DataLinkMessage, IceServer } from '@smoldesk/protocol'
import { CHANNEL_LOW_WATER_BYTES, FILES_CHANNEL } from '@smoldesk/protocol'
import type { DataChannel, PeerConnection } from 'node-datachannel'
import { createLogger } from '../../log.ts'
import type { PeerDataChannel } from '../transport.ts'

const log = createLogger('webrtc.native')

/*
 * The files channel on a native SCTP stack (libdatachannel through the
 * node-datachannel package, whose prebuilt binary comes from npm): werift's
 * SCTP in JavaScript tops out near 12–14 MB/s here and its per-packet
 * allocations grow the host's heap by hundreds of MB during a 1 GB upload.
 * A second, data-only peer connection per viewer, negotiated over the main
 * connection's data-link channel; everything else stays on werift.
 */

type NodeDataChannelModule = typeof import('node-datachannel')

export interface NativeDataLinkOptions {
  viewerId: string
  iceServers: IceServer[]
  /** Packet size for a path known to carry more than libdatachannel's default (see link-mtu.ts). */
  mtu?: number | undefined
  /** Sends a negotiation message to the viewer over the data-link channel. */
  send(message: DataLinkMessage): void
  /** The files channel is open. */
  onChannel(channel: PeerDataChannel): void
  /** The link failed or was closed by the other side (not by close()). */
  onFailed(): void
}

/** libdatachannel's ICE server form: `turn:user:pass@host:port?transport=udp`, user and pass URL-encoded. */
function iceServerUrls(servers: IceServer[]): string[] {
  return servers.flatMap((server) =>
    [server.urls].flat().map((url) => {
      const m = /^(stuns?|turns?):([^?]+)(\?.*)?$/.exec(url)
      if (!m || server.username === undefined) return url
      const auth = `${encodeURIComponent(server.username)}:${encodeURIComponent(server.credential ?? '')}@`
      return `${m[1]}:${auth}${m[2]}${m[3] ?? ''}`
    }),
  )
}

/**
 * A native channel as the host's PeerDataChannel, and `shut` for closing it
 * from our side: node-datachannel reports that close only from its own
 * thread, later, and drops its buffered-amount callback at once, so a sender
 * waiting for a drain is released here without waiting for that report.
 * `onBroken` hears of a send that failed: libdatachannel throws ("Sending
 * failed") while isOpen() still says yes when the association broke under
 * us (seen when the viewer's connection was being replaced); that threw out
 * of the transfer engine and ended the host.
 */
export function wrapNativeChannel(
  dc: DataChannel,
  onBroken: (err: unknown) => void,
): { channel: PeerDataChannel; shut(): void } {
  dc.setBufferedAmountLowThreshold(CHANNEL_LOW_WATER_BYTES)
  let closed = false
  const waiting = new Set<() => void>()
  const closeListeners: (() => void)[] = []
  let broken = false
  const release = () => {
    for (const resolve of waiting) resolve()
    waiting.clear()
  }
  dc.onBufferedAmountLow(release)
  const shut = () => {
    if (closed) return
    closed = true
    release()
    for (const listener of closeListeners) listener()
  }
  dc.onClosed(shut)
  const channel: PeerDataChannel = {
    label: dc.getLabel(),
    // libdatachannel copies a message into its own queue before send returns.
    copiesOnSend: true,
    send: (frame) => {
      if (closed || broken || !dc.isOpen()) return
      try {
        dc.sendMessageBinary(frame)
      } catch (err) {
        // The frame is lost with everything else queued on this link; the link goes (after this
        // call returns, not inside the sender's loop) and transfers resume on the next one.
        broken = true
        queueMicrotask(() => onBroken(err))
      }
    },
    bufferedAmount: () => (closed ? 0 : dc.bufferedAmount()),
    drained: () =>
      new Promise<void>((resolve) => {
        if (closed || dc.bufferedAmount() <= CHANNEL_LOW_WATER_BYTES) resolve()
        else waiting.add(resolve)
      }),
    onMessage: (listener) => {
      dc.onMessage((msg) => {
        if (typeof msg === 'string') return
        listener(msg instanceof ArrayBuffer ? new Uint8Array(msg) : msg)
      })
    },
    onClose: (listener) => {
      closeListeners.push(listener)
    },
  }
  return { channel, shut }
}

/** An SDP without its candidate lines (trickled separately, see NativeDataLink). */
export function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
    .join('\r\n')
}

/** How long a closed link may take to report its connection closed before it counts as gone anyway. */
const SETTLE_MS = 2000

export class NativeDataLink {
  readonly #pc: PeerConnection
  readonly #dc: DataChannel
  #closed = false
  /** Resolves once libdatachannel has reported the connection closed (or SETTLE_MS after close()). */
  readonly settled: Promise<void>
  #settle: () => void = () => {}
  /** Closes the open channel's wrapper (its listeners hear of it now). */
  #shut: (() => void) | undefined
  /*
   * Our candidates reach the viewer only after its answer is applied here.
   * libdatachannel hands ICE the viewer's credentials a moment before it
   * stores the answer's certificate fingerprint; a viewer that already knew
   * our addresses could connect and finish the DTLS handshake in that
   * moment (loopback, loaded machine), and its certificate was then refused
   * ("certificate verify failed", seen in about 1 of 10 runs of the browser
   * tests). Without our addresses its checks cannot start before ours do,
   * and ours start only once the answer is in place. The viewer's own
   * candidates wait for the answer too: libdatachannel cannot use them
   * before.
   */
  readonly #localCandidates: DataLinkMessage[] = []
  #answered = false
  readonly #send: (message: DataLinkMessage) => void
  readonly #remoteCandidates: { candidate: string; mid: string }[] = []

  constructor(native: NodeDataChannelModule, options: NativeDataLinkOptions) {
    this.#pc = new native.PeerConnection(`smoldesk-files-${options.viewerId}`, {
      iceServers: iceServerUrls(options.iceServers),
      // Frames are ≤ 64 KiB; libdatachannel's default limit is 256 KiB.
      maxMessageSize: 256 * 1024,
      ...(options.mtu !== undefined && { mtu: options.mtu }),
    })
    this.#send = options.send
    this.settled = new Promise<void>((resolve) => {
      this.#settle = resolve
    })
    this.#pc.onLocalDescription((sdp, type) => {
      if (type !== 'offer' || this.#closed) return
      // Candidates gathered by now may be in the SDP: they go later, with the others.
      options.send({ type: 'offer', sdp: withoutCandidates(sdp) })
    })
    this.#pc.onLocalCandidate((candidate, mid) => {
      const message: DataLinkMessage = { type: 'candidate', candidate, mid }
      if (this.#answered) options.send(message)
      else this.#localCandidates.push(message)
    })
    this.#pc.onStateChange((state) => {
      log.info({ viewer: options.viewerId, state }, 'data link state')
      if (state === 'closed') this.#settle()
      // A path that went away (an interface removed, a NAT binding lost) fails the link alone:
      // the main connection may well live on, and files with it (see onFailed).
      if ((state === 'failed' || state === 'closed') && !this.#closed) {
        this.close()
        options.onFailed()
      }
    })
    this.#dc = this.#pc.createDataChannel(FILES_CHANNEL)
    this.#dc.onOpen(() => {
      if (this.#closed) return
      const { channel, shut } = wrapNativeChannel(this.#dc, (err) => {
        log.warn({ viewer: options.viewerId, err: String(err) }, 'data link cannot send')
        if (this.#closed) return
        this.close()
        options.onFailed()
      })
      this.#shut = shut
      options.onChannel(channel)
    })
  }

  /** A negotiation message from the viewer (already parsed by DataLinkMessageSchema). */
  handle(message: DataLinkMessage): void {
    if (this.#closed) return
    try {
      if (message.type === 'answer' && !this.#answered) {
        this.#pc.setRemoteDescription(message.sdp, 'answer')
        this.#answered = true
        for (const m of this.#localCandidates.splice(0)) this.#send(m)
        for (const c of this.#remoteCandidates.splice(0)) this.#addCandidate(c.candidate, c.mid)
      } else if (message.type === 'candidate' && message.candidate !== '') {
        if (this.#answered) this.#addCandidate(message.candidate, message.mid)
        else if (this.#remoteCandidates.length < 64) this.#remoteCandidates.push(message)
      }
    } catch (err) {
      // A bad SDP from the viewer: the data link fails, the session goes on.
      log.warn({ err: String(err) }, 'data link message refused')
    }
  }

  #addCandidate(candidate: string, mid: string): void {
    try {
      this.#pc.addRemoteCandidate(candidate, mid)
    } catch (err) {
      // One unusable candidate; the others may still connect.
      log.warn({ err: String(err) }, 'data link candidate refused')
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#shut?.()
    // Channel first: an open native channel keeps its thread (and the process) alive.
    this.#dc.close()
    this.#pc.close()
    setTimeout(() => this.#settle(), SETTLE_MS).unref()
  }
}

/** The native stack, if it is wanted (HostOptions.dataStack) and its binary loads here. */
export async function loadNativeDataStack(
  wanted: 'native' | 'werift' = 'native',
): Promise<NodeDataChannelModule | undefined> {
  if (wanted === 'werift') return undefined
  try {
    const native = await import('node-datachannel')
    // libdatachannel's own warnings say why a link did not come up (ICE, DTLS, SCTP).
    native.initLogger('Warning', (level, message) =>
      level === 'Warning' ? log.info({ level }, message) : log.warn({ level }, message),
    )
    return native
  } catch (err) {
    log.warn({ err: String(err) }, 'node-datachannel does not load here; files go over werift')
    return undefined
  }
}
