import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  type ClientMessage,
  ClientMessageSchema,
  describeZodError,
  type IceServer,
  type RoomRole,
  type ServerMessage,
  SIGNALING_MAX_MESSAGE_BYTES,
  SmolDeskError,
  type VerifiedIdentity,
  type ViewerRole,
} from '@smoldesk/protocol'
import { type WebSocket, WebSocketServer } from 'ws'
import {
  addressKey,
  type BackoffPolicy,
  backoffRemainingMs,
  DEFAULT_BACKOFF,
  KeyedBuckets,
  TokenBucket,
} from './limits.ts'
import { SignalingMetrics } from './metrics.ts'
import { Outbox } from './outbox.ts'
import { LoadGauge } from './overload.ts'
import { hashPassword, randomRoomCode, verifyPassword } from './passwords.ts'
import type { SsoLogin } from './sso/sso-login.ts'
import {
  LocalBus,
  type MemberRecord,
  MemoryStore,
  type RoomRecord,
  type SignalingBus,
  type SignalingStore,
} from './store.ts'
import { type TurnOptions, turnCredentials } from './turn.ts'

/*
 * Size (~770 lines, over the house limit): the connection state machine of
 * the signaling server — admission, resume, relay and delivery — in one
 * class. The outbox (what a client has not acknowledged) and the cached
 * store are files of their own already; issue 19's rest (per-target queues,
 * streams across instances, coded back-pressure) moves delivery out with it
 * rather than twice.
 */

export interface SignalingLimits {
  /** Messages per second per connection, and the burst allowed above it. */
  messagesPerSecond: number
  messageBurst: number
  /** Messages per second from one IP address, all its connections together. */
  ipMessagesPerSecond: number
  ipMessageBurst: number
  /** Open connections from one IP address. */
  connectionsPerIp: number
  /** Failed joins/resumes per IP before waiting, and how the wait grows. */
  backoff: BackoffPolicy
  /**
   * Password checks per second in one room, from everyone together, and the
   * burst above it: what holds a room's password against guesses spread over
   * many addresses, where each address's back-off alone would not.
   */
  roomGuessesPerSecond: number
  roomGuessBurst: number
  /** How long failed attempts are remembered. */
  failureWindowMs: number
  /** Clients this instance holds at most; past it new connections are turned away (OVERLOADED). */
  maxClients: number
  /** Median event-loop lateness (ms, over half a second) past which new connections are turned away. */
  maxLoopDelayMs: number
  /** Event-loop utilization (0–1, over half a second) past which new connections are turned away. */
  maxLoopUtilization: number
}

export const DEFAULT_LIMITS: SignalingLimits = {
  messagesPerSecond: 50,
  messageBurst: 200,
  ipMessagesPerSecond: 500,
  ipMessageBurst: 2000,
  connectionsPerIp: 64,
  backoff: DEFAULT_BACKOFF,
  roomGuessesPerSecond: 2,
  roomGuessBurst: 20,
  failureWindowMs: 15 * 60_000,
  // ~8 KiB each (bench signaling): 50,000 is ~400 MB, and more than one Node loop relays in time.
  maxClients: 50_000,
  // The relay's p99 target is 20 ms: a loop late by 50 ms half the time is far past it.
  maxLoopDelayMs: 50,
  // Busy 95 % of the time, the loop has no room for newcomers' handshakes without its rooms waiting.
  maxLoopUtilization: 0.95,
}

export interface SignalingOptions {
  /** Static ICE servers (STUN) handed to peers after they create or join a room. */
  iceServers?: () => IceServer[]
  /** coturn's shared secret scheme: each peer gets its own time-limited credentials. */
  turn?: TurnOptions | undefined
  /** Shared state for several instances (Redis); in memory by default. */
  store?: SignalingStore
  bus?: SignalingBus
  limits?: Partial<SignalingLimits>
  /** Server ping interval; a client that misses two is dropped. */
  heartbeatMs?: number
  /** How long a dropped client keeps its place for `resume`. */
  resumeGraceMs?: number
  /** Take the client address from X-Forwarded-For (only behind a reverse proxy you run). */
  trustProxy?: boolean
  /**
   * Turn newcomers away while the event loop is saturated or late (as well
   * as past maxClients). For an instance of its own (`smoldesk signaling`):
   * its loop is its capacity. Not for one inside the host (`smoldesk
   * start`): the host's media work keeps that loop busy, its rooms are the
   * host's own, and turning its viewers away would not make it less busy.
   */
  shedOnLoad?: boolean
  /** Single sign-on (OpenID Connect): /auth/* and who each connection is. */
  sso?: SsoLogin | undefined
  /** This server's address as browsers reach it (default: from each request's Host). */
  publicUrl?: string | undefined
  /** Include Node's process metrics in /metrics (once per process). */
  processMetrics?: boolean
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void
}

/** Messages kept for a client that is away, until it resumes. */
const MAX_QUEUED = 256
/**
 * Messages kept unacknowledged per client (it acknowledges every 16, or a
 * second after the last): a client further behind than this cannot resume
 * and starts a new session instead.
 */
const MAX_UNACKED = 1024
const SWEEP_MS = 60_000
/** When a client turned away for overload is told to try again (it adds its own jitter). */
const SHED_RETRY_MS = 2000

