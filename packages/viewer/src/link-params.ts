import type { ViewerRole } from '@smoldesk/protocol'

/** What the viewer's link says. */
export interface LinkParams {
  roomId: string
  /** The viewer token (a JWT) from the fragment. */
  token: string | undefined
  role: ViewerRole | undefined
  /** Force the relay (TURN). */
  relay: boolean
  /** Allow a password over plain HTTP to another machine. */
  insecure: boolean
}

/** The `role` claim of a JWT's payload, unverified. */
function tokenRole(token: string | undefined): unknown {
  try {
    const payload = token?.split('.')[1]
    if (!payload) return undefined
    return (JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { role?: unknown }).role
  } catch {
    return undefined
  }
}

/**
 * What the link says: `?room=CODE` (and optionally `role=view-only`,
 * `relay=1` to force TURN, `insecure=1` to allow a password over plain
 * HTTP), and `#token=JWT` in the fragment, which browsers never send to a
 * server.
 */
export function linkParams(): LinkParams {
  const query = new URLSearchParams(location.search)
  const fragment = new URLSearchParams(location.hash.slice(1))
  const token = fragment.get('token') ?? undefined
  // A view-only token admits a watcher only: ask for that role, so the page does not capture input
  // the host would refuse. (The host verifies the token; reading its claim here decides nothing.)
  const viewOnly = query.get('role') === 'view-only' || tokenRole(token) === 'view-only'
  return {
    roomId: query.get('room') ?? '',
    token,
    role: viewOnly ? 'view-only' : undefined,
    relay: query.get('relay') === '1',
    insecure: query.get('insecure') === '1',
  }
}
