import { useState } from 'react'

/** A room code as the host prints it: letters, digits and dashes. */
const ROOM_CODE = /^[A-Za-z0-9_-]{3,64}$/

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

/** A bare code, or a pasted link (its room and its #token fragment). */
export function parseRoomInput(input: string): { room: string; fragment: string } | undefined {
  const text = input.trim()
  if (ROOM_CODE.test(text)) return { room: text, fragment: '' }
  try {
    const url = new URL(text)
    const room = url.searchParams.get('room') ?? ''
    return ROOM_CODE.test(room) ? { room, fragment: url.hash } : undefined
  } catch {
    return undefined
  }
}
