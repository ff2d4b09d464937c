import { useState } from 'react'
import { parseRoomInput } from './room-link.ts'

/**
 * The page without a room in its link: one field for the room code (or the
 * whole link the host shared), and the way in.
 */
export function Landing({ onJoin }: { onJoin: (room: string, fragment: string) => void }) {
  const [draft, setDraft] = useState('')
  const [error, setError] = useState('')
  return (
    <main className="landing">
      <h1>SmolDesk</h1>
      <p>Open the link the host shared, or type its room code.</p>
      <form
        onSubmit={(ev) => {
          ev.preventDefault()
          const parsed = parseRoomInput(draft)
          if (!parsed) {
            setError('That is neither a room code nor a SmolDesk link.')
            return
          }
          onJoin(parsed.room, parsed.fragment)
        }}
      >
        <label htmlFor="room-code">Room code or link</label>
        <input
          id="room-code"
          autoComplete="off"
          autoCapitalize="off"
          spellCheck={false}
          value={draft}
          onChange={(ev) => {
            setDraft(ev.target.value)
            setError('')
          }}
          aria-invalid={error !== ''}
          aria-describedby="room-error"
        />
        <button type="submit">Connect</button>
        <p id="room-error" role="alert" className="error">
          {error}
        </p>
      </form>
    </main>
  )
}
