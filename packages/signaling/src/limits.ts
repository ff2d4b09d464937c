/**
 * A token bucket: `burst` messages at once, refilled at `perSecond`. Cheap
 * enough to sit in front of every message of every connection.
 */
export class TokenBucket {
  #tokens: number
  #last: number
  readonly #burst: number
  readonly #perMs: number

  /** `initial` tokens to begin with (default a full burst). */
  constructor(perSecond: number, burst: number, now = performance.now(), initial = burst) {
    this.#burst = burst
    this.#tokens = Math.min(burst, initial)
    this.#perMs = perSecond / 1000
    this.#last = now
  }

  take(now = performance.now()): boolean {
    this.#refill(now)
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  full(now = performance.now()): boolean {
    this.#refill(now)
    return this.#tokens >= this.#burst
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#perMs)
    this.#last = now
  }
}

/** Buckets by key (an IP address), forgotten once full again so the map does not grow without end. */
export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>()
  readonly #perSecond: number
  readonly #burst: number

  constructor(perSecond: number, burst: number) {
    this.#perSecond = perSecond
    this.#burst = burst
  }

  take(key: string): boolean {
    let bucket = this.#buckets.get(key)
    if (!bucket) {
      bucket = new TokenBucket(this.#perSecond, this.#burst)
      this.#buckets.set(key, bucket)
    }
    return bucket.take()
  }

  /** Drops buckets that are full again: a full bucket behaves exactly like a new one. */
  sweep(): void {
    const now = performance.now()
    for (const [key, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(key)
  }
}

/**
 * The key under which limits count a client address. An IPv6 host usually
 * holds a whole /64 (and picks a new address in it at will), so its limits
 * are the /64's; an IPv4-mapped address counts as the IPv4 one.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped?.[1]) return mapped[1]
  if (!ip.includes(':')) return ip
  const [head = '', tail = ''] = ip.split('::')
  const front = head === '' ? [] : head.split(':')
  const back = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::')
    ? [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
    : front
  const prefix = groups.slice(0, 4).map((g) => Number.parseInt(g || '0', 16).toString(16))
  return `${prefix.join(':')}::/64`
}

export interface BackoffPolicy {
  /** Failures allowed before any waiting. */
  free: number
  baseMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { free: 5, baseMs: 1000, maxMs: 5 * 60_000 }

/** How long a client with `count` failures, the last at `lastMs`, must still wait (0: may try). */
export function backoffRemainingMs(
  count: number,
  lastMs: number,
  policy: BackoffPolicy,
  now = Date.now(),
): number {
  if (count < policy.free) return 0
  const wait = Math.min(policy.maxMs, policy.baseMs * 2 ** (count - policy.free))
  return Math.max(0, lastMs + wait - now)
}
