import { hkdfSync } from 'node:crypto'
import { SmolDeskError } from '@smoldesk/protocol'

export const MIN_SECRET_KEY_BYTES = 32

/**
 * Holds the secret that keys SmolDesk's token layer (HMAC/JWT of connection
 * tokens). A short key is refused, never padded: padding would make a weak
 * key look strong.
 */
export class SecurityContext {
  #key: Buffer | undefined

  initialize(secretKey: string): void {
    const key = Buffer.from(secretKey, 'utf8')
    if (key.length < MIN_SECRET_KEY_BYTES) {
      throw new SmolDeskError(
        'SECURITY_KEY_TOO_SHORT',
        `secret key has ${key.length} bytes; at least ${MIN_SECRET_KEY_BYTES} are required`,
      )
    }
    this.#key = key
  }

  get initialized(): boolean {
    return this.#key !== undefined
  }

  /** A key for one purpose ("viewer-token", …), so one secret never signs two kinds of thing. */
  deriveKey(purpose: string, bytes = 32): Buffer {
    if (!this.#key) throw new SmolDeskError('UNAVAILABLE', 'initialize_security has not been called')
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `smoldesk:${purpose}`, bytes))
  }
}
