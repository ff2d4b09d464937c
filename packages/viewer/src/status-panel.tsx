import type { VerifiedIdentity } from '@smoldesk/protocol'
import { useState } from 'react'
import { adviceFor } from './advice.ts'
import { SecretForm } from './secret-form.tsx'
import type { ConnectionStatus } from './session/viewer-session.ts'
import { signInUrl } from './sign-in.ts'

/** What the page says while not connected: the advice for the status, and the password form when asked. */
export function StatusPanel({
  status,
  userClosed,
  identity,
  onPassword,
}: {
  status: ConnectionStatus
  userClosed: boolean
  identity: VerifiedIdentity | undefined
  onPassword: (password: string) => void
}) {
  // Kept here, not in the form: the form comes and goes with the status, what was typed stays.
  const draft = useState('')
  const advice = adviceFor(status)
  if (userClosed) {
    return (
      <section className="status" role="status" aria-live="polite">
        <h2>You disconnected</h2>
        <button type="button" onClick={() => location.reload()}>
          Connect again
        </button>
      </section>
    )
  }
  return (
    <section className="status" role="status" aria-live="polite">
      <h2>{advice.headline}</h2>
      {advice.code && <p className="code">{advice.code}</p>}
      {advice.detail && <p>{advice.detail}</p>}
      {advice.action && <p className="action">{advice.action}</p>}
      {advice.signIn && (
        <p>
          <a className="button" href={signInUrl()}>
            {identity ? 'Sign in with another account' : 'Sign in'}
          </a>
        </p>
      )}

      {advice.askPassword && (
        <SecretForm
          id="room-password"
          label="Room password"
          autoComplete="current-password"
          submit="Join"
          draft={draft}
          onSubmit={onPassword}
        />
      )}
    </section>
  )
}
