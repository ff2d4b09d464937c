import {
  defaultPermissions,
  SmolDeskError,
  type VerifiedIdentity,
  type ViewerPermissions,
  type ViewerRole,
} from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import type { JoinRequest } from '../security/viewer-admission.ts'

const log = createLogger('viewers.roster')

interface Entry {
  role: ViewerRole
  permissions: ViewerPermissions
  /** The token the viewer joined with, if any (a rejoin token links it to its earlier self). */
  joinToken: string | undefined
  /** Whom it signed in as (single sign-on), if it did. */
  identity: VerifiedIdentity | undefined
}

/** A viewer as list_viewers shows it. */
export interface RosterViewer {
  peer_id: string
  role: ViewerRole
  state: 'pending' | 'connecting' | 'connected'
  permissions: ViewerPermissions
  identity?: VerifiedIdentity
}

/**
 * Who is in the room, as what, and what each may do: the one answer every
 * capability asks (the session channel for roles and join tokens, files and
 * clipboard for permissions). A viewer is on it from its admission to its
 * leaving; its media connections come and go underneath.
 */
export class ViewerRoster {
  readonly #viewers = new Map<string, Entry>()
  readonly #onDemoted: (viewerId: string) => void

  /** `onDemoted`: a viewer became view-only; whatever it holds (keys, buttons) is to be released. */
  constructor(onDemoted: (viewerId: string) => void) {
    this.#onDemoted = onDemoted
  }

  /** A viewer joined (the host's own check passed) with this role. */
  admit(
    viewerId: string,
    role: ViewerRole,
    joinToken: string | undefined,
    identity?: VerifiedIdentity,
  ): void {
    const known = this.#viewers.get(viewerId)
    this.#viewers.set(viewerId, {
      role,
      // Admitted again with the same role (a new offer), it keeps what the host allowed it.
      permissions: known && known.role === role ? known.permissions : defaultPermissions(role),
      joinToken: joinToken ?? known?.joinToken,
      identity: identity ?? known?.identity,
    })
  }

  /** Whom a viewer signed in as, if it did. */
  identity(viewerId: string): VerifiedIdentity | undefined {
    return this.#viewers.get(viewerId)?.identity
  }

  /** A viewer's role, if it is in the room. */
  role(viewerId: string): ViewerRole | undefined {
    return this.#viewers.get(viewerId)?.role
  }

  /** What a viewer may do now; nothing for a viewer we do not know. */
  permissions(viewerId: string): ViewerPermissions {
    const viewer = this.#viewers.get(viewerId)
    return viewer ? { ...viewer.permissions } : defaultPermissions('view-only')
  }

  joinToken(viewerId: string): string | undefined {
    return this.#viewers.get(viewerId)?.joinToken
  }

  setPermissions(
    viewerId: string,
    change: { [K in keyof ViewerPermissions]?: boolean | undefined },
  ): ViewerPermissions {
    const viewer = this.#require(viewerId)
    for (const key of Object.keys(viewer.permissions) as (keyof ViewerPermissions)[]) {
      const value = change[key]
      if (value !== undefined) viewer.permissions[key] = value
    }
    log.info({ viewerId, permissions: viewer.permissions }, 'viewer permissions changed')
    return { ...viewer.permissions }
  }

  /** Changes what a viewer may do; demoting to view-only releases anything it holds. */
  setRole(viewerId: string, role: ViewerRole): void {
    const viewer = this.#require(viewerId)
    viewer.role = role
    // A new role brings that role's permissions; set_viewer_permissions refines them afterwards.
    viewer.permissions = defaultPermissions(role)
    if (role === 'view-only') this.#onDemoted(viewerId)
  }

  remove(viewerId: string): void {
    this.#viewers.delete(viewerId)
  }

  /** Everyone: those still waiting for the host's approval, then those in the room (`connected`: its media is up). */
  list(pending: readonly JoinRequest[], connected: (viewerId: string) => boolean): RosterViewer[] {
    return [
      ...pending.map((r) => ({
        peer_id: r.peerId,
        role: r.role,
        state: 'pending' as const,
        permissions: defaultPermissions(r.role),
        ...(r.identity && { identity: r.identity }),
      })),
      ...[...this.#viewers].map(([peerId, v]) => ({
        peer_id: peerId,
        role: v.role,
        state: connected(peerId) ? ('connected' as const) : ('connecting' as const),
        permissions: { ...v.permissions },
        ...(v.identity && { identity: v.identity }),
      })),
    ]
  }

  #require(viewerId: string): Entry {
    const viewer = this.#viewers.get(viewerId)
    if (!viewer) throw new SmolDeskError('PEER_NOT_FOUND', `no viewer ${viewerId}`)
    return viewer
  }
}
