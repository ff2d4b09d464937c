import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'

const SealedSchema = z.strictObject({ v: z.unknown(), exp: z.number().int() })

/**
 * Values kept in cookies, sealed with an HMAC so the browser can carry them
 * but not change them: the signed-in session, and the state of a login under
 * way (PKCE verifier, state, nonce). Not encrypted: nothing in them is
 * secret from the person whose browser holds them, and the PKCE verifier is
 * worth nothing without the code the provider hands to that same browser.
 * The key is per process unless given (several instances share one).
 */
export class Sealer {
  readonly #key: Buffer

  constructor(key: Buffer = randomBytes(32)) {
    if (key.length < 32) throw new Error('a session key needs at least 32 bytes')
    this.#key = key
  }

  seal(purpose: string, value: unknown, ttlMs: number, now = Date.now()): string {
    const body = Buffer.from(JSON.stringify({ v: value, exp: now + ttlMs })).toString('base64url')
    return `${body}.${this.#mac(purpose, body)}`
  }

  /** The value, if the seal is ours, for this purpose, and not expired; undefined otherwise. */
  open(purpose: string, sealed: string | undefined, now = Date.now()): unknown {
    if (!sealed || sealed.length > 8192) return undefined
    const dot = sealed.indexOf('.')
    if (dot < 0) return undefined
    const body = sealed.slice(0, dot)
    const mac = Buffer.from(sealed.slice(dot + 1), 'base64url')
    const expected = Buffer.from(this.#mac(purpose, body), 'base64url')
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString())
    } catch {
      return undefined
    }
    const result = SealedSchema.safeParse(parsed)
    if (!result.success || result.data.exp <= now) return undefined
    return result.data.v
  }

  #mac(purpose: string, body: string): string {
    return createHmac('sha256', this.#key).update(`${purpose}\n${body}`).digest('base64url')
  }
}

/** The cookies of a request, by name (the first of each name). */
export function readCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim()
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim())
  }
  return cookies
}

/** A Set-Cookie header value: HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET), Secure over TLS. */
export function cookie(name: string, value: string, options: { maxAgeS: number; secure: boolean }): string {
  return [
    `${name}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${options.maxAgeS}`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ')
}
