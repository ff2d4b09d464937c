import { SmolDeskError, type VerifiedIdentity, type ViewerRole } from '@smoldesk/protocol'
import type { IdentityPolicy } from './identity-policy.ts'
import type { ViewerTokens } from './viewer-tokens.ts'

/** A join request the host has not answered in this long is denied. */
export const JOIN_REQUEST_TIMEOUT_MS = 120_000

export interface JoinRequest {
  peerId: string
  role: ViewerRole
  /** Why the token did not admit the viewer by itself (none given, expired, forged), or SIGNED_IN. */
  reason: string
  receivedAt: number
  /** Whom it signed in as (single sign-on), if it did. */
  identity?: VerifiedIdentity
}

/** The smaller of two roles: view-only wins. */
export function lesserRole(a: ViewerRole, b: ViewerRole | undefined): ViewerRole {
  return a === 'view-only' || b === 'view-only' ? 'view-only' : 'viewer'
}

/**
 * Who the host lets in, and as what. A viewer is admitted by a valid token
 * (its role is the token's, or less if the viewer asked for less) or by the
 * host approving its join request; everyone else is turned away with the
 * token's error code. This is the host's own check: the signaling server
 * may be someone else's, so its word alone opens nothing — except, with
 * single sign-on, whom a viewer signed in as, and only from the signaling
 * server inside this host's own process (`smoldesk start`), the relying
 * party that checked the provider's ID token. With an allow-list
 * (`policy`), an allowed person is admitted as a viewer without a token (an
 * approval room still asks the host); anyone else needs a token, and only
 * if the policy lets a link stand alone.
 */
export class ViewerAdmission {
  readonly #tokens: ViewerTokens
  #policy: IdentityPolicy | undefined
  readonly #approved = new Map<string, ViewerRole>()
  readonly #requests = new Map<string, JoinRequest>()

  constructor(tokens: ViewerTokens, policy?: IdentityPolicy) {
    this.#tokens = tokens
    this.#policy = policy
  }

  /** Who may join once signed in (undefined: identities admit nobody by themselves). */
  get policy(): IdentityPolicy | undefined {
    return this.#policy
  }

  /** A new allow-list: it decides for viewers joining from now on (those in the room stay). */
  setPolicy(policy: IdentityPolicy | undefined): void {
    this.#policy = policy
  }

  /** A viewer asks to join an approval room: a valid token answers at once, else the host is asked. */
  async request(
    peerId: string,
    roomId: string,
    asked: ViewerRole,
    token: string | undefined,
    identity?: VerifiedIdentity,
  ): Promise<{ role: ViewerRole } | JoinRequest> {
    // Not allowed, and no link may stand in: refused at once (the host is not asked).
    if (this.#policy?.check(identity)) {
      const request = {
        peerId,
        role: asked,
        reason: 'SIGNED_IN',
        receivedAt: Date.now(),
        ...(identity && { identity }),
      }
      this.#requests.set(peerId, request)
      return request
    }
    try {
      const role = lesserRole(await this.#tokens.verify(token, roomId), asked)
      this.#approved.set(peerId, role)
      return { role }
    } catch (err) {
      const request = { peerId, role: asked, reason: SmolDeskError.from(err).code, receivedAt: Date.now() }
      this.#requests.set(peerId, request)
      return request
    }
  }

  approve(peerId: string, granted: ViewerRole | undefined): ViewerRole {
    const request = this.#requests.get(peerId)
    if (!request) throw new SmolDeskError('PEER_NOT_FOUND', `no join request from ${peerId}`)
    this.#requests.delete(peerId)
    const role = lesserRole(request.role, granted)
    this.#approved.set(peerId, role)
    return role
  }

  deny(peerId: string): void {
    if (!this.#requests.delete(peerId))
      throw new SmolDeskError('PEER_NOT_FOUND', `no join request from ${peerId}`)
  }

  get pending(): JoinRequest[] {
    return [...this.#requests.values()]
  }

  /** The role of a viewer that has joined; throws the token's coded error if it may not. */
  async admit(
    peerId: string,
    roomId: string,
    asked: ViewerRole,
    token: string | undefined,
    identity?: VerifiedIdentity,
  ): Promise<ViewerRole> {
    const approved = this.#approved.get(peerId)
    if (approved) return lesserRole(approved, asked)
    if (this.#policy?.check(identity)) return lesserRole('viewer', asked)
    return lesserRole(await this.#tokens.verify(token, roomId), asked)
  }

  forget(peerId: string): void {
    this.#approved.delete(peerId)
    this.#requests.delete(peerId)
  }
}
