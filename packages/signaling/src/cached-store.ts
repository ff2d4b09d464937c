import type { AuthFailures, ClientRecord, MemberRecord, RoomRecord, SignalingStore } from './store.ts'

/** How instances tell each other that a record changed (Redis pub/sub; see RedisBus). */
export interface Invalidations {
  /** Tells every instance (this one too) that these records changed. */
  invalidate(keys: string[]): void
  /** `'*'`: everything may have changed (the channel was down for a while). */
  onInvalidate(handler: (keys: string[] | '*') => void): void
}

/** A cached record is trusted about this long (at most 1.5 times it), should an invalidation be lost. */
const TTL_MS = 10_000
/** Past this many entries the cache starts afresh (10,000 peers need 20,000). */
const MAX_ENTRIES = 100_000

const memberKey = (id: string) => `m:${id}`
const clientKey = (id: string) => `c:${id}`

interface Entry<T> {
  value: T | undefined
  expires: number
}

/**
 * The shared store with the two records every relay reads — both peers'
 * memberships and the target's location — kept in memory between changes.
 * Without it a relay across instances cost three Redis round trips (issue
 * 19); with it, one publish. Every write goes through to the store and is
 * announced to every instance, which drops its copy. A read that overlaps
 * an announcement for its record is not kept (it may have read the old
 * value); a lost announcement is outlived by the TTL.
 */
export class CachedStore implements SignalingStore {
  readonly #store: SignalingStore
  readonly #invalidations: Invalidations
  readonly #entries = new Map<string, Entry<MemberRecord | ClientRecord>>()
  /** Announcements seen per key: a read that saw one arrive meanwhile is not cached. */
  readonly #generations = new Map<string, number>()
  #epoch = 0

  constructor(store: SignalingStore, invalidations: Invalidations) {
    this.#store = store
    this.#invalidations = invalidations
    invalidations.onInvalidate((keys) => {
      if (keys === '*') {
        this.#entries.clear()
        this.#generations.clear()
        this.#epoch++
        return
      }
      this.#forget(keys)
    })
  }

  createRoom(room: RoomRecord): Promise<boolean> {
    return this.#store.createRoom(room)
  }

  getRoom(roomId: string): Promise<RoomRecord | undefined> {
    return this.#store.getRoom(roomId)
  }

  updateRoom(room: RoomRecord): Promise<void> {
    return this.#store.updateRoom(room)
  }

  async deleteRoom(roomId: string): Promise<string[]> {
    const members = await this.#store.deleteRoom(roomId)
    this.#changed(members.map(memberKey))
    return members
  }

  async putMember(clientId: string, member: MemberRecord): Promise<void> {
    await this.#store.putMember(clientId, member)
    this.#changed([memberKey(clientId)])
  }

  async getMembers(clientIds: readonly string[]): Promise<(MemberRecord | undefined)[]> {
    const now = Date.now()
    const cached = clientIds.map((id) => this.#fresh<MemberRecord>(memberKey(id), now))
    if (cached.every((c) => c !== undefined)) return cached.map((c) => c?.value)
    const missing = clientIds.filter((_, i) => cached[i] === undefined)
    const marks = missing.map((id) => this.#mark(memberKey(id)))
    const read = await this.#store.getMembers(missing)
    for (const [i, id] of missing.entries()) this.#keep(memberKey(id), marks[i], read[i])
    let next = 0
    return cached.map((c) => (c !== undefined ? c.value : read[next++]))
  }

  async removeMember(clientId: string): Promise<MemberRecord | undefined> {
    const member = await this.#store.removeMember(clientId)
    this.#changed([memberKey(clientId)])
    return member
  }

  roomMembers(roomId: string): Promise<string[]> {
    return this.#store.roomMembers(roomId)
  }

  async putClient(clientId: string, record: ClientRecord, ttlMs: number): Promise<void> {
    const key = clientKey(clientId)
    const known = this.#fresh<ClientRecord>(key, Date.now())?.value
    await this.#store.putClient(clientId, record, ttlMs)
    // A heartbeat renews the record unchanged: nobody needs telling.
    if (known?.instance === record.instance && known.resumeHash === record.resumeHash) return
    this.#changed([key])
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const key = clientKey(clientId)
    const cached = this.#fresh<ClientRecord>(key, Date.now())
    if (cached) return cached.value
    const mark = this.#mark(key)
    const record = await this.#store.getClient(clientId)
    this.#keep(key, mark, record)
    return record
  }

  async deleteClient(clientId: string): Promise<void> {
    await this.#store.deleteClient(clientId)
    this.#changed([clientKey(clientId)])
  }

  enqueue(clientId: string, message: string, max: number): Promise<boolean> {
    return this.#store.enqueue(clientId, message, max)
  }

  drain(clientId: string): Promise<string[]> {
    return this.#store.drain(clientId)
  }

  recordAuthFailure(ip: string, windowMs: number): Promise<AuthFailures> {
    return this.#store.recordAuthFailure(ip, windowMs)
  }

  authFailures(ip: string): Promise<AuthFailures | undefined> {
    return this.#store.authFailures(ip)
  }

  close(): Promise<void> {
    this.#entries.clear()
    return this.#store.close()
  }

  #fresh<T extends MemberRecord | ClientRecord>(key: string, now: number): Entry<T> | undefined {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    if (entry.expires <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry as Entry<T>
  }

  /** Where a read begins: the announcements seen so far for its key. */
  #mark(key: string): string {
    return `${this.#epoch}:${this.#generations.get(key) ?? 0}`
  }

  /** Keeps what a read found, unless an announcement for its key came while it was under way. */
  #keep(key: string, mark: string | undefined, value: MemberRecord | ClientRecord | undefined): void {
    if (mark !== this.#mark(key)) return
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear()
    // Spread over half to one and a half TTLs: records cached together (a burst of joins)
    // would otherwise all expire together, and every relay then would wait for Redis at once.
    this.#entries.set(key, { value, expires: Date.now() + TTL_MS * (0.5 + Math.random()) })
  }

  /** A write went through: our copy goes now, the others' when the announcement reaches them. */
  #changed(keys: string[]): void {
    if (keys.length === 0) return
    this.#forget(keys)
    this.#invalidations.invalidate(keys)
  }

  #forget(keys: string[]): void {
    // Counting starts afresh now and then; the epoch makes every read under way then uncacheable.
    if (this.#generations.size >= MAX_ENTRIES) {
      this.#generations.clear()
      this.#epoch++
    }
    for (const key of keys) {
      this.#entries.delete(key)
      this.#generations.set(key, (this.#generations.get(key) ?? 0) + 1)
    }
  }
}
