import type { VerifiedIdentity } from '@smoldesk/protocol'
import { signOut, who } from './sign-in.ts'

/** "Signed in as …", and the way out: shown wherever the page says who is watching. */
export function IdentityNote({ identity }: { identity: VerifiedIdentity | undefined }) {
  if (!identity) return null
  return (
    <span className="identity">
      Signed in as <strong>{who(identity)}</strong>{' '}
      <button type="button" onClick={() => void signOut()}>
        Sign out
      </button>
    </span>
  )
}
