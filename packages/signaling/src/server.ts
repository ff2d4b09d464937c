import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  type ClientMessage,
  ClientMessageSchema,
  describeZodError,
  type IceServer,
  type ServerMessage,
  SIGNALING_MAX_MESSAGE_BYTES,
  SmolDeskError,
} from '@smoldesk/protocol'
import { type WebSocket, WebSocketServer } from 'ws'
import { RoomRegistry } from './rooms.ts'

export interface SignalingOptions {
  /** ICE servers handed to peers after they create or join a room. */
  iceServers?: () => IceServer[]
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void
}

/**
 * The signaling server: introduces peers in rooms and relays offer, answer
 * and ICE candidates between members of the same room only. It attaches to
 * any HTTP server (the one `smoldesk start` serves the viewer from, or its
 * own for `smoldesk signaling`).
 */
export class SignalingServer {
  readonly rooms = new RoomRegistry()
  readonly #wss: WebSocketServer
  readonly #clients = new Map<string, WebSocket>()
  readonly #options: SignalingOptions
  #relayed = 0

  constructor(options: SignalingOptions = {}) {
    this.#options = options
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: SIGNALING_MAX_MESSAGE_BYTES })
  }

  get clientCount(): number {
    return this.#clients.size
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws))
  }

  /** Serves GET /health; returns false for any other request. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (req.method !== 'GET' || path !== '/health') return false
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        status: 'ok',
        clients: this.#clients.size,
        rooms: this.rooms.roomCount,
        relayed: this.#relayed,
      }),
    )
    return true
  }

  close(): void {
    for (const ws of this.#clients.values()) ws.close(1001, 'server shutting down')
    this.#wss.close()
  }

  #onConnection(ws: WebSocket): void {
    const clientId = randomBytes(9).toString('base64url')
    this.#clients.set(clientId, ws)
    send(ws, { type: 'welcome', clientId, token: randomBytes(16).toString('base64url') })
    ws.on('message', (data, isBinary) => {
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
        this.#handle(clientId, ws, parsed.data)
      } catch (err) {
        const error = SmolDeskError.from(err)
        send(ws, { type: 'error', code: error.code, message: error.message })
      }
    })
    ws.on('close', () => {
      this.#clients.delete(clientId)
      this.#leave(clientId)
    })
    ws.on('error', () => {})
  }

  #handle(clientId: string, ws: WebSocket, msg: ClientMessage): void {
    switch (msg.type) {
      case 'create-room': {
        const roomId = this.rooms.create(clientId, msg.roomId, msg.password)
        send(ws, { type: 'room-created', roomId, iceServers: this.#iceServers() })
        this.#options.log?.('info', 'room created', { roomId })
        return
      }
      case 'join-room': {
        const peers = this.rooms.join(clientId, msg.roomId, msg.password)
        send(ws, { type: 'room-joined', roomId: msg.roomId, peers, iceServers: this.#iceServers() })
        for (const peer of peers) this.#sendTo(peer, { type: 'peer-joined', peerId: clientId })
        return
      }
      case 'leave-room': {
        const left = this.#leave(clientId)
        if (!left) throw new SmolDeskError('NOT_IN_ROOM', 'not in a room')
        send(ws, { type: 'room-left', roomId: left })
        return
      }
      case 'offer':
      case 'answer':
        this.#relay(clientId, msg.targetId, { type: msg.type, fromId: clientId, sdp: msg.sdp })
        return
      case 'ice-candidate':
        this.#relay(clientId, msg.targetId, {
          type: 'ice-candidate',
          fromId: clientId,
          candidate: msg.candidate,
        })
        return
      case 'ping':
        send(ws, { type: 'pong' })
        return
      case 'pong':
        return
    }
  }

  /** Relays only between members of one room: a peer elsewhere is indistinguishable from no peer. */
  #relay(fromId: string, targetId: string, message: ServerMessage): void {
    if (!this.rooms.sameRoom(fromId, targetId)) {
      throw new SmolDeskError('PEER_NOT_FOUND', `no peer ${targetId} in your room`)
    }
    this.#relayed++
    this.#sendTo(targetId, message)
  }

  #leave(clientId: string): string | undefined {
    const left = this.rooms.leave(clientId)
    if (!left) return undefined
    for (const peer of left.remaining) this.#sendTo(peer, { type: 'peer-left', peerId: clientId })
    return left.roomId
  }

  #sendTo(clientId: string, message: ServerMessage): void {
    const ws = this.#clients.get(clientId)
    if (ws) send(ws, message)
  }

  #iceServers(): IceServer[] {
    return this.#options.iceServers?.() ?? []
  }
}

function send(ws: WebSocket, message: ServerMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message))
}
