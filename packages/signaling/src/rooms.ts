import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'
import { SmolDeskError } from '@smoldesk/protocol'

interface Room {
  id: string
  members: Set<string>
  passwordHash?: { salt: Buffer; hash: Buffer }
}

/** Room codes people can read aloud: no 0/O or 1/I/L. */
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'

export function randomRoomCode(length = 8): string {
  const bytes = randomBytes(length)
  return Array.from(bytes, (b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join('')
}

function hashPassword(password: string, salt: Buffer): Buffer {
  return scryptSync(password, salt, 32)
}

/** In-memory rooms: who is in which room, and the room's password (scrypt-hashed). */
export class RoomRegistry {
  readonly #rooms = new Map<string, Room>()
  readonly #roomOf = new Map<string, string>()

  get roomCount(): number {
    return this.#rooms.size
  }

  create(clientId: string, roomId: string | undefined, password: string | undefined): string {
    this.leave(clientId)
    const id = roomId ?? randomRoomCode()
    if (this.#rooms.has(id)) throw new SmolDeskError('ROOM_EXISTS', `room ${id} already exists`)
    const room: Room = { id, members: new Set([clientId]) }
    if (password) {
      const salt = randomBytes(16)
      room.passwordHash = { salt, hash: hashPassword(password, salt) }
    }
    this.#rooms.set(id, room)
    this.#roomOf.set(clientId, id)
    return id
  }

  /** Joins a room; returns the members who were already there. */
  join(clientId: string, roomId: string, password: string | undefined): string[] {
    const room = this.#rooms.get(roomId)
    if (!room) throw new SmolDeskError('ROOM_NOT_FOUND', `no room ${roomId}`)
    if (room.passwordHash) {
      const offered = hashPassword(password ?? '', room.passwordHash.salt)
      if (!timingSafeEqual(offered, room.passwordHash.hash)) {
        throw new SmolDeskError('UNAUTHORIZED', 'wrong room password')
      }
    }
    if (this.#roomOf.get(clientId) !== roomId) this.leave(clientId)
    const peers = [...room.members].filter((m) => m !== clientId)
    room.members.add(clientId)
    this.#roomOf.set(clientId, roomId)
    return peers
  }

  /** Leaves the current room (if any); returns the room and who is still in it. */
  leave(clientId: string): { roomId: string; remaining: string[] } | undefined {
    const roomId = this.#roomOf.get(clientId)
    if (!roomId) return undefined
    this.#roomOf.delete(clientId)
    const room = this.#rooms.get(roomId)
    if (!room) return undefined
    room.members.delete(clientId)
    if (room.members.size === 0) this.#rooms.delete(roomId)
    return { roomId, remaining: [...room.members] }
  }

  roomOf(clientId: string): string | undefined {
    return this.#roomOf.get(clientId)
  }

  sameRoom(a: string, b: string): boolean {
    const room = this.#roomOf.get(a)
    return room !== undefined && room === this.#roomOf.get(b)
  }
}
