import type { RoomRole, VerifiedIdentity } from '@smoldesk/protocol'
import type { Undeliverable } from './reliable-relay.ts'

export interface RoomRecord {
  id: string
  hostId: string
  /** `scrypt$salt$hash`, see passwords.ts. */
  passwordHash?: string | undefined
  approval: boolean
}

export interface MemberRecord {
  roomId: string
  role: RoomRole
  /** Waiting for the host's approval: known to the room, but nothing is relayed yet. */
  pending: boolean
  /** The viewer token presented with join-room, handed to the host once admitted. */
  token?: string | undefined
  /** Whom the viewer signed in as (single sign-on), handed to the host with it. */
  identity?: VerifiedIdentity | undefined
}

export interface ClientRecord {
  /** The instance the client is connected to; null while it is away and may resume. */
  instance: string | null
  /** SHA-256 of the resume token (base64url): the token itself is never stored. */
  resumeHash: string
}

export interface AuthFailures {
  count: number
  lastMs: number
}

/**
 * Everything signaling must share between instances: rooms, who is in them,
 * where each client is connected, messages waiting for a client that is
 * away, failed join attempts. In memory for one instance, in Redis for many;
 * the server's logic is the same for both.
 */
export interface SignalingStore {
  /** False when a room with this id exists. */
  createRoom(room: RoomRecord): Promise<boolean>
  getRoom(roomId: string): Promise<RoomRecord | undefined>
  /** Replaces an existing room's record (its host changed the password or approval). */
  updateRoom(room: RoomRecord): Promise<void>
  /** Deletes the room and its members' records; returns the members. */
  deleteRoom(roomId: string): Promise<string[]>
  putMember(clientId: string, member: MemberRecord): Promise<void>
  getMembers(clientIds: readonly string[]): Promise<(MemberRecord | undefined)[]>
  removeMember(clientId: string): Promise<MemberRecord | undefined>
  roomMembers(roomId: string): Promise<string[]>
  putClient(clientId: string, record: ClientRecord, ttlMs: number): Promise<void>
  getClient(clientId: string): Promise<ClientRecord | undefined>
  /** Several clients' records in one call (one MGET over Redis). */
  getClients(clientIds: readonly string[]): Promise<(ClientRecord | undefined)[]>
  deleteClient(clientId: string): Promise<void>
  /** Keeps a message for a client that is away; false (not kept) when it already has `max`. */
  enqueue(clientId: string, message: string, max: number): Promise<boolean>
  drain(clientId: string): Promise<string[]>
  recordAuthFailure(ip: string, windowMs: number): Promise<AuthFailures>
  authFailures(ip: string): Promise<AuthFailures | undefined>
  close(): Promise<void>
}

/**
 * How instances reach each other's clients. With one instance every client
 * is local and nothing is published.
 */
export interface SignalingBus {
  readonly instanceId: string
  /**
   * Sends a message to a client on another instance; false when the queue
   * towards that instance is full (the sender is told OVERLOADED). What is
   * accepted arrives once and in order, or comes back through
   * `undeliverable`.
   */
  publish(instanceId: string, clientId: string, message: string, senderId?: string): boolean
  /**
   * A client is connected here now (it resumed after its instance died):
   * what this instance sent towards it elsewhere and may not have reached
   * it is delivered here first.
   */
  arrived(clientId: string): void
  /** Whether an instance is running (it renews a key in the store twice a second). */
  alive(instanceId: string): Promise<boolean>
  attach(handlers: BusHandlers): void
  close(): Promise<void>
}

interface Expiring<T> {
  value: T
  expires: number
}

/** The embedded default: one process, plain maps. */
export class MemoryStore implements SignalingStore {
  readonly #rooms = new Map<string, { room: RoomRecord; members: Set<string> }>()
  readonly #members = new Map<string, MemberRecord>()
  readonly #clients = new Map<string, Expiring<ClientRecord>>()
  readonly #queues = new Map<string, string[]>()
  readonly #failures = new Map<string, Expiring<AuthFailures>>()

  get roomCount(): number {
    return this.#rooms.size
  }

