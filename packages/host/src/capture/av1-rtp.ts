import { RtpStream } from './rtp-stream.ts'

/*
 * AV1 → RTP (the AV1 RTP payload format, aomediacodec.github.io/av1-rtp-spec),
 * because ffmpeg 5.1's RTP muxer has no AV1 packetizer. Input is ffmpeg's
 * raw OBU stream ("-f obu"), in arbitrary chunks; output is one RTP packet
 * per call, the last of each temporal unit with the marker bit.
 */

const OBU_SEQUENCE_HEADER = 1
const OBU_TEMPORAL_DELIMITER = 2
const OBU_FRAME = 6
const OBU_TILE_LIST = 8
const OBU_PADDING = 15
/** Payload bytes per packet, aggregation header included (leaves room for SRTP and extensions). */
export const AV1_PAYLOAD_BYTES = 1150

function readLeb128(buf: Buffer, at: number): { value: number; bytes: number } | undefined {
  let value = 0
  for (let i = 0; i < 8; i++) {
    const byte = buf[at + i]
    if (byte === undefined) return undefined
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) return { value, bytes: i + 1 }
  }
  return undefined
}

function leb128(value: number): number[] {
  const out: number[] = []
  let v = value
  do {
    const byte = v % 128
    v = Math.floor(v / 128)
    out.push(v > 0 ? byte | 0x80 : byte)
  } while (v > 0)
  return out
}

export class Av1RtpPacketizer {
  readonly #stream: RtpStream
  #pending: Buffer = Buffer.alloc(0)
  /** OBUs of the temporal unit being collected, without their size fields. */
  #unit: Buffer[] = []

  constructor(onPacket: (packet: Buffer) => void) {
    this.#stream = new RtpStream(onPacket)
  }

  push(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    let at = 0
    for (;;) {
      const header = this.#pending[at]
      if (header === undefined) break
      const type = (header >> 3) & 0x0f
      const headerBytes = header & 0x04 ? 2 : 1
      if ((header & 0x02) === 0) throw new Error('AV1 OBU without a size field: cannot split the stream')
      const size = readLeb128(this.#pending, at + headerBytes)
      if (!size || at + headerBytes + size.bytes + size.value > this.#pending.length) break
      const start = at + headerBytes + size.bytes
      const payload = this.#pending.subarray(start, start + size.value)
      at = start + size.value
      if (type === OBU_TEMPORAL_DELIMITER) {
        this.#flush() // the previous unit ends here, if a frame OBU did not end it already
        continue
      }
      if (type === OBU_TILE_LIST || type === OBU_PADDING) continue
      // Inside RTP the size field is left out: the element length says it.
      const obu = Buffer.alloc(headerBytes + payload.length)
      obu[0] = header & ~0x02
      if (headerBytes === 2) obu[1] = this.#pending[at - size.value - size.bytes - 1] ?? 0
      payload.copy(obu, headerBytes)
      this.#unit.push(obu)
      // A frame OBU completes the unit in SVT-AV1's low-delay output: send it now, not a frame later.
      if (type === OBU_FRAME) this.#flush()
    }
    this.#pending = Buffer.from(this.#pending.subarray(at))
  }

  #flush(): void {
    const unit = this.#unit
    this.#unit = []
    if (unit.length === 0) return
    const newSequence = unit.some((obu) => (((obu[0] ?? 0) >> 3) & 0x0f) === OBU_SEQUENCE_HEADER)
    const timestamp = Math.round(performance.now() * 90) >>> 0 // 90 kHz clock
    const packets: { elements: Buffer[]; z: boolean; y: boolean; size: number }[] = []
    let current = { elements: [] as Buffer[], z: false, y: false, size: 1 }
    for (const obu of unit) {
      let offset = 0
      while (offset < obu.length) {
        const space = AV1_PAYLOAD_BYTES - current.size
        if (space < 4) {
          packets.push(current)
          current = { elements: [], z: false, y: false, size: 1 }
          continue
        }
        const length = Math.min(obu.length - offset, space - leb128(space).length)
        const element = Buffer.concat([Buffer.from(leb128(length)), obu.subarray(offset, offset + length)])
        current.elements.push(element)
        current.size += element.length
        offset += length
        if (offset < obu.length) {
          current.y = true
          packets.push(current)
          current = { elements: [], z: true, y: false, size: 1 }
        }
      }
    }
    if (current.elements.length > 0) packets.push(current)
    packets.forEach((p, i) => {
      // Aggregation header: Z, Y, W = 0 (every element has a length), N on a new coded video sequence.
      const aggregation = (p.z ? 0x80 : 0) | (p.y ? 0x40 : 0) | (newSequence && i === 0 ? 0x08 : 0)
      this.#stream.send(timestamp, i === packets.length - 1, [Buffer.from([aggregation]), ...p.elements])
    })
  }
}
