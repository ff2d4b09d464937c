import { createHmac } from 'node:crypto'
import type { IceServer } from '@smoldesk/protocol'

export interface TurnOptions {
  /** `turn:host:port?transport=udp`, … as peers should dial them. */
  urls: string[]
  /** coturn's `static-auth-secret` (its `use-auth-secret` REST scheme). */
  secret: string
  /** Lifetime of the credentials handed out; coturn refuses them afterwards. */
  ttlSeconds?: number
}

/**
 * Time-limited TURN credentials in coturn's REST scheme: the user name is
 * `<expiry unix time>:<label>`, the password HMAC-SHA1(secret, user name) in
 * base64. The relay checks both without asking the signaling server.
 */
export function turnCredentials(options: TurnOptions, label: string, now = Date.now()): IceServer {
  const expiry = Math.floor(now / 1000) + (options.ttlSeconds ?? 3600)
  const username = `${expiry}:${label}`
  const credential = createHmac('sha1', options.secret).update(username).digest('base64')
  return { urls: options.urls, username, credential }
}
