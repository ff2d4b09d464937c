import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AV1_PAYLOAD_BYTES, Av1RtpPacketizer } from '../src/capture/av1-rtp.ts'

/** One OBU with its size field, as ffmpeg's "obu" muxer writes it. */
function obu(type: number, payload: Buffer): Buffer {
  const size: number[] = []
  let v = payload.length
  do {
    size.push(v > 127 ? (v & 0x7f) | 0x80 : v)
    v >>= 7
  } while (v > 0)
  return Buffer.concat([Buffer.from([(type << 3) | 0x02, ...size]), payload])
}

describe('AV1 RTP packetizer', () => {
  it('turns a temporal unit into RTP packets: size fields dropped, big OBUs fragmented, marker on the last', () => {
    const packets: Buffer[] = []
    const p = new Av1RtpPacketizer((packet) => packets.push(packet))
    const frame = Buffer.alloc(3000, 7)
    const stream = Buffer.concat([obu(2, Buffer.alloc(0)), obu(1, Buffer.alloc(11, 1)), obu(6, frame)])
    // Arbitrary chunking, as a pipe delivers it.
    for (let i = 0; i < stream.length; i += 700) p.push(stream.subarray(i, i + 700))
    assert.equal(packets.length, 3)
    const aggregation = packets.map((pk) => pk[12] ?? 0)
    assert.equal(aggregation[0], 0x40 | 0x08, 'first: continues (Y) and starts a new sequence (N)')
    assert.equal(aggregation[1], 0x80 | 0x40, 'middle: continuation (Z) and continues (Y)')
    assert.equal(aggregation[2], 0x80, 'last: continuation only')
    assert.deepEqual(
      packets.map((pk) => (pk[1] ?? 0) >> 7),
      [0, 0, 1],
    )
    assert.ok(packets.every((pk) => pk.length - 12 <= AV1_PAYLOAD_BYTES))
    assert.equal(new Set(packets.map((pk) => pk.readUInt32BE(4))).size, 1, 'one timestamp per temporal unit')
    // The sequence header element: length 12 (header + 11), OBU header without the size flag.
    assert.equal(packets[0]?.[13], 12)
    assert.equal(packets[0]?.[14], 1 << 3)
    const sequenceNumbers = packets.map((pk) => pk.readUInt16BE(2))
    assert.deepEqual(
      sequenceNumbers,
      [0, 1, 2].map((i) => ((sequenceNumbers[0] ?? 0) + i) & 0xffff),
    )
  })
})
