import { randomBytes } from 'node:crypto'
import { SmolDeskError, type ViewerRole, ViewerRoleSchema } from '@smoldesk/protocol'
import { decodeJwt, errors, jwtVerify, SignJWT } from 'jose'
import type { SecurityContext } from './security-context.ts'

const ISSUER = 'smoldesk-host'
/** Longest lifetime a token may be given: a leaked link stops working within a day at most. */
export const MAX_TOKEN_TTL_S = 24 * 3600
export const DEFAULT_TOKEN_TTL_S = 3600

export interface IssuedToken {
  token: string
  role: ViewerRole
  /** Unix seconds. */
  expiresAt: number
}

/**
 * Viewer tokens: short-lived JWTs (HS256, via `jose`) that say which room a
 * viewer may join and with which role. The host signs them with a key
 * derived from its security key and checks them before it opens media or
 * input to a viewer; the signaling server only carries them.
 */
export class ViewerTokens {
  readonly #security: SecurityContext
  /** Ids (jti) of tokens taken back before they expire, with their expiry (unix s). */
  readonly #revoked = new Map<string, number>()

  constructor(security: SecurityContext) {
    this.#security = security
  }

  async issue(roomId: string, role: ViewerRole, ttlSeconds = DEFAULT_TOKEN_TTL_S): Promise<IssuedToken> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TOKEN_TTL_S) {
      throw new SmolDeskError('INVALID_ARGS', `token lifetime must be 1–${MAX_TOKEN_TTL_S} s`)
    }
    const now = Math.floor(Date.now() / 1000)
    const token = await new SignJWT({ role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(audience(roomId))
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(this.#key())
    return { token, role, expiresAt: now + ttlSeconds }
  }

  /** The role a valid token grants for this room; TOKEN_EXPIRED or TOKEN_INVALID otherwise. */
  async verify(token: string | undefined, roomId: string): Promise<ViewerRole> {
    if (!token) throw new SmolDeskError('TOKEN_REQUIRED', 'this host admits viewers with a token only')
    try {
      const { payload } = await jwtVerify(token, this.#key(), {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: audience(roomId),
        requiredClaims: ['exp', 'iat'],
      })
      if (typeof payload.jti === 'string' && this.#revoked.has(payload.jti))
        throw new SmolDeskError('TOKEN_INVALID', 'the host took this viewer token back')
      const role = ViewerRoleSchema.safeParse(payload.role)
      if (!role.success) throw new SmolDeskError('TOKEN_INVALID', 'the token grants no known role')
      return role.data
    } catch (err) {
      if (err instanceof SmolDeskError) throw err
      if (err instanceof errors.JWTExpired)
        throw new SmolDeskError('TOKEN_EXPIRED', 'the viewer token has expired')
      throw new SmolDeskError('TOKEN_INVALID', 'the viewer token is not valid for this host and room')
    }
  }

  /** Takes a token back (a kicked viewer's rejoin token): it is refused until it would have expired. */
  revoke(token: string): void {
    const now = Math.floor(Date.now() / 1000)
    for (const [jti, exp] of this.#revoked) if (exp < now) this.#revoked.delete(jti)
    try {
      const { jti, exp } = decodeJwt(token)
      if (typeof jti === 'string')
        this.#revoked.set(jti, typeof exp === 'number' ? exp : now + MAX_TOKEN_TTL_S)
    } catch {}
  }

  #key(): Uint8Array {
    return new Uint8Array(this.#security.deriveKey('viewer-token'))
  }
}

const audience = (roomId: string) => `room:${roomId}`
