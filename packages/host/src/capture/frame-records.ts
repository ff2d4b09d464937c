/*
 * The frame-record stream SmolDesk's capture helpers write on stdout
 * (native/helper-records.h): u32 length, u64 capture time (µs), u8 flags
 * (bit 0: keyframe), then one encoded frame (an H.264 access unit, or a VP8
 * frame from smoldesk-grab-vp8).
 */

const RECORD_HEADER_BYTES = 13

/** Splits a helper's stdout into frames. */
export class FrameRecordReader {
  readonly #onFrame: (frame: Buffer, captureUs: number, keyframe: boolean) => void
  #pending: Buffer = Buffer.alloc(0)

  constructor(onFrame: (frame: Buffer, captureUs: number, keyframe: boolean) => void) {
    this.#onFrame = onFrame
  }

  push(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    let at = 0
    while (this.#pending.length - at >= RECORD_HEADER_BYTES) {
      const length = this.#pending.readUInt32BE(at)
      if (this.#pending.length - at < RECORD_HEADER_BYTES + length) break
      const captureUs = Number(this.#pending.readBigUInt64BE(at + 4))
      const keyframe = ((this.#pending[at + 12] ?? 0) & 1) === 1
      this.#onFrame(
        this.#pending.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length),
        captureUs,
        keyframe,
      )
      at += RECORD_HEADER_BYTES + length
    }
    this.#pending = this.#pending.subarray(at)
  }
}