interface Connection {
  id: string
  readonly ws: WebSocket
  readonly ip: string
  readonly bucket: TokenBucket
  /** Messages are handled one after another: a candidate never overtakes its offer. */
  queue: Promise<void>
  missedPings: number
  /** When this connection was last told it is rate limited (told at most once a second). */
  limitedAt: number
  /** Only the first message of a connection may be `resume`. */
  fresh: boolean
  /** SHA-256 of the current resume token, as in the store's client record. */
  resumeHash: string
  /** The client acknowledges what it receives (`?ack=1`): what it was sent is kept until then. */
  readonly acks: boolean
  /** While a resume is being set up: messages wait here, so none goes out before `resumed`. */
  held: string[] | undefined
  /** Who signed in (single sign-on), from the session cookie the handshake carried. */
  readonly identity: VerifiedIdentity | undefined
  /** Let in past a busy loop to resume: anything else it asks first is refused (OVERLOADED) and it is closed. */
  resumeOnly: boolean
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url')
const newToken = () => randomBytes(18).toString('base64url')

/**
 * The signaling server: introduces peers in rooms and relays offer, answer
 * and ICE candidates between a room's host and its admitted viewers only.
 * It attaches to any HTTP(S) server (the one `smoldesk start` serves the
 * viewer from, or its own for `smoldesk signaling`). Room state lives in a
 * store (memory, or Redis shared by several instances).
 */
export class SignalingServer {
  readonly metrics: SignalingMetrics
  readonly #wss: WebSocketServer
  readonly #local = new Map<string, Connection>()
  readonly #perIp = new Map<string, number>()
  readonly #ipBuckets: KeyedBuckets
  readonly #roomGuesses: KeyedBuckets
  readonly #options: SignalingOptions
  readonly #limits: SignalingLimits
  readonly #store: SignalingStore
  readonly #bus: SignalingBus
  readonly #graceTimers = new Map<string, NodeJS.Timeout>()
  /** What each acknowledging client was sent and has not confirmed, by client id (it outlives connections). */
  readonly #outboxes = new Map<string, Outbox>()
  readonly #timers: NodeJS.Timeout[] = []
  readonly #heartbeatMs: number
  readonly #graceMs: number
  #relayed = 0
  #roomsHosted = 0
  #closed = false
  /** Relay numbers per sender (see #relayChecked). */
  readonly #relaySeq = new Map<string, number>()
  readonly #load: LoadGauge
  #shedLoggedAt = Number.NEGATIVE_INFINITY

