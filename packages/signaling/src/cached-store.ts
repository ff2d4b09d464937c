import { Coalescer } from './coalescer.ts'
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
  /** Read from then on, the record is read again in the background (see #fresh). */
  refreshAt: number
  refreshing: boolean
}

interface Waiter<T> {
  resolve: (value: T | undefined) => void
  reject: (err: unknown) => void
}

/**
 * Reads of one kind of record asked for during a burst of work, made as one
 * store call (one MGET) when it ends (see Coalescer); several askers of one
 * record share its read. After a quiet spell, or a Redis reconnect that
 * emptied the cache, every relay misses at once: thousands of single GETs,
 * each a write and a wait of its own, were the two-instance benchmark's
 * worst second (p99 0.6–1.9 s overall against 48–336 ms after it).
 */
class ReadBatch<T> {
  readonly #read: (ids: string[]) => Promise<(T | undefined)[]>
  #queued = new Map<string, Waiter<T>[]>()
  readonly #soon = new Coalescer(() => this.#flush())

  constructor(read: (ids: string[]) => Promise<(T | undefined)[]>) {
    this.#read = read
  }

  /** Only reads not yet made are shared: one under way may have begun before a change the asker knows of. */
  get(id: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.#queued.get(id)
      if (waiting) waiting.push({ resolve, reject })
      else this.#queued.set(id, [{ resolve, reject }])
      this.#soon.add()
    })
  }

  #flush(): void {
    const batch = this.#queued
    this.#queued = new Map()
    const ids = [...batch.keys()]
    this.#read(ids).then(
      (values) => {
        for (const [i, id] of ids.entries()) for (const w of batch.get(id) ?? []) w.resolve(values[i])
      },
      (err: unknown) => {
        for (const waiting of batch.values()) for (const w of waiting) w.reject(err)
      },
    )
  }
}

/**
 * The shared store with the two records every relay reads — both peers'
 * memberships and the target's location — kept in memory between changes.
 * Without it a relay across instances cost three Redis round trips (issue
 * 19); with it, one publish. Every write goes through to the store and is
 * announced to every instance, which drops its copy. A read that overlaps
 * an announcement for its record is not kept (it may have read the old
 * value); a lost announcement is outlived by the TTL. A record still in
 * use late in its life is read again in the background, so a busy relay
 * does not wait for Redis whenever its records' time is up.
 */
export class CachedStore implements SignalingStore {
  readonly #store: SignalingStore
  readonly #invalidations: Invalidations
  readonly #entries = new Map<string, Entry<MemberRecord | ClientRecord>>()
  /** Announcements seen per key: a read that saw one arrive meanwhile is not cached. */
  readonly #generations = new Map<string, number>()
  #epoch = 0
  readonly #memberReads: ReadBatch<MemberRecord>
  readonly #clientReads: ReadBatch<ClientRecord>

  readonly #now: () => number
  readonly #random: () => number

  constructor(
    store: SignalingStore,
    invalidations: Invalidations,
    /** The clock and the spread of lifetimes (tests fix both). */
    options: { now?: () => number; random?: () => number } = {},
  ) {
    this.#store = store
    this.#now = options.now ?? Date.now
    this.#random = options.random ?? Math.random
    this.#memberReads = new ReadBatch((ids) => store.getMembers(ids))
    this.#clientReads = new ReadBatch((ids) => store.getClients(ids))
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
    const now = this.#now()
    const cached = clientIds.map((id) => this.#fresh(memberKey(id), id, this.#memberReads, now))
    if (cached.every((c) => c !== undefined)) return cached.map((c) => c?.value)
    return Promise.all(
      clientIds.map((id, i) => {
        const entry = cached[i]
        return entry ? entry.value : this.#load(memberKey(id), id, this.#memberReads)
      }),
    )
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
    const entry = this.#entries.get(key)
    const known = entry && entry.expires > this.#now() ? (entry.value as ClientRecord | undefined) : undefined
    await this.#store.putClient(clientId, record, ttlMs)
    // A heartbeat renews the record unchanged: nobody needs telling.
    if (known?.instance === record.instance && known.resumeHash === record.resumeHash) return
    this.#changed([key])
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const key = clientKey(clientId)
    const cached = this.#fresh(key, clientId, this.#clientReads, this.#now())
    return cached ? cached.value : this.#load(key, clientId, this.#clientReads)
  }

  getClients(clientIds: readonly string[]): Promise<(ClientRecord | undefined)[]> {
    return Promise.all(clientIds.map((id) => this.getClient(id)))
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

  /** The cached entry, if still trusted; one late in its life is read again meanwhile. */
  #fresh<T extends MemberRecord | ClientRecord>(
    key: string,
    id: string,
    reads: ReadBatch<T>,
    now: number,
  ): Entry<T> | undefined {
    const entry = this.#entries.get(key) as Entry<T> | undefined
    if (!entry) return undefined
    if (entry.expires <= now) {
      this.#entries.delete(key)
      return undefined
    }
    if (now >= entry.refreshAt && !entry.refreshing) {
      entry.refreshing = true
      // A failed read leaves the entry to expire: the next asker then waits for the store.
      this.#load(key, id, reads).catch(() => {})
    }
    return entry
  }

  /** Reads a record (with the others asked for this turn) and keeps it, unless it changed meanwhile. */
  async #load<T extends MemberRecord | ClientRecord>(
    key: string,
    id: string,
    reads: ReadBatch<T>,
  ): Promise<T | undefined> {
    const mark = this.#mark(key)
    const value = await reads.get(id)
    this.#keep(key, mark, value)
    return value
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
    const now = this.#now()
    const life = TTL_MS * (0.5 + this.#random())
    this.#entries.set(key, { value, expires: now + life, refreshAt: now + life / 2, refreshing: false })
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
