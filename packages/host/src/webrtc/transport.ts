import type { IceCandidate, IceServer, VideoCodec } from '@smoldesk/protocol'
import type { MicrophonePacket } from '../audio/microphone.ts'
import type { PathFeedback } from '../congestion/path-estimate.ts'

/**
 * One viewer's WebRTC connection, as the rest of the host sees it. The
 * werift implementation sits behind this interface so another WebRTC stack
 * could replace it without touching capture or signaling.
 */
export interface ViewerPeer {
  readonly viewerId: string
  /** Host-side offer (the host always offers: it owns the media). */
  createOffer(): Promise<string>
  /** Applies the viewer's answer; says which offered codec it chose (none: it decodes none of them). */
  acceptAnswer(sdp: string): Promise<{ codec: VideoCodec | undefined; offered: VideoCodec[] }>
  addRemoteCandidate(candidate: IceCandidate | null): Promise<void>
  /** Sends one RTP packet of the shared encoder's output. */
  sendRtp(packet: Buffer): void
  /** The encoder restarted (monitor switch, crash): keep sequence numbers and timestamps continuous. */
  sourceChanged(): void
  /** Sends one RTP packet of the desktop's sound (Opus). */
  sendAudioRtp(packet: Buffer): void
  /** The sound helper restarted: the same continuity for the audio track. */
  audioSourceChanged(): void
  /**
   * The viewer's path ceiling (kbit/s; undefined: none): what its NACKs get
   * resent keeps within a share of it.
   */
  setPathCeiling(kbps: number | undefined): void
  /** A host → viewer message on the reliable input channel (cursor image); sent once the channel opens. */
  sendToViewer(frame: Uint8Array): void
  close(): Promise<void>
}

/** A reliable, ordered data channel for one capability (clipboard, files), with back-pressure. */
export interface PeerDataChannel {
  readonly label: string
  send(frame: Uint8Array): void
  /** Bytes queued and not yet sent. */
  bufferedAmount(): number
  /** Resolves when the queue is low again, or the channel closed. */
  drained(): Promise<void>
  /** send() copies the frame before it returns (the caller may reuse its buffer). */
  readonly copiesOnSend?: boolean
  onMessage(listener: (frame: Uint8Array) => void): void
  onClose(listener: () => void): void
}

export interface ViewerPeerEvents {
  onLocalCandidate(candidate: IceCandidate | null): void
  onConnectionState(state: 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed'): void
  /** The viewer asked for a keyframe (RTCP PLI/FIR). */
  onKeyframeRequest(): void
  /** What the viewer's RTCP says about the video's path (receiver reports, REMB). */
  onPathFeedback(feedback: PathFeedback): void
  /** A binary input frame from the viewer's input channels. */
  onInput(frame: Uint8Array, channel: 'motion' | 'reliable'): void
  /** One of the viewer's input channels closed. */
  onInputClosed(): void
  /** The clipboard or files channel opened. */
  onDataChannel(channel: PeerDataChannel): void
  /** One packet of the viewer's microphone (whether it may reach the desktop is decided by the caller). */
  onMicrophone(packet: MicrophonePacket): void
}

export interface PeerOptions {
  viewerId: string
  /** Video codecs to offer, best first; the viewer's answer picks one. */
  codecs: VideoCodec[]
  iceServers: IceServer[]
  events: ViewerPeerEvents
}

export interface MediaTransport {
  createPeer(options: PeerOptions): ViewerPeer
  /** Releases what the transport owns (a native stack's threads), once its peers are closed. Idempotent. */
  close(): Promise<void>
}
