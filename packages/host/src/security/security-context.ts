import { hkdfSync, randomBytes } from 'node:crypto'
import { SmolDeskError } from '@smoldesk/protocol'

export const MIN_SECRET_KEY_BYTES = 32

/**
 * Holds the secret that keys SmolDesk's token layer (HMAC/JWT of connection
 * tokens). Until `initialize_security` supplies one, a random per-launch key
 * is used, so tokens are always checked: a host is never open by accident.
 * A short key is refused, never padded: padding would make a weak key look
 * strong. A new key invalidates every token signed with the old one.
 */
export class SecurityContext {
  #key: Buffer = randomBytes(MIN_SECRET_KEY_BYTES)
  #initialized = false

  /** Whether a secret key was given (else the random per-launch one is in use). */
  get initialized(): boolean {
    return this.#initialized
  }

  initialize(secretKey: string): void {
    const key = Buffer.from(secretKey, 'utf8')
    if (key.length < MIN_SECRET_KEY_BYTES) {
      throw new SmolDeskError(
        'SECURITY_KEY_TOO_SHORT',
        `secret key has ${key.length} bytes; at least ${MIN_SECRET_KEY_BYTES} are required`,
      )
    }
    this.#key = key
    this.#initialized = true
  }

  /** A key for one purpose ("viewer-token", …), so one secret never signs two kinds of thing. */
  deriveKey(purpose: string, bytes = 32): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `smoldesk:${purpose}`, bytes))
  }
}
