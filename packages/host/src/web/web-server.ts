import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  DEFAULT_HTTP_GUARD,
  guardHttpServer,
  HTTP_TIMEOUT_CHECK_MS,
  type SignalingOptions,
  SignalingServer,
} from '@smoldesk/signaling'
import { createLogger } from '../log.ts'
import { serveDist } from './static-files.ts'

const log = createLogger('web')

export interface WebServerOptions {
  host: string
  /** Tried first; if taken, a free port is used instead (unless strictPort). */
  port: number
  strictPort?: boolean
  /** Serve HTTPS/WSS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string } | undefined
  /** TURN, Redis, limits, proxy trust for the signaling server. */
  signaling?: SignalingOptions
}

/**
 * The one HTTP(S) port of `smoldesk start`: the viewer app, the signaling
 * WebSocket at /signal, GET /health and GET /metrics. With TLS, the host's
 * own signaling connection uses a second, plain listener on 127.0.0.1 that
 * serves nothing but /signal, so it needs no certificate for "127.0.0.1".
 */
export class WebServer {
  readonly signaling: SignalingServer
  readonly #http: Server
  readonly #internal: Server | undefined
  readonly #host: string
  readonly #tls: boolean
  #port = 0
  #internalPort = 0

  private constructor(options: WebServerOptions, tls: { cert: Buffer; key: Buffer } | undefined) {
    this.#host = options.host
    this.#tls = tls !== undefined
    this.signaling = new SignalingServer({
      log: (level, message, fields) => log[level](fields ?? {}, message),
      processMetrics: true,
      ...options.signaling,
    })
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      this.#serve(req, res).catch((err: unknown) => {
        log.error({ err: String(err) }, 'request failed')
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    }
    let lastRefusalLog = 0
    const timeouts = { connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_MS }
    this.#http = tls
      ? createTlsServer({ cert: tls.cert, key: tls.key, ...timeouts }, onRequest)
      : createServer(timeouts, onRequest)
    guardHttpServer(this.#http, {
      ...DEFAULT_HTTP_GUARD,
      trustProxy: options.signaling?.trustProxy ?? false,
      onRefused: (address) => {
        this.signaling.metrics.rateLimited.inc({ scope: 'sockets' })
        // Said once a second at most: a flood must not become a flood of log lines.
        const now = Date.now()
        if (now - lastRefusalLog < 1000) return
        lastRefusalLog = now
        log.warn({ address }, 'too many open sockets from one address; refused')
      },
    })
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head))
    if (tls) {
      this.#internal = createServer((_req, res) => res.writeHead(404).end())
      this.#internal.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head))
    }
  }

  static async start(options: WebServerOptions): Promise<WebServer> {
    const tls = options.tls
      ? { cert: await readFile(options.tls.cert), key: await readFile(options.tls.key) }
      : undefined
    const server = new WebServer(options, tls)
    try {
      server.#port = await listen(server.#http, options.host, options.port)
    } catch (err) {
      if (options.strictPort || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
      log.warn({ port: options.port }, 'port taken; using a free one')
      server.#port = await listen(server.#http, options.host, 0)
    }
    if (server.#internal) server.#internalPort = await listen(server.#internal, '127.0.0.1', 0)
    log.info({ host: options.host, port: server.#port, tls: server.#tls }, 'web server listening')
    return server
  }

  get port(): number {
    return this.#port
  }

  /** The address a browser on this machine uses. */
  get baseUrl(): string {
    const host = this.#host === '0.0.0.0' || this.#host === '::' ? '127.0.0.1' : this.#host
    return `${this.#tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${this.#port}`
  }

  /** Where browsers connect for signaling. */
  get signalingUrl(): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}/signal`
  }

  /** Where a host on this machine connects for signaling (plain loopback when TLS is on). */
  get localSignalingUrl(): string {
    return this.#internal ? `ws://127.0.0.1:${this.#internalPort}/signal` : this.signalingUrl
  }

  async close(): Promise<void> {
    await this.signaling.close()
    await Promise.all(
      [this.#http, this.#internal].map(
        (server) =>
          new Promise<void>((resolveClose) => {
            if (!server) return resolveClose()
            server.close(() => resolveClose())
            server.closeAllConnections()
          }),
      ),
    )
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (path === '/signal') this.signaling.handleUpgrade(req, socket, head)
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.signaling.handleHttp(req, res)) return
    // The viewer app; the host's control page is served by the host's IPC port only.
    await serveDist(req, res, { page: '/index.html', allowed: (path) => path !== '/control.html' })
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolveListen((server.address() as AddressInfo).port)
    })
  })
}