  constructor(options: SignalingOptions = {}) {
    this.#options = options
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.#store = options.store ?? new MemoryStore()
    this.#bus = options.bus ?? new LocalBus()
    this.#heartbeatMs = options.heartbeatMs ?? 30_000
    this.#graceMs = options.resumeGraceMs ?? 120_000
    this.metrics = new SignalingMetrics(options.processMetrics ?? false)
    this.#ipBuckets = new KeyedBuckets(this.#limits.ipMessagesPerSecond, this.#limits.ipMessageBurst)
    this.#roomGuesses = new KeyedBuckets(this.#limits.roomGuessesPerSecond, this.#limits.roomGuessBurst)
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: SIGNALING_MAX_MESSAGE_BYTES })
    this.#load = new LoadGauge({ ...this.#limits, byLoad: options.shedOnLoad ?? false })
    this.#bus.attach({
      deliver: (clientId, message, senderId) => this.#deliverLocal(clientId, message, senderId),
      undeliverable: (u) => this.#undeliverable(u.senderId, u.clientId, u.message, u.code),
      locate: async (clientId) => {
        const record = await this.#store.getClient(clientId)
        return record ? record.instance : undefined
      },
    })
    this.#timers.push(
      setInterval(() => this.#heartbeat(), this.#heartbeatMs).unref(),
      setInterval(() => {
        this.#ipBuckets.sweep()
        this.#roomGuesses.sweep()
        if (this.#store instanceof MemoryStore) this.#store.sweep()
      }, SWEEP_MS).unref(),
    )
  }

  get clientCount(): number {
    return this.#local.size
  }

  get relayedCount(): number {
    return this.#relayed
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const ip = this.#clientIp(req)
    if ((this.#perIp.get(ip) ?? 0) >= this.#limits.connectionsPerIp) {
      this.metrics.rateLimited.inc({ scope: 'connections' })
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams
    // A client coming back to its room (`?resume=1`) is part of a room already open: a busy
    // loop lets it in, to resume and nothing else (see Connection.resumeOnly).
    const resuming = params.get('resume') === '1'
    const refusal = this.#load.refusal(this.#local.size, resuming)
    if (refusal) {
      this.#shed(req, socket, head, refusal)
      return
    }
    const acks = params.get('ack') === '1'
    const identity = this.#identityOf(req)
    this.#wss.handleUpgrade(req, socket, head, (ws) =>
      this.#onConnection(ws, ip, acks, identity, resuming && this.#load.busy),
    )
  }

  /**
   * Turns a new connection away past capacity, in words a browser can show:
   * the handshake completes only to say OVERLOADED (with when to try again)
   * and close with 1013, "try again later". An HTTP 503 would be cheaper,
   * but a browser's WebSocket shows its page nothing of it.
   */
  #shed(req: IncomingMessage, socket: Duplex, head: Buffer, reason: string): void {
    this.metrics.rateLimited.inc({ scope: 'overload' })
    const now = performance.now()
    if (now - this.#shedLoggedAt > 10_000) {
      this.#shedLoggedAt = now
      this.#options.log?.('warn', 'turning new connections away', {
        reason,
        clients: this.#local.size,
        loopDelayMs: this.#load.loopDelayMs,
        loopUtilization: this.#load.loopUtilization,
      })
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const err = Object.assign(new SmolDeskError('OVERLOADED', `${reason}; try again shortly`), {
        retryAfterMs: SHED_RETRY_MS,
      })
      send(ws, errorMessage(err))
      ws.close(1013, 'overloaded')
    })
  }

  /** Serves GET /health and GET /metrics; returns false for any other request. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (path.startsWith('/auth/') && this.#options.sso)
      return this.#options.sso.handle(req, res, this.#baseUrl(req))
    if (req.method !== 'GET') return false
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(
        JSON.stringify({
          status: 'ok',
          instance: this.#bus.instanceId,
          clients: this.#local.size,
          rooms: this.#roomsHosted,
          relayed: this.#relayed,
          loopDelayMs: this.#load.loopDelayMs,
          loopUtilization: this.#load.loopUtilization,
        }),
      )
      return true
    }
    if (path === '/metrics') {
      this.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      )
      return true
    }
    return false
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#load.close()
    for (const timer of this.#timers) clearInterval(timer)
    for (const timer of this.#graceTimers.values()) clearTimeout(timer)
    this.#graceTimers.clear()
    this.#outboxes.clear()
    for (const conn of this.#local.values()) conn.ws.close(1001, 'server shutting down')
    this.#wss.close()
    await this.#bus.close()
    await this.#store.close()
  }

  /** The address limits count this client under (see addressKey). */
  #clientIp(req: IncomingMessage): string {
    if (this.#options.trustProxy) {
      const forwarded = req.headers['x-forwarded-for']
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim()
      if (first) return addressKey(first)
    }
    return addressKey(req.socket.remoteAddress ?? 'unknown')
  }

  /**
   * Whom the handshake's session cookie names. Only for a page of this very
   * origin (or a client that is no browser and sends no Origin): another
   * site's page opening a WebSocket here must not act as the person whose
   * browser it runs in.
   */
  #identityOf(req: IncomingMessage): VerifiedIdentity | undefined {
    const sso = this.#options.sso
    if (!sso) return undefined
    const origin = req.headers.origin
    if (origin !== undefined && origin !== this.#baseUrl(req).origin) return undefined
    return sso.identityOf(req)
  }

  /** This server as the browser sees it (the provider sends people back here). */
  #baseUrl(req: IncomingMessage): URL {
    if (this.#options.publicUrl) return new URL(this.#options.publicUrl)
    const forwarded = this.#options.trustProxy ? req.headers['x-forwarded-proto'] : undefined
    const scheme =
      (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim() ??
      ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http')
    return new URL(`${scheme === 'https' ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`)
  }

  #onConnection(
    ws: WebSocket,
    ip: string,
    acks: boolean,
    identity: VerifiedIdentity | undefined,
    resumeOnly: boolean,
  ): void {
    const token = newToken()
    const conn: Connection = {
      id: randomBytes(9).toString('base64url'),
      ws,
      ip,
      // A newcomer starts with one second's worth, not the whole burst: joining takes a dozen
      // messages, and a storm of fresh connections must not each bring a free burst to parse.
      bucket: new TokenBucket(
        this.#limits.messagesPerSecond,
        this.#limits.messageBurst,
        performance.now(),
        this.#limits.messagesPerSecond,
      ),
      queue: Promise.resolve(),
      missedPings: 0,
      limitedAt: 0,
      fresh: true,
      resumeHash: sha256(token),
      acks,
      held: undefined,
      identity,
      resumeOnly,
    }
    if (acks) this.#outboxes.set(conn.id, new Outbox(MAX_UNACKED))
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1)
    this.#local.set(conn.id, conn)
    this.metrics.connections.inc()
    conn.queue = this.#markPresent(conn)
      .then(() =>
        send(ws, {
          type: 'welcome',
          clientId: conn.id,
          token,
          heartbeatMs: this.#heartbeatMs,
          ...(identity && { identity }),
        }),
      )
      .catch((err: unknown) => {
        this.#logError(err)
        ws.close(1011, 'signaling store unavailable')
      })
    ws.on('message', (data, isBinary) => this.#onMessage(conn, data, isBinary))
    ws.on('close', (code) => {
      this.metrics.connections.dec()
      const left = (this.#perIp.get(ip) ?? 1) - 1
      if (left > 0) this.#perIp.set(ip, left)
      else this.#perIp.delete(ip)
      // Shutting down: the clients' records are left to expire (the store is closing too).
      if (this.#closed) return
      conn.queue = conn.queue
        .then(() => this.#onClose(conn, code))
        .catch((err: unknown) => this.#logError(err))
    })
    ws.on('error', () => {})
  }

  #onMessage(conn: Connection, data: unknown, isBinary: boolean): void {
    conn.missedPings = 0
    const received = performance.now()
    // Rate limits come first and cost nothing but a subtraction: a flood is dropped unparsed.
    if (!conn.bucket.take() || !this.#ipBuckets.take(conn.ip)) {
      this.metrics.rateLimited.inc({ scope: 'messages' })
      if (received - conn.limitedAt > 1000) {
        conn.limitedAt = received
        this.#sendError(conn, new SmolDeskError('RATE_LIMITED', 'too many messages; slow down'))
      }
      return
    }
    let message: ClientMessage
    try {
      if (isBinary) throw new SmolDeskError('INVALID_REQUEST', 'signaling takes JSON text messages')
      let raw: unknown
      try {
        raw = JSON.parse(String(data))
      } catch {
        throw new SmolDeskError('INVALID_JSON', 'message is not valid JSON')
      }
      const parsed = ClientMessageSchema.safeParse(raw)
      if (!parsed.success) throw new SmolDeskError('INVALID_REQUEST', describeZodError(parsed.error))
      message = parsed.data
    } catch (err) {
      this.#sendError(conn, err)
      return
    }
    if (conn.resumeOnly && message.type !== 'resume' && message.type !== 'ping' && message.type !== 'pong') {
      this.#sendError(
        conn,
        Object.assign(
          new SmolDeskError(
            'OVERLOADED',
            'the signaling server is too busy for new sessions; try again shortly',
          ),
          {
            retryAfterMs: SHED_RETRY_MS,
          },
        ),
      )
      conn.ws.close(1013, 'overloaded')
      return
    }
    this.metrics.messages.inc({ type: message.type })
    conn.queue = conn.queue
      .then(() => this.#handle(conn, message))
      .catch((err: unknown) => this.#sendError(conn, err))
      .finally(() => {
        // A heartbeat is no request: a client that answered a ping (or sent one) before its
        // resume may still resume (on a loaded machine the first ping can beat the resume).
        if (message.type !== 'ping' && message.type !== 'pong' && message.type !== 'ack') conn.fresh = false
        this.metrics.handleSeconds.observe((performance.now() - received) / 1000)
      })
  }

  async #handle(conn: Connection, msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case 'create-room':
        return this.#createRoom(conn, msg.roomId, msg.password, msg.approval ?? false)
      case 'join-room':
        return this.#joinRoom(conn, msg)
      case 'leave-room': {
        const left = await this.#leave(conn.id)
        if (!left) throw new SmolDeskError('NOT_IN_ROOM', 'not in a room')
        this.#send(conn, { type: 'room-left', roomId: left })
        return
      }
      case 'approve-join':
        return this.#approve(conn, msg.peerId, msg.role)
      case 'update-room':
        return this.#updateRoom(conn, msg.password, msg.approval)
      case 'deny-join': {
        const room = await this.#requireHostOf(conn, msg.peerId, true)
        await this.#store.removeMember(msg.peerId)
        this.metrics.refused.inc({ code: 'JOIN_DENIED' })
        await this.#deliver(msg.peerId, {
          type: 'kicked',
          roomId: room,
          code: 'JOIN_DENIED',
          message: 'the host denied your request to join',
        })
        return
      }
      case 'kick': {
        const room = await this.#requireHostOf(conn, msg.peerId, undefined)
        await this.#store.removeMember(msg.peerId)
        this.metrics.refused.inc({ code: msg.code ?? 'KICKED' })
        await this.#deliver(msg.peerId, {
          type: 'kicked',
          roomId: room,
          code: msg.code ?? 'KICKED',
          message: msg.message ?? 'the host removed you from the room',
        })
        this.#send(conn, { type: 'peer-left', peerId: msg.peerId })
        return
      }
      case 'resume':
        return this.#resume(conn, msg.clientId, msg.token, msg.received)
      case 'offer':
      case 'answer':
        return this.#relay(conn.id, msg.targetId, { type: msg.type, fromId: conn.id, sdp: msg.sdp })
      case 'ice-candidate':
        return this.#relay(conn.id, msg.targetId, {
          type: 'ice-candidate',
          fromId: conn.id,
          candidate: msg.candidate,
        })
      case 'ping':
        this.#send(conn, { type: 'pong' })
        return
      case 'pong':
        return
      case 'ack':
        this.#outboxes.get(conn.id)?.ack(msg.received)
        return
    }
  }

  async #createRoom(
    conn: Connection,
    requestedId: string | undefined,
    password: string | undefined,
    approval: boolean,
  ): Promise<void> {
    await this.#leave(conn.id)
    const room: RoomRecord = {
      id: requestedId ?? randomRoomCode(),
      hostId: conn.id,
      approval,
      ...(password ? { passwordHash: await hashPassword(password) } : {}),
    }
    if (!(await this.#store.createRoom(room))) {
      throw new SmolDeskError('ROOM_EXISTS', `room ${room.id} already exists`)
    }
    await this.#store.putMember(conn.id, { roomId: room.id, role: 'host', pending: false })
    this.#roomsHosted++
    this.metrics.rooms.inc()
    this.#send(conn, { type: 'room-created', roomId: room.id, iceServers: this.#iceServers(conn.id) })
    this.#options.log?.('info', 'room created', { roomId: room.id, approval, password: Boolean(password) })
  }

  async #updateRoom(
    conn: Connection,
    password: string | undefined,
    approval: boolean | undefined,
  ): Promise<void> {
    const [self] = await this.#store.getMembers([conn.id])
    if (self?.role !== 'host') throw new SmolDeskError('FORBIDDEN', 'only a room’s host may change it')
    const room = await this.#store.getRoom(self.roomId)
    if (!room) throw new SmolDeskError('ROOM_NOT_FOUND', `room ${self.roomId} does not exist`)
    const next: RoomRecord = { id: room.id, hostId: room.hostId, approval: approval ?? room.approval }
    const hash =
      password === undefined ? room.passwordHash : password ? await hashPassword(password) : undefined
    if (hash) next.passwordHash = hash
    await this.#store.updateRoom(next)
    this.#send(conn, {
      type: 'room-updated',
      roomId: room.id,
      password: Boolean(hash),
      approval: next.approval,
    })
    this.#options.log?.('info', 'room updated', {
      roomId: room.id,
      approval: next.approval,
      password: Boolean(hash),
    })
  }

  async #joinRoom(conn: Connection, msg: Extract<ClientMessage, { type: 'join-room' }>): Promise<void> {
    await this.#checkBackoff(conn.ip)
    const room = await this.#store.getRoom(msg.roomId)
    if (!room) {
      await this.#authFailed(conn.ip, 'room')
      throw new SmolDeskError('ROOM_NOT_FOUND', `no room ${msg.roomId}`)
    }
    if (room.passwordHash) {
      // No password at all is no guess (a viewer page asks without one first, to learn that the
      // room has one): it is answered without counting against anyone.
      if (!msg.password) throw new SmolDeskError('UNAUTHORIZED', 'this room needs a password')
      if (!this.#roomGuesses.take(room.id)) {
        this.metrics.rateLimited.inc({ scope: 'room-auth' })
        throw Object.assign(
          new SmolDeskError(
            'RATE_LIMITED',
            'this room is getting too many password attempts; try again shortly',
          ),
          { retryAfterMs: 1000 / this.#limits.roomGuessesPerSecond },
        )
      }
      if (!(await verifyPassword(msg.password ?? '', room.passwordHash))) {
        await this.#authFailed(conn.ip, 'password')
        throw new SmolDeskError('UNAUTHORIZED', 'wrong room password')
      }
    }
    // Failures are not forgiven by a success: the right password of a room of one's own must not
    // buy more guesses at someone else's. They are forgotten when the failure window ends.
    const [current] = await this.#store.getMembers([conn.id])
    if (current?.roomId !== room.id) await this.#leave(conn.id)
    else if (!current.pending) throw new SmolDeskError('INVALID_REQUEST', 'already in this room')
    const role: ViewerRole = msg.role ?? 'viewer'
    const member: MemberRecord = {
      roomId: room.id,
      role,
      pending: room.approval,
      token: msg.token,
      identity: conn.identity,
    }
    await this.#store.putMember(conn.id, member)
    if (room.approval) {
      this.#send(conn, { type: 'join-pending', roomId: room.id })
      await this.#deliver(room.hostId, {
        type: 'join-request',
        peerId: conn.id,
        role,
        ...(msg.token !== undefined && { token: msg.token }),
        ...(conn.identity && { identity: conn.identity }),
      })
      return
    }
    await this.#admit(conn.id, room, member)
  }

  async #approve(host: Connection, peerId: string, granted: ViewerRole | undefined): Promise<void> {
    const roomId = await this.#requireHostOf(host, peerId, true)
    const [[member], room] = await Promise.all([
      this.#store.getMembers([peerId]),
      this.#store.getRoom(roomId),
    ])
    if (!member || !room) throw new SmolDeskError('PEER_NOT_FOUND', `no pending peer ${peerId}`)
    // The smaller of what the viewer asked for and what the host grants.
    const role: RoomRole = member.role === 'view-only' || granted === 'view-only' ? 'view-only' : 'viewer'
    await this.#admit(peerId, room, { ...member, role, pending: false })
  }

  async #admit(clientId: string, room: RoomRecord, member: MemberRecord): Promise<void> {
    await this.#store.putMember(clientId, { ...member, pending: false })
    await this.#deliver(clientId, {
      type: 'room-joined',
      roomId: room.id,
      // A viewer talks to the host only, so it is told of the host only.
      peers: [room.hostId],
      iceServers: this.#iceServers(clientId),
      role: member.role,
    })
    await this.#deliver(room.hostId, {
      type: 'peer-joined',
      peerId: clientId,
      role: member.role,
      ...(member.token !== undefined && { token: member.token }),
      ...(member.identity && { identity: member.identity }),
    })
  }

  /** The room of which `host` is the host and `peerId` a (pending, if asked) member. */
  async #requireHostOf(host: Connection, peerId: string, pending: boolean | undefined): Promise<string> {
    const [self, peer] = await this.#store.getMembers([host.id, peerId])
    if (self?.role !== 'host') throw new SmolDeskError('FORBIDDEN', 'only the room’s host may do this')
    if (
      !peer ||
      peer.roomId !== self.roomId ||
      peer.role === 'host' ||
      (pending !== undefined && peer.pending !== pending)
    ) {
      throw new SmolDeskError('PEER_NOT_FOUND', `no ${pending ? 'pending ' : ''}peer ${peerId} in your room`)
    }
    return self.roomId
  }

  async #resume(
    conn: Connection,
    clientId: string,
    token: string,
    received: number | undefined,
  ): Promise<void> {
    if (!conn.fresh) throw new SmolDeskError('INVALID_REQUEST', 'resume must be the first message')
    await this.#checkBackoff(conn.ip)
    const record = await this.#store.getClient(clientId)
    if (!record || record.resumeHash !== sha256(token)) {
      await this.#authFailed(conn.ip, 'resume')
      // Let in past a busy loop only to resume: with nothing to resume, it goes.
      if (conn.resumeOnly) setTimeout(() => conn.ws.close(1013, 'overloaded'), 100).unref()
      throw new SmolDeskError('RESUME_FAILED', 'nothing to resume: start a new session')
    }
    // What the client says it got decides what it is sent again; a client too far behind to be
    // caught up starts a new session (it joins again and is told everything afresh).
    const outbox = this.#outboxes.get(clientId)
    const missing = received !== undefined && outbox ? outbox.since(received) : { replay: [], lost: 0 }
    if (missing.lost > 0) {
      throw new SmolDeskError('RESUME_FAILED', `${missing.lost} messages were missed: start a new session`)
    }
    let takenOver = false
    if (record.instance !== null) {
      // The old connection may be half-open (a dropped network the server has not noticed yet):
      // the token proves who this is, so the new connection replaces it here. On another
      // instance that is still running it is left to that instance's heartbeat, and the client
      // retries; an instance that died (its alive key expired) has nobody to ask, so the
      // session moves here.
      const old = this.#local.get(clientId)
      if (record.instance === this.#bus.instanceId && old) {
        this.#local.delete(clientId)
        old.ws.terminate()
      } else if (record.instance === this.#bus.instanceId || (await this.#bus.alive(record.instance))) {
        // Not RESUME_FAILED: the session is alive, and a client that retries gets it back.
        throw Object.assign(
          new SmolDeskError('UNAVAILABLE', 'this session is still connected elsewhere; retry shortly'),
          { retryAfterMs: 1000 },
        )
      } else takenOver = true
    }
    clearTimeout(this.#graceTimers.get(clientId))
    this.#graceTimers.delete(clientId)
    // The connection takes over the old identity (and its outbox); its fresh one is forgotten.
    await this.#store.deleteClient(conn.id)
    this.#local.delete(conn.id)
    this.#outboxes.delete(conn.id)
    conn.id = clientId
    conn.held = []
    // Back in its room: from here it is a connection like any other.
    conn.resumeOnly = false
    this.#local.set(clientId, conn)
    // An outbox kept elsewhere (another instance) is not here: numbering goes on from the client's count.
    const box = conn.acks ? (outbox ?? new Outbox(MAX_UNACKED, received ?? 0)) : undefined
    if (box) this.#outboxes.set(clientId, box)
    else this.#outboxes.delete(clientId)
    // What this instance relayed to it over there and may not have reached it comes first.
    if (takenOver) this.#bus.arrived(clientId)
    const from = received ?? box?.sent ?? 0
    const next = newToken()
    conn.resumeHash = sha256(next)
    try {
      await this.#markPresent(conn)
      const [[member], queued] = await Promise.all([
        this.#store.getMembers([clientId]),
        this.#store.drain(clientId),
      ])
      send(conn.ws, {
        type: 'resumed',
        clientId,
        token: next,
        ...(member && { roomId: member.roomId }),
      })
      // What the old connection swallowed and what came while this was set up (both numbered
      // already), then what waited in the queue.
      const replay = box ? box.since(from).replay : conn.held
      for (const message of replay) if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(message)
      conn.held = undefined
      for (const message of queued) this.#transmit(conn, message)
      this.#options.log?.('info', 'client resumed', {
        clientId,
        replayed: replay.length,
        queued: queued.length,
      })
    } finally {
      conn.held = undefined
    }
  }

  /**
   * Relays between a room's host and one of its admitted viewers, never
   * viewer to viewer. Whatever goes wrong (the store unreachable too) is
   * answered with the target and the kind of message, so a sender can
   * account for each message it sent.
   */
  async #relay(fromId: string, targetId: string, message: ServerMessage): Promise<void> {
    try {
      await this.#relayChecked(fromId, targetId, message)
    } catch (err) {
      // Anything but our own refusals is the shared store failing (Redis away): not relayed.
      const error =
        err instanceof SmolDeskError
          ? err
          : new SmolDeskError('UNAVAILABLE', 'the signaling store is unreachable; not relayed, send again', {
              cause: err,
            })
      throw Object.assign(error, { targetId, refused: message.type })
    }
  }

  async #relayChecked(fromId: string, targetId: string, message: ServerMessage): Promise<void> {
    const [from, to] = await this.#store.getMembers([fromId, targetId])
    if (
      !from ||
      !to ||
      from.pending ||
      to.pending ||
      from.roomId !== to.roomId ||
      (from.role !== 'host' && to.role !== 'host')
    ) {
      // A peer elsewhere is indistinguishable from no peer.
      throw new SmolDeskError('PEER_NOT_FOUND', `no peer ${targetId} in your room`)
    }
    this.#relayed++
    this.metrics.relayed.inc()
    // Numbered per sender, so a target given a message twice (sent again after an instance
    // died before its acknowledgement came back) keeps one.
    const n = (this.#relaySeq.get(fromId) ?? 0) + 1
    this.#relaySeq.set(fromId, n)
    await this.#deliver(targetId, { ...message, seq: [this.#bus.instanceId, n] } as ServerMessage, fromId)
  }

  /**
   * A client that closed on purpose (1000, or 1001 when a tab closes) has
   * left; one whose connection dropped keeps its place for the grace period.
   */
  async #onClose(conn: Connection, code: number): Promise<void> {
    if (this.#local.get(conn.id) !== conn) return
    this.#local.delete(conn.id)
    const [member] = await this.#store.getMembers([conn.id])
    if (!member || code === 1000 || code === 1001) {
      if (member) await this.#leave(conn.id)
      await this.#store.deleteClient(conn.id)
      this.#outboxes.delete(conn.id)
      this.#relaySeq.delete(conn.id)
      return
    }
    // Away, not gone: the room keeps its place for a while so it can resume.
    await this.#store.putClient(
      conn.id,
      { instance: null, resumeHash: conn.resumeHash },
      this.#graceMs + SWEEP_MS,
    )
    const clientId = conn.id
    this.#graceTimers.set(
      clientId,
      setTimeout(() => {
        this.#graceTimers.delete(clientId)
        this.#expire(clientId).catch((err: unknown) => this.#logError(err))
      }, this.#graceMs).unref(),
    )
  }

  async #expire(clientId: string): Promise<void> {
    const record = await this.#store.getClient(clientId)
    if (record && record.instance !== null) return // resumed, perhaps on another instance
    this.#outboxes.delete(clientId)
    this.#relaySeq.delete(clientId)
    await this.#leave(clientId)
    await this.#store.deleteClient(clientId)
  }

  /** Leaves the client's room; a host leaving closes the room. Returns the room left. */
  async #leave(clientId: string): Promise<string | undefined> {
    const member = await this.#store.removeMember(clientId)
    if (!member) return undefined
    if (member.role === 'host') {
      const members = await this.#store.deleteRoom(member.roomId)
      this.#roomsHosted = Math.max(0, this.#roomsHosted - 1)
      this.metrics.rooms.dec()
      await Promise.all(
        members.map(async (peer) => {
          await this.#deliver(peer, { type: 'peer-left', peerId: clientId })
          await this.#deliver(peer, { type: 'room-left', roomId: member.roomId })
        }),
      )
    } else {
      const room = await this.#store.getRoom(member.roomId)
      if (room) await this.#deliver(room.hostId, { type: 'peer-left', peerId: clientId })
    }
    return member.roomId
  }

  /**
   * Sends to a client wherever it is: here, on another instance, or queued
   * while it is away. A relayed message (one with a sender) that cannot be
   * taken throws TARGET_GONE or OVERLOADED for its sender; the server's own
   * messages to a client that is gone are dropped with it.
   */
  async #deliver(clientId: string, message: ServerMessage, senderId?: string): Promise<void> {
    const json = JSON.stringify(message)
    const local = this.#local.get(clientId)
    if (local) {
      this.#transmit(local, json, senderId)
      return
    }
    const record = await this.#store.getClient(clientId)
    let refused: 'TARGET_GONE' | 'OVERLOADED' | undefined
    if (!record) refused = 'TARGET_GONE'
    else if (record.instance === null || record.instance === this.#bus.instanceId) {
      if (!(await this.#store.enqueue(clientId, json, MAX_QUEUED))) refused = 'OVERLOADED'
    } else if (!this.#bus.publish(record.instance, clientId, json, senderId)) refused = 'OVERLOADED'
    if (refused && senderId) throw relayError(refused, clientId, message.type)
  }

  /** What another instance's relay handed us for a client of ours. */
  #deliverLocal(clientId: string, json: string, senderId: string | undefined): void {
    const local = this.#local.get(clientId)
    if (local) this.#transmit(local, json, senderId)
    else this.#queueFor(clientId, json, senderId)
  }

  /** Keeps a message for a client that is away; a full queue is its sender's OVERLOADED. */
  #queueFor(clientId: string, json: string, senderId: string | undefined): void {
    this.#store.enqueue(clientId, json, MAX_QUEUED).then(
      (kept) => {
        if (!kept) this.#undeliverable(senderId, clientId, json, 'OVERLOADED')
      },
      (err: unknown) => {
        this.#logError(err)
        this.#undeliverable(senderId, clientId, json, 'OVERLOADED')
      },
    )
  }

  /** A relayed message that could not be delivered: its sender hears of it, wherever it is. */
  #undeliverable(
    senderId: string | undefined,
    clientId: string,
    json: string,
    code: 'TARGET_GONE' | 'OVERLOADED',
  ): void {
    this.metrics.errors.inc({ code })
    let type: unknown
    try {
      type = (JSON.parse(json) as { type?: unknown }).type
    } catch {}
    if (!senderId) {
      this.#options.log?.('warn', 'message for a client could not be delivered', { clientId, code, type })
      return
    }
    const error = relayError(code, clientId, typeof type === 'string' ? type : '')
    this.#deliver(senderId, errorMessage(error)).catch((err: unknown) => this.#logError(err))
  }

  #send(conn: Connection, message: ServerMessage): void {
    this.#transmit(conn, JSON.stringify(message))
  }

  /**
   * Writes to a client's connection, numbering the message in its outbox
   * first: a connection that looks open may be half-open, and one that is
   * closing has not been handed to #onClose yet; either way a resume gets
   * the message again. A client without an outbox gets it queued for its
   * resume when the connection is no longer open.
   */
  #transmit(conn: Connection, json: string, senderId?: string): void {
    const outbox = this.#outboxes.get(conn.id)
    outbox?.push(json)
    if (conn.held) {
      if (!outbox) conn.held.push(json)
    } else if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(json)
    else if (!outbox) this.#queueFor(conn.id, json, senderId)
  }

  #heartbeat(): void {
    for (const conn of this.#local.values()) {
      if (conn.missedPings >= 2) {
        conn.ws.terminate()
        continue
      }
      conn.missedPings++
      this.#send(conn, { type: 'ping' })
      // Keeps the presence record alive; a crashed instance's clients expire on their own.
      this.#markPresent(conn).catch((err: unknown) => this.#logError(err))
    }
  }

  /** Records that the client is connected here (a connection here always owns its record: see #resume). */
  #markPresent(conn: Connection): Promise<void> {
    return this.#store.putClient(
      conn.id,
      { instance: this.#bus.instanceId, resumeHash: conn.resumeHash },
      this.#clientTtlMs(),
    )
  }

  #clientTtlMs(): number {
    return Math.max(3 * this.#heartbeatMs, this.#graceMs + SWEEP_MS)
  }

  async #checkBackoff(ip: string): Promise<void> {
    const failures = await this.#store.authFailures(ip)
    if (!failures) return
    const wait = backoffRemainingMs(failures.count, failures.lastMs, this.#limits.backoff)
    if (wait > 0) {
      this.metrics.rateLimited.inc({ scope: 'auth' })
      throw Object.assign(
        new SmolDeskError(
          'RATE_LIMITED',
          `too many failed attempts; try again in ${Math.ceil(wait / 1000)} s`,
        ),
        { retryAfterMs: wait },
      )
    }
  }

  async #authFailed(ip: string, reason: 'room' | 'password' | 'resume'): Promise<void> {
    this.metrics.authFailures.inc({ reason })
    const failures = await this.#store.recordAuthFailure(ip, this.#limits.failureWindowMs)
    if (failures.count >= this.#limits.backoff.free) {
      this.#options.log?.('warn', 'repeated failed attempts', { ip, count: failures.count, reason })
    }
  }

  #iceServers(clientId: string): IceServer[] {
    const servers = [...(this.#options.iceServers?.() ?? [])]
    if (this.#options.turn) servers.push(turnCredentials(this.#options.turn, clientId))
    return servers
  }

  #sendError(conn: Connection, err: unknown): void {
    const error = SmolDeskError.from(err)
    if (error.code === 'INTERNAL') this.#logError(err)
    this.metrics.errors.inc({ code: error.code })
    this.#send(conn, errorMessage(err))
  }

  #logError(err: unknown): void {
    this.#options.log?.('warn', 'signaling error', { err: String(err) })
  }
}

