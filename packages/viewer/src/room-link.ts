/** A room code as the host prints it: letters, digits and dashes. */
const ROOM_CODE = /^[A-Za-z0-9_-]{3,64}$/

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
