/** Buckets of this length make up the window. */
const BUCKET_MS = 100

/** Bytes (and packets) per second over the last second, in 100 ms buckets (cheap enough for every RTP packet). */
export class RateMeter {
  readonly #buckets = new Float64Array(10)
  readonly #packets = new Float64Array(10)
  #bucketAt = 0

  add(bytes: number, now = performance.now()): void {
    this.#advance(now)
    const i = this.#bucketAt % this.#buckets.length
    this.#buckets[i] = (this.#buckets[i] ?? 0) + bytes
    this.#packets[i] = (this.#packets[i] ?? 0) + 1
  }

  /** The average packet over the last second, in bytes (undefined: none). */
  packetBytes(now = performance.now()): number | undefined {
    this.#advance(now)
    let bytes = 0
    let packets = 0
    for (let i = 0; i < this.#buckets.length; i++) {
      bytes += this.#buckets[i] ?? 0
      packets += this.#packets[i] ?? 0
    }
    return packets > 0 ? bytes / packets : undefined
  }

  /** kbit/s over the last second. */
  kbps(now = performance.now()): number {
    this.#advance(now)
    let sum = 0
    for (const b of this.#buckets) sum += b
    return (sum * 8) / 1000
  }

  #advance(now: number): void {
    const bucket = Math.floor(now / BUCKET_MS)
    if (bucket === this.#bucketAt) return
    const steps = Math.min(this.#buckets.length, bucket - this.#bucketAt)
    for (let i = 1; i <= steps; i++) {
      const at = (this.#bucketAt + i) % this.#buckets.length
      this.#buckets[at] = 0
      this.#packets[at] = 0
    }
    this.#bucketAt = bucket
  }
}
