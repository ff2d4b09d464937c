import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  COMMANDS,
  describeZodError,
  EVENTS,
  type EventName,
  type EventPayload,
  IPC_HARD_LIMIT_BYTES,
  IPC_MAX_MESSAGE_BYTES,
  IPC_SUBPROTOCOL,
  type IpcRequest,
  IpcRequestSchema,
  isCommandName,
  LISTEN_METHOD,
  ListenParamsSchema,
  SmolDeskError,
  UNLISTEN_METHOD,
} from '@smoldesk/protocol'
import { type WebSocket, WebSocketServer } from 'ws'
import { createLogger } from '../log.ts'
import { serveDist } from '../web/static-files.ts'
import { checkUpgrade, hostAllowed } from './auth.ts'

const log = createLogger('ipc')

export type CommandDispatcher = (command: keyof typeof COMMANDS, args: unknown) => Promise<unknown>

export interface IpcServerOptions {
  host: string
  port: number
  token: string
  dispatch: CommandDispatcher
  /** Origins besides the server's own http://127.0.0.1:PORT and http://localhost:PORT. */
  extraOrigins?: readonly string[]
}

interface ClientState {
  subscriptions: Set<EventName>
}

/**
 * The host's IPC: JSON-RPC over WebSocket on 127.0.0.1, behind the per-launch
 * token and an Origin check. Every message is parsed by a schema; anything
 * malformed gets a coded error and the connection (and every other client)
 * keeps being served.
 */
export class IpcServer {
  readonly #options: IpcServerOptions
  readonly #http: Server
  readonly #wss: WebSocketServer
  readonly #clients = new Map<WebSocket, ClientState>()
  #origins = new Set<string>()
  /** The Host headers this port answers to: the origins' host:port. */
  #hosts = new Set<string>()
  #eventId = 0
  #port = 0
  #closing: Promise<void> | undefined

