import { SmolDeskError, type ViewerRole } from '@smoldesk/protocol'
import type { ViewerTokens } from './viewer-tokens.ts'

/** A join request the host has not answered in this long is denied. */
export const JOIN_REQUEST_TIMEOUT_MS = 120_000

export interface JoinRequest {
  peerId: string
  role: ViewerRole
  /** Why the token did not admit the viewer by itself (none given, expired, forged). */
  reason: string
  receivedAt: number
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
 * may be someone else's, so its word alone opens nothing.
 */
export class ViewerAdmission {
  readonly #tokens: ViewerTokens
  readonly #approved = new Map<string, ViewerRole>()
  readonly #requests = new Map<string, JoinRequest>()

  constructor(tokens: ViewerTokens) {
    this.#tokens = tokens
  }

  /** A viewer asks to join an approval room: a valid token answers at once, else the host is asked. */
  async request(
    peerId: string,
    roomId: string,
    asked: ViewerRole,
    token: string | undefined,
  ): Promise<{ role: ViewerRole } | JoinRequest> {
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
  ): Promise<ViewerRole> {
    const approved = this.#approved.get(peerId)
    if (approved) return lesserRole(approved, asked)
    return lesserRole(await this.#tokens.verify(token, roomId), asked)
  }

  forget(peerId: string): void {
    this.#approved.delete(peerId)
    this.#requests.delete(peerId)
  }
}
