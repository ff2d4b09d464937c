import { RTP_PACKET_BYTES } from './encoder-args.ts'
import { RTP_HEADER_BYTES, RtpStream, rtpTimestamp90k } from './rtp-stream.ts'

/*
 * VP8 → RTP (RFC 7741) for frames smoldesk-grab-vp8 encodes, as ffmpeg's
 * packetizer writes them: each packet starts with a 4-byte payload
 * descriptor (X, with S on a frame's first packet and partition index 0;
 * then I; then a 15-bit picture ID that counts frames, so a receiver tells
 * a lost frame from a late one without waiting for sequence numbers); the
 * frame is cut into equal-sized pieces anywhere (the descriptor's S bit and
 * the marker bit say where it starts and ends). Timestamps are the capture
 * time on the 90 kHz clock.
 */

const DESCRIPTOR_BYTES = 4
const PIECE_BYTES = RTP_PACKET_BYTES - RTP_HEADER_BYTES - DESCRIPTOR_BYTES

export class Vp8RtpPacketizer {
  readonly #stream: RtpStream
  #pictureId = Math.floor(Math.random() * 0x8000)

  constructor(onPacket: (packet: Buffer) => void) {
    this.#stream = new RtpStream(onPacket)
  }

  /** One VP8 frame captured at `captureUs` microseconds. */
  push(frame: Buffer, captureUs: number): void {
    if (frame.length === 0) return
    const timestamp = rtpTimestamp90k(captureUs)
    const id = this.#pictureId
    this.#pictureId = (id + 1) & 0x7fff
    // Equal pieces rather than full ones and a runt: no packet is much smaller than the others.
    const count = Math.ceil(frame.length / PIECE_BYTES)
    const piece = Math.ceil(frame.length / count)
    for (let at = 0; at < frame.length; at += piece) {
      const end = Math.min(frame.length, at + piece)
      const descriptor = Buffer.from([0x80 | (at === 0 ? 0x10 : 0), 0x80, 0x80 | (id >> 8), id & 0xff])
      this.#stream.send(timestamp, end === frame.length, [descriptor, frame.subarray(at, end)])
    }
  }
}
