/** Buckets of this length make up the window. */
const BUCKET_MS = 100

/** Bytes per second over the last second, in 100 ms buckets (cheap enough for every RTP packet). */
export class RateMeter {
  readonly #buckets = new Float64Array(10)
  #bucketAt = 0

  add(bytes: number, now = performance.now()): void {
    this.#advance(now)
    const i = this.#bucketAt % this.#buckets.length
    this.#buckets[i] = (this.#buckets[i] ?? 0) + bytes
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
    for (let i = 1; i <= steps; i++) this.#buckets[(this.#bucketAt + i) % this.#buckets.length] = 0
    this.#bucketAt = bucket
  }
}
