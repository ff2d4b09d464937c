/*
 * Opus over RTP (RFC 7587): one frame per packet, a 48 kHz timestamp. The
 * timestamp follows the capture clock the video is stamped with
 * (CLOCK_MONOTONIC, via the helper), advancing by the frame's samples while
 * the two agree: a receiver's jitter buffer wants steady steps, and lip
 * sync wants the audio's timestamps to mean the same moments as the
 * video's. When they drift apart by more than two frames (the sound server
 * dropped samples, the helper restarted) the timestamp jumps back onto the
 * clock.
 */

export const OPUS_CLOCK_RATE = 48_000
const RESYNC_SAMPLES = 960

export class OpusRtpPacketizer {
  readonly #send: (packet: Buffer) => void
  readonly #frameSamples: number
  #sequence = Math.floor(Math.random() * 0x10000)
  readonly #ssrc = (Math.random() * 0x1_0000_0000) >>> 0
  #timestamp: number | undefined

  constructor(frameSamples: number, send: (packet: Buffer) => void) {
    this.#frameSamples = frameSamples
    this.#send = send
  }

  /** One Opus frame whose first sample was captured at `captureUs` (µs, the helpers' clock). */
  push(frame: Buffer, captureUs: number): void {
    const onClock = Math.round((captureUs * OPUS_CLOCK_RATE) / 1_000_000)
    const next = this.#timestamp === undefined ? onClock : this.#timestamp + this.#frameSamples
    this.#timestamp = Math.abs(next - onClock) > RESYNC_SAMPLES ? onClock : next
    const header = Buffer.alloc(12)
    header[0] = 0x80
    header[1] = 111 // werift puts the negotiated payload type in
    header.writeUInt16BE(this.#sequence, 2)
    header.writeUInt32BE(this.#timestamp >>> 0, 4)
    header.writeUInt32BE(this.#ssrc, 8)
    this.#sequence = (this.#sequence + 1) & 0xffff
    this.#send(Buffer.concat([header, frame]))
  }
}
