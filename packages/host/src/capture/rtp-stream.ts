import { randomBytes } from 'node:crypto'

/** Bytes of an RTP header without CSRCs or extensions (werift adds the extensions it sends). */
export const RTP_HEADER_BYTES = 12
/** The payload type SmolDesk's packetizers write; the peer connection rewrites it to the negotiated one. */
const PAYLOAD_TYPE = 96

/**
 * One RTP stream as SmolDesk's own packetizers (H.264, VP8, AV1) write it:
 * a random SSRC and starting sequence number (RFC 3550), version 2, no
 * padding. A new packetizer is a new stream: the pipeline sees the SSRC
 * change and the peer connection keeps its own numbering continuous.
 */
export class RtpStream {
  readonly #onPacket: (packet: Buffer) => void
  readonly #ssrc = randomBytes(4).readUInt32BE(0)
  #sequence = randomBytes(2).readUInt16BE(0)

  constructor(onPacket: (packet: Buffer) => void) {
    this.#onPacket = onPacket
  }

  /** One packet of the frame at `timestamp` (90 kHz); `marker` on the frame's last. */
  send(timestamp: number, marker: boolean, parts: Buffer[]): void {
    const header = Buffer.alloc(RTP_HEADER_BYTES)
    header[0] = 0x80 // version 2
    header[1] = (marker ? 0x80 : 0) | PAYLOAD_TYPE
    header.writeUInt16BE(this.#sequence, 2)
    header.writeUInt32BE(timestamp, 4)
    header.writeUInt32BE(this.#ssrc, 8)
    this.#sequence = (this.#sequence + 1) & 0xffff
    this.#onPacket(Buffer.concat([header, ...parts]))
  }
}

/** A capture time in microseconds on the 90 kHz video clock, as RTP carries it (modulo 2^32). */
export function rtpTimestamp90k(captureUs: number): number {
  return Math.round(captureUs * 0.09) >>> 0
}
