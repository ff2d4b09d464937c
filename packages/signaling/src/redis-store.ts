import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { CachedStore, type Invalidations } from './cached-store.ts'
import type {
  AuthFailures,
  ClientRecord,
  MemberRecord,
  RoomRecord,
  SignalingBus,
  SignalingStore,
} from './store.ts'

const PREFIX = 'smoldesk:'
const key = {
  room: (id: string) => `${PREFIX}room:${id}`,
  members: (roomId: string) => `${PREFIX}members:${roomId}`,
  member: (clientId: string) => `${PREFIX}member:${clientId}`,
  client: (clientId: string) => `${PREFIX}client:${clientId}`,
  queue: (clientId: string) => `${PREFIX}queue:${clientId}`,
  failures: (ip: string) => `${PREFIX}authfail:${ip}`,
  instance: (instanceId: string) => `${PREFIX}instance:${instanceId}`,
  /** Every instance listens here for records that changed (CachedStore). */
  invalidations: `${PREFIX}invalidate`,
}

function parse<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T)
}

/**
 * Signaling state in Redis, so several instances serve one set of rooms.
 * Records are JSON strings under `smoldesk:*` keys; presence and queues
 * expire on their own, so a crashed instance leaves nothing behind for long.
 */
export class RedisStore implements SignalingStore {
  readonly #redis: Redis

  constructor(redis: Redis) {
    this.#redis = redis
  }

