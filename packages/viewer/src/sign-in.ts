import type { VerifiedIdentity } from '@smoldesk/protocol'

/*
 * Single sign-on from the page's side: the signaling server (same origin)
 * runs the login with the organisation's identity provider and keeps the
 * session in a cookie; the page only sends the person there and back.
 */

/** Where "Sign in" goes: the server's login, coming back to this very page (room, link and all). */
export function signInUrl(): string {
  return `/auth/login?return=${encodeURIComponent(location.pathname + location.search + location.hash)}`
}

/** Ends the session (the cookie), then loads the page again as nobody. */
export async function signOut(): Promise<void> {
  await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => undefined)
  location.reload()
}

/** A person in a few words: their address, their name, or the provider's id for them. */
export function who(identity: VerifiedIdentity): string {
  return identity.email ?? identity.name ?? identity.sub
}