  constructor(options: IpcServerOptions) {
    this.#options = options
    this.#http = createServer((req, res) => {
      if (!hostAllowed(req, this.#hosts)) {
        log.warn({ host: req.headers.host }, 'request for another host name refused')
        res.writeHead(421, { 'content-type': 'text/plain', connection: 'close' })
        res.end('this port answers to 127.0.0.1 and localhost only\n')
        return
      }
      this.#serveControlPage(req, res).catch(() => res.writeHead(500).end())
    })
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: IPC_HARD_LIMIT_BYTES,
      handleProtocols: () => IPC_SUBPROTOCOL,
    })
    this.#http.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head))
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject)
      this.#http.listen(this.#options.port, this.#options.host, () => {
        this.#http.off('error', reject)
        resolve()
      })
    })
    this.#port = (this.#http.address() as AddressInfo).port
    this.#origins = new Set([
      `http://127.0.0.1:${this.#port}`,
      `http://localhost:${this.#port}`,
      ...(this.#options.extraOrigins ?? []),
    ])
    this.#hosts = new Set([...this.#origins].map((o) => new URL(o).host.toLowerCase()))
    log.info({ host: this.#options.host, port: this.#port }, 'IPC listening')
    return this.#port
  }

  get port(): number {
    return this.#port
  }

  /** The control page's address; the token rides in the fragment, which browsers never send. */
  get controlPageUrl(): string {
    return `http://127.0.0.1:${this.#port}/#token=${this.#options.token}`
  }

  /**
   * The host's control page (and its scripts) from the viewer build. The page
   * is no secret: it can do nothing without the token, and the IPC takes the
   * token only from this port's own origin. Framing and foreign scripts are
   * refused by the page's headers.
   */
  async #serveControlPage(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ): Promise<void> {
    const own = [...this.#origins].map((o) => o.replace(/^http/, 'ws')).join(' ')
    await serveDist(req, res, {
      page: '/control.html',
      allowed: (path) => path.startsWith('/assets/'),
      headers: {
        'content-security-policy': `default-src 'self'; connect-src 'self' ${own}; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      },
    })
  }

  get clientCount(): number {
    return this.#clients.size
  }

  /** Sends an event to every client that listens for it; the payload is checked against its schema first. */
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    const parsed = EVENTS[event].safeParse(payload)
    if (!parsed.success) {
      log.error(
        { event, issues: describeZodError(parsed.error) },
        'refusing to emit an event out of contract',
      )
      return
    }
    const id = ++this.#eventId
    const message = JSON.stringify({
      jsonrpc: '2.0',
      method: 'event',
      params: { event, id, payload: parsed.data },
    })
    for (const [socket, state] of this.#clients) {
      if (state.subscriptions.has(event)) socket.send(message)
    }
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const socket of this.#clients.keys()) socket.close(1001, 'host shutting down')
      this.#wss.close()
      this.#http.close(() => resolve())
      this.#http.closeAllConnections()
    })
    return this.#closing
  }

  #onUpgrade(req: import('node:http').IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    const verdict =
      path === '/ipc'
        ? checkUpgrade(req, this.#options.token, this.#origins, this.#hosts)
        : ({ ok: false, status: 400, reason: 'unknown path' } as const)
    if (!verdict.ok) {
      log.warn(
        {
          status: verdict.status,
          reason: verdict.reason,
          origin: req.headers.origin,
          host: req.headers.host,
        },
        'IPC connection refused',
      )
      socket.end(
        `HTTP/1.1 ${verdict.status} ${verdict.reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      )
      return
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws))
  }

  #onConnection(ws: WebSocket): void {
    const state: ClientState = { subscriptions: new Set() }
    this.#clients.set(ws, state)
    ws.on('message', (data, isBinary) => {
      this.#onMessage(ws, state, data as Buffer, isBinary).catch((err: unknown) => {
        log.error({ err: String(err) }, 'IPC message handling failed')
      })
    })
    ws.on('close', () => this.#clients.delete(ws))
    ws.on('error', (err) => log.warn({ err: err.message }, 'IPC socket error'))
  }

  async #onMessage(ws: WebSocket, state: ClientState, data: Buffer, isBinary: boolean): Promise<void> {
    let id: IpcRequest['id'] | null = null
    try {
      if (data.length > IPC_MAX_MESSAGE_BYTES) {
        throw new SmolDeskError(
          'MESSAGE_TOO_LARGE',
          `message has ${data.length} bytes; the limit is ${IPC_MAX_MESSAGE_BYTES}`,
        )
      }
      if (isBinary) throw new SmolDeskError('INVALID_REQUEST', 'the IPC takes JSON text messages')
      let raw: unknown
      try {
        raw = JSON.parse(data.toString('utf8'))
      } catch {
        throw new SmolDeskError('INVALID_JSON', 'message is not valid JSON')
      }
      id = salvageId(raw)
      const parsed = IpcRequestSchema.safeParse(raw)
      if (!parsed.success) {
        throw new SmolDeskError(
          'INVALID_REQUEST',
          `not a JSON-RPC request: ${describeZodError(parsed.error)}`,
        )
      }
      const request = parsed.data
      const result = await this.#handle(state, request)
      send(ws, { jsonrpc: '2.0', id: request.id, result })
    } catch (err) {
      const error = SmolDeskError.from(err)
      if (error.code === 'INTERNAL')
        log.error({ err: error.message, cause: String(error.cause) }, 'command failed')
      send(ws, { jsonrpc: '2.0', id, error: error.toJSON() })
    }
  }

  async #handle(state: ClientState, request: IpcRequest): Promise<unknown> {
    const { method } = request
    if (method === LISTEN_METHOD || method === UNLISTEN_METHOD) {
      const params = ListenParamsSchema.safeParse(request.params ?? {})
      if (!params.success) throw new SmolDeskError('INVALID_ARGS', describeZodError(params.error))
      if (method === LISTEN_METHOD) state.subscriptions.add(params.data.event)
      else state.subscriptions.delete(params.data.event)
      return null
    }
    if (!isCommandName(method)) throw new SmolDeskError('UNKNOWN_COMMAND', `unknown command '${method}'`)
    const args = COMMANDS[method].args.safeParse(request.params ?? {})
    if (!args.success) throw new SmolDeskError('INVALID_ARGS', `${method}: ${describeZodError(args.error)}`)
    const result = await this.#options.dispatch(method, args.data)
    const checked = COMMANDS[method].result.safeParse(result)
    if (!checked.success) {
      throw new SmolDeskError(
        'INTERNAL',
        `${method} produced a result out of contract: ${describeZodError(checked.error)}`,
      )
    }
    return checked.data
  }
}

/** The id of a request that failed validation, when one can be read, so the client can match the error. */
function salvageId(raw: unknown): IpcRequest['id'] | null {
  if (typeof raw !== 'object' || raw === null || !('id' in raw)) return null
  const id = raw.id
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id
  if (typeof id === 'string' && id.length <= 64) return id
  return null
}

function send(ws: WebSocket, message: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message))
}