  async createRoom(room: RoomRecord): Promise<boolean> {
    return (await this.#redis.set(key.room(room.id), JSON.stringify(room), 'NX')) === 'OK'
  }

  async getRoom(roomId: string): Promise<RoomRecord | undefined> {
    return parse(await this.#redis.get(key.room(roomId)))
  }

  async updateRoom(room: RoomRecord): Promise<void> {
    // XX: only a room that still exists (never resurrect one deleted meanwhile).
    await this.#redis.set(key.room(room.id), JSON.stringify(room), 'XX')
  }

  async deleteRoom(roomId: string): Promise<string[]> {
    const members = await this.#redis.smembers(key.members(roomId))
    await this.#redis
      .multi()
      .del(key.room(roomId), key.members(roomId), ...members.map(key.member))
      .exec()
    return members
  }

  async putMember(clientId: string, member: MemberRecord): Promise<void> {
    const previous = parse<MemberRecord>(await this.#redis.get(key.member(clientId)))
    const tx = this.#redis.multi()
    if (previous && previous.roomId !== member.roomId) tx.srem(key.members(previous.roomId), clientId)
    await tx
      .set(key.member(clientId), JSON.stringify(member))
      .sadd(key.members(member.roomId), clientId)
      .exec()
  }

  async getMembers(clientIds: readonly string[]): Promise<(MemberRecord | undefined)[]> {
    if (clientIds.length === 0) return []
    const values = await this.#redis.mget(clientIds.map(key.member))
    return values.map((v) => parse<MemberRecord>(v))
  }

  async removeMember(clientId: string): Promise<MemberRecord | undefined> {
    const member = parse<MemberRecord>(await this.#redis.getdel(key.member(clientId)))
    if (member) await this.#redis.srem(key.members(member.roomId), clientId)
    return member
  }

  roomMembers(roomId: string): Promise<string[]> {
    return this.#redis.smembers(key.members(roomId))
  }

  async putClient(clientId: string, record: ClientRecord, ttlMs: number): Promise<void> {
    await this.#redis.set(key.client(clientId), JSON.stringify(record), 'PX', ttlMs)
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    return parse(await this.#redis.get(key.client(clientId)))
  }

  async deleteClient(clientId: string): Promise<void> {
    await this.#redis.del(key.client(clientId), key.queue(clientId))
  }

  async enqueue(clientId: string, message: string, max: number): Promise<void> {
    await this.#redis
      .multi()
      .rpush(key.queue(clientId), message)
      .ltrim(key.queue(clientId), -max, -1)
      .pexpire(key.queue(clientId), 10 * 60_000)
      .exec()
  }

  async drain(clientId: string): Promise<string[]> {
    const result = await this.#redis
      .multi()
      .lrange(key.queue(clientId), 0, -1)
      .del(key.queue(clientId))
      .exec()
    return (result?.[0]?.[1] as string[] | undefined) ?? []
  }

  async recordAuthFailure(ip: string, windowMs: number): Promise<AuthFailures> {
    const now = Date.now()
    const result = await this.#redis
      .multi()
      .hincrby(key.failures(ip), 'count', 1)
      .hset(key.failures(ip), 'lastMs', now)
      .pexpire(key.failures(ip), windowMs)
      .exec()
    return { count: Number(result?.[0]?.[1] ?? 1), lastMs: now }
  }

  async authFailures(ip: string): Promise<AuthFailures | undefined> {
    const entry = await this.#redis.hgetall(key.failures(ip))
    if (!entry.count) return undefined
    return { count: Number(entry.count), lastMs: Number(entry.lastMs) }
  }

  async close(): Promise<void> {
    this.#redis.disconnect()
  }
}

/**
 * Instance-to-instance delivery over Redis pub/sub: each instance listens
 * on its own channel, and a message for a client on instance B is published
 * there. Pub/sub keeps one publisher's order, so a candidate never overtakes
 * its offer on the way.
 */
export class RedisBus implements SignalingBus, Invalidations {
  readonly instanceId = randomBytes(6).toString('base64url')
  readonly #pub: Redis
  readonly #sub: Redis
  #handler: ((clientId: string, message: string) => void) | undefined
  #invalidated: ((keys: string[] | '*') => void) | undefined

  private constructor(pub: Redis, sub: Redis) {
    this.#pub = pub
    this.#sub = sub
    let ready = false
    sub.on('ready', () => {
      // Back after a drop: what changed meanwhile was announced to nobody here.
      if (ready) this.#invalidated?.('*')
      ready = true
    })
    sub.on('message', (channel: string, payload: string) => {
      // Only instances publish here, but a stray publish must not take the server down.
      let envelope: unknown
      try {
        envelope = JSON.parse(payload)
      } catch {
        return
      }
      if (channel === key.invalidations) {
        if (Array.isArray(envelope)) this.#invalidated?.(envelope.filter((k) => typeof k === 'string'))
        return
      }
      const [clientId, message] = Array.isArray(envelope) ? envelope : []
      if (typeof clientId === 'string' && typeof message === 'string') this.#handler?.(clientId, message)
    })
  }

  static async create(url: string): Promise<RedisBus> {
    const pub = new Redis(url, { lazyConnect: true })
    const sub = new Redis(url, { lazyConnect: true })
    await Promise.all([pub.connect(), sub.connect()])
    const bus = new RedisBus(pub, sub)
    await sub.subscribe(key.instance(bus.instanceId), key.invalidations)
    return bus
  }

  invalidate(keys: string[]): void {
    this.#pub.publish(key.invalidations, JSON.stringify(keys)).catch(() => {
      // Not announced: the others' copies expire with their TTL.
    })
  }

  onInvalidate(handler: (keys: string[] | '*') => void): void {
    this.#invalidated = handler
  }

  async publish(instanceId: string, clientId: string, message: string): Promise<void> {
    await this.#pub.publish(key.instance(instanceId), JSON.stringify([clientId, message]))
  }

  onDeliver(handler: (clientId: string, message: string) => void): void {
    this.#handler = handler
  }

  async close(): Promise<void> {
    this.#pub.disconnect()
    this.#sub.disconnect()
  }
}

/**
 * Store and bus for `--redis URL`: one command connection, one publisher,
 * one subscriber; the records every relay reads are cached (CachedStore).
 */
export async function connectRedis(url: string): Promise<{ store: SignalingStore; bus: RedisBus }> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 })
  await redis.connect()
  const bus = await RedisBus.create(url)
  return { store: new CachedStore(new RedisStore(redis), bus), bus }
}