/** A relayed message refused for its sender, saying for whom and what it was. */
function relayError(code: 'TARGET_GONE' | 'OVERLOADED', targetId: string, type: string): SmolDeskError {
  const what = type === 'offer' || type === 'answer' || type === 'ice-candidate' ? type : undefined
  const message =
    code === 'TARGET_GONE'
      ? `${what ?? 'message'} for ${targetId} not delivered: the peer is gone`
      : `${what ?? 'message'} for ${targetId} not delivered: too much is waiting for it; slow down`
  return Object.assign(new SmolDeskError(code, message), {
    targetId,
    ...(what && { refused: what }),
    ...(code === 'OVERLOADED' && { retryAfterMs: 1000 }),
  })
}

/** The `error` message for a SmolDeskError, with what it carries for the client (retry time, target). */
function errorMessage(err: unknown): ServerMessage {
  const error = SmolDeskError.from(err)
  const extra = err as {
    retryAfterMs?: number
    targetId?: string
    refused?: 'offer' | 'answer' | 'ice-candidate'
  }
  return {
    type: 'error',
    code: error.code,
    message: error.message,
    ...(extra.retryAfterMs !== undefined && { retryAfterMs: Math.ceil(extra.retryAfterMs) }),
    ...(extra.targetId !== undefined && { targetId: extra.targetId }),
    ...(extra.refused !== undefined && { refused: extra.refused }),
  }
}

function send(ws: WebSocket, message: ServerMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message))
}