  async createRoom(room: RoomRecord): Promise<boolean> {
    if (this.#rooms.has(room.id)) return false
    this.#rooms.set(room.id, { room, members: new Set() })
    return true
  }

  async getRoom(roomId: string): Promise<RoomRecord | undefined> {
    return this.#rooms.get(roomId)?.room
  }

  async updateRoom(room: RoomRecord): Promise<void> {
    const entry = this.#rooms.get(room.id)
    if (entry) entry.room = room
  }

  async deleteRoom(roomId: string): Promise<string[]> {
    const entry = this.#rooms.get(roomId)
    if (!entry) return []
    this.#rooms.delete(roomId)
    for (const member of entry.members) this.#members.delete(member)
    return [...entry.members]
  }

  async putMember(clientId: string, member: MemberRecord): Promise<void> {
    const previous = this.#members.get(clientId)
    if (previous && previous.roomId !== member.roomId)
      this.#rooms.get(previous.roomId)?.members.delete(clientId)
    this.#members.set(clientId, member)
    this.#rooms.get(member.roomId)?.members.add(clientId)
  }

  async getMembers(clientIds: readonly string[]): Promise<(MemberRecord | undefined)[]> {
    return clientIds.map((id) => this.#members.get(id))
  }

  async removeMember(clientId: string): Promise<MemberRecord | undefined> {
    const member = this.#members.get(clientId)
    if (!member) return undefined
    this.#members.delete(clientId)
    this.#rooms.get(member.roomId)?.members.delete(clientId)
    return member
  }

  async roomMembers(roomId: string): Promise<string[]> {
    return [...(this.#rooms.get(roomId)?.members ?? [])]
  }

  async putClient(clientId: string, record: ClientRecord, ttlMs: number): Promise<void> {
    this.#clients.set(clientId, { value: record, expires: Date.now() + ttlMs })
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    return live(this.#clients, clientId)
  }

  async getClients(clientIds: readonly string[]): Promise<(ClientRecord | undefined)[]> {
    return clientIds.map((id) => live(this.#clients, id))
  }

  async deleteClient(clientId: string): Promise<void> {
    this.#clients.delete(clientId)
    this.#queues.delete(clientId)
  }

  async enqueue(clientId: string, message: string, max: number): Promise<boolean> {
    const queue = this.#queues.get(clientId) ?? []
    if (queue.length >= max) return false
    queue.push(message)
    this.#queues.set(clientId, queue)
    return true
  }

  async drain(clientId: string): Promise<string[]> {
    const queue = this.#queues.get(clientId) ?? []
    this.#queues.delete(clientId)
    return queue
  }

  async recordAuthFailure(ip: string, windowMs: number): Promise<AuthFailures> {
    const previous = live(this.#failures, ip)
    const value = { count: (previous?.count ?? 0) + 1, lastMs: Date.now() }
    this.#failures.set(ip, { value, expires: Date.now() + windowMs })
    return value
  }

  async authFailures(ip: string): Promise<AuthFailures | undefined> {
    return live(this.#failures, ip)
  }

  /** Forgets expired entries (called from the server's housekeeping timer). */
  sweep(): void {
    const now = Date.now()
    for (const map of [this.#clients, this.#failures] as Map<string, Expiring<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expires <= now) map.delete(key)
    }
  }

  async close(): Promise<void> {}
}

function live<T>(map: Map<string, Expiring<T>>, key: string): T | undefined {
  const entry = map.get(key)
  if (!entry) return undefined
  if (entry.expires > Date.now()) return entry.value
  map.delete(key)
  return undefined
}

/** One instance: every client is local, so nothing is ever published. */
/** What the server gives its bus: delivery here, the sender's error, where a client is now. */
export interface BusHandlers {
  deliver(clientId: string, message: string, senderId: string | undefined): void
  undeliverable(u: Undeliverable): void
  locate(clientId: string): Promise<string | null | undefined>
}

export class LocalBus implements SignalingBus {
  readonly instanceId = 'local'
  publish(): boolean {
    return false // every client is here: nothing is ever published
  }
  arrived(): void {}
  async alive(instanceId: string): Promise<boolean> {
    return instanceId === this.instanceId
  }
  attach(): void {}
  async close(): Promise<void> {}
}
