import { useState } from 'react'
import { adviceFor } from './advice.ts'
import type { ConnectionStatus } from './session/viewer-session.ts'

/** What the page says while not connected: the advice for the status, and the password form when asked. */
export function StatusPanel({
  status,
  userClosed,
  onPassword,
}: {
  status: ConnectionStatus
  userClosed: boolean
  onPassword: (password: string) => void
}) {
  const [draft, setDraft] = useState('')
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
      {advice.askPassword && (
        <form
          onSubmit={(ev) => {
            ev.preventDefault()
            onPassword(draft)
          }}
        >
          <label htmlFor="room-password">Room password</label>
          <input
            id="room-password"
            type="password"
            autoComplete="current-password"
            value={draft}
            onChange={(ev) => setDraft(ev.target.value)}
          />
          <button type="submit">Join</button>
        </form>
      )}
    </section>
  )
}
