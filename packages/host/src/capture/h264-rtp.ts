import { RTP_PACKET_BYTES } from './encoder-args.ts'
import { RTP_HEADER_BYTES, RtpStream, rtpTimestamp90k } from './rtp-stream.ts'

/*
 * H.264 → RTP (RFC 6184, packetization-mode 1) for frames that SmolDesk's own
 * capture helper encodes: each NAL unit of an Annex B access unit goes out
 * whole when it fits, else split into FU-A fragments; the last packet of a
 * frame carries the marker bit. Timestamps are the capture time on the
 * 90 kHz clock.
 */

const FU_A = 28
/** Room for the FU indicator and header within one packet. */
const FRAGMENT_BYTES = RTP_PACKET_BYTES - RTP_HEADER_BYTES - 2

/** The NAL units of an Annex B byte stream, start codes removed. */
export function splitAnnexB(data: Buffer): Buffer[] {
  const units: Buffer[] = []
  let start = -1
  let i = 0
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      // A 4-byte start code's leading zero belongs to it, not to the unit before.
      if (start >= 0) units.push(data.subarray(start, i > start && data[i - 1] === 0 ? i - 1 : i))
      i += 3
      start = i
    } else {
      i++
    }
  }
  if (start >= 0 && start < data.length) units.push(data.subarray(start))
  return units.filter((u) => u.length > 0)
}

export class H264RtpPacketizer {
  readonly #stream: RtpStream

  constructor(onPacket: (packet: Buffer) => void) {
    this.#stream = new RtpStream(onPacket)
  }

  /** One access unit (Annex B) captured at `captureUs` microseconds. */
  push(frame: Buffer, captureUs: number): void {
    const timestamp = rtpTimestamp90k(captureUs)
    const units = splitAnnexB(frame)
    for (const [n, unit] of units.entries()) {
      const lastUnit = n === units.length - 1
      if (unit.length <= RTP_PACKET_BYTES - RTP_HEADER_BYTES) {
        this.#stream.send(timestamp, lastUnit, [unit])
        continue
      }
      const header = unit[0] ?? 0
      const indicator = (header & 0xe0) | FU_A
      for (let at = 1; at < unit.length; at += FRAGMENT_BYTES) {
        const end = Math.min(unit.length, at + FRAGMENT_BYTES)
        const fu = (at === 1 ? 0x80 : 0) | (end === unit.length ? 0x40 : 0) | (header & 0x1f)
        this.#stream.send(timestamp, lastUnit && end === unit.length, [
          Buffer.from([indicator, fu]),
          unit.subarray(at, end),
        ])
      }
    }
  }
}
