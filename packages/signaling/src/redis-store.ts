import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { CachedStore, type Invalidations } from './cached-store.ts'
import { Coalescer } from './coalescer.ts'
import { ReliableRelay } from './reliable-relay.ts'
import type {
  AuthFailures,
  BusHandlers,
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
  /** Exists while the instance runs (renewed every ALIVE_RENEW_MS). */
  alive: (instanceId: string) => `${PREFIX}alive:${instanceId}`,
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

  async getClients(clientIds: readonly string[]): Promise<(ClientRecord | undefined)[]> {
    if (clientIds.length === 0) return []
    const values = await this.#redis.mget(clientIds.map(key.client))
    return values.map((v) => parse<ClientRecord>(v))
  }

  async deleteClient(clientId: string): Promise<void> {
    await this.#redis.del(key.client(clientId), key.queue(clientId))
  }

  async enqueue(clientId: string, message: string, max: number): Promise<boolean> {
    // One script, so two instances adding at once cannot both pass the length check.
    const kept = await this.#redis.eval(ENQUEUE_SCRIPT, 1, key.queue(clientId), message, max, 10 * 60_000)
    return kept === 1
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

/** How often unacknowledged messages are looked at (resent after 1 s, rerouted after 2 s). */
const RELAY_TICK_MS = 250
/** An instance renews its alive key this often; a crashed one is known dead after the TTL. */
const ALIVE_RENEW_MS = 500
const ALIVE_TTL_MS = 2000

const ENQUEUE_SCRIPT = `
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

/**
 * Instance-to-instance delivery over Redis pub/sub: each instance listens
 * on its own channel, and a message for a client on instance B is published
 * there. Pub/sub keeps one publisher's order but drops whatever is published
 * while a subscriber is away (a reconnect, a Redis restart); ReliableRelay
 * numbers, acknowledges and resends on top of it, so nothing accepted is
 * lost or doubled, and what cannot be delivered is reported.
 */
export class RedisBus implements SignalingBus, Invalidations {
  readonly instanceId = randomBytes(6).toString('base64url')
  readonly #pub: Redis
  readonly #sub: Redis
  readonly #tick: NodeJS.Timeout
  readonly #heartbeat: NodeJS.Timeout
  #relay: ReliableRelay | undefined
  #invalidated: ((keys: string[] | '*') => void) | undefined
  /** Keys changed during this burst of work, announced together (one publish). */
  #changed: string[] = []
  readonly #announceSoon = new Coalescer(() => this.#announce())

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
      if (channel !== key.invalidations) {
        this.#relay?.receive(payload)
        return
      }
      // Only instances publish here, but a stray publish must not take the server down.
      let keys: unknown
      try {
        keys = JSON.parse(payload)
      } catch {
        return
      }
      if (Array.isArray(keys)) this.#invalidated?.(keys.filter((k) => typeof k === 'string'))
    })
    this.#tick = setInterval(() => this.#relay?.tick(), RELAY_TICK_MS).unref()
    this.#heartbeat = setInterval(() => this.#renew().catch(() => {}), ALIVE_RENEW_MS).unref()
  }

  /**
   * Says this instance runs. A crashed one's key expires within ALIVE_TTL_MS,
   * and then another instance may take over its clients when they resume.
   */
  #renew(): Promise<unknown> {
    return this.#pub.set(key.alive(this.instanceId), '1', 'PX', ALIVE_TTL_MS)
  }

  async alive(instanceId: string): Promise<boolean> {
    return (await this.#pub.exists(key.alive(instanceId))) === 1
  }

  arrived(clientId: string): void {
    this.#relay?.claim(clientId)
  }

  static async create(url: string, log?: RedisLog): Promise<RedisBus> {
    // No auto-pipelining: ioredis would hold every publish until setImmediate, which a busy
    // poll phase puts off for seconds (see Coalescer); what is published is batched already.
    const pub = new Redis(url, { lazyConnect: true })
    const sub = new Redis(url, { lazyConnect: true })
    watch(pub, 'publisher', log)
    watch(sub, 'subscriber', log)
    await Promise.all([pub.connect(), sub.connect()])
    const bus = new RedisBus(pub, sub)
    await sub.subscribe(key.instance(bus.instanceId), key.invalidations)
    await bus.#renew()
    return bus
  }

  /** Messages sent to other instances and not acknowledged yet. */
  get pending(): number {
    return this.#relay?.pending ?? 0
  }

  invalidate(keys: string[]): void {
    for (const k of keys) this.#changed.push(k)
    this.#announceSoon.add()
  }

  #announce(): void {
    const keys = this.#changed
    this.#changed = []
    this.#pub.publish(key.invalidations, JSON.stringify(keys)).catch(() => {
      // Not announced: the others' copies expire with their TTL.
    })
  }

  onInvalidate(handler: (keys: string[] | '*') => void): void {
    this.#invalidated = handler
  }

  publish(instanceId: string, clientId: string, message: string, senderId?: string): boolean {
    return this.#relay?.publish(instanceId, clientId, message, senderId) ?? false
  }

  attach(handlers: BusHandlers): void {
    this.#relay = new ReliableRelay({
      self: this.instanceId,
      send: async (to, payload) => {
        await this.#pub.publish(key.instance(to), payload)
      },
      // While Redis is away, ioredis would queue every resend in memory: wait instead.
      connected: () => this.#pub.status === 'ready' && this.#sub.status === 'ready',
      alive: (instanceId) => this.alive(instanceId),
      ...handlers,
    })
  }

  async close(): Promise<void> {
    clearInterval(this.#tick)
    clearInterval(this.#heartbeat)
    // Gone at once, not after its TTL: its clients may resume elsewhere straight away.
    // (Not waited for long: with Redis away the command would sit in ioredis's queue.)
    await Promise.race([
      this.#pub.del(key.alive(this.instanceId)).catch(() => {}),
      sleep(500, undefined, { ref: false }),
    ])
    this.#relay?.close()
    this.#pub.disconnect()
    this.#sub.disconnect()
  }
}

/**
 * Store and bus for `--redis URL`: one command connection, one publisher,
 * one subscriber; the records every relay reads are cached (CachedStore).
 */
export async function connectRedis(
  url: string,
  log?: RedisLog,
): Promise<{ store: SignalingStore; bus: RedisBus }> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 })
  watch(redis, 'store', log)
  await redis.connect()
  const bus = await RedisBus.create(url, log)
  return { store: new CachedStore(new RedisStore(redis), bus), bus }
}

export type RedisLog = (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void

/**
 * Says once that a connection went away and once that it is back (ioredis
 * would otherwise print every failed reconnect as an unhandled error).
 */
function watch(redis: Redis, name: string, log: RedisLog | undefined): void {
  let down = false
  redis.on('error', (err: Error) => {
    if (down) return
    down = true
    log?.('warn', 'Redis unreachable; retrying', { connection: name, err: err.message })
  })
  redis.on('ready', () => {
    if (!down) return
    down = false
    log?.('info', 'Redis reachable again', { connection: name })
  })
}
