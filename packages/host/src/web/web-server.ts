import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { SignalingServer } from '@smoldesk/signaling'
import { createLogger } from '../log.ts'

const log = createLogger('web')

/** The built viewer (vite build output), served as static files. */
export const VIEWER_DIST = resolve(import.meta.dirname, '../../../viewer/dist')

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

export interface WebServerOptions {
  host: string
  /** Tried first; if taken, a free port is used instead (unless strictPort). */
  port: number
  strictPort?: boolean
}

/**
 * The one HTTP port of `smoldesk start`: the viewer app, the signaling
 * WebSocket at /signal and GET /health.
 */
export class WebServer {
  readonly signaling = new SignalingServer({
    log: (level, message, fields) => log[level](fields ?? {}, message),
  })
  readonly #http: Server
  readonly #host: string
  #port = 0

  private constructor(host: string) {
    this.#host = host
    this.#http = createServer((req, res) => {
      this.#serve(req, res).catch((err: unknown) => {
        log.error({ err: String(err) }, 'request failed')
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    })
    this.#http.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname
      if (path === '/signal') this.signaling.handleUpgrade(req, socket, head)
      else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    })
  }

  static async start(options: WebServerOptions): Promise<WebServer> {
    const server = new WebServer(options.host)
    try {
      await server.#listen(options.port)
    } catch (err) {
      if (options.strictPort || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
      log.warn({ port: options.port }, 'port taken; using a free one')
      await server.#listen(0)
    }
    log.info({ host: options.host, port: server.#port }, 'web server listening')
    return server
  }

  get port(): number {
    return this.#port
  }

  /** The address a browser on this machine uses. */
  get baseUrl(): string {
    const host = this.#host === '0.0.0.0' || this.#host === '::' ? '127.0.0.1' : this.#host
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.#port}`
  }

  get signalingUrl(): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}/signal`
  }

  close(): Promise<void> {
    this.signaling.close()
    return new Promise((resolveClose) => {
      this.#http.close(() => resolveClose())
      this.#http.closeAllConnections()
    })
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolveListen, reject) => {
      this.#http.once('error', reject)
      this.#http.listen(port, this.#host, () => {
        this.#http.off('error', reject)
        this.#port = (this.#http.address() as AddressInfo).port
        resolveListen()
      })
    })
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.signaling.handleHttp(req, res)) return
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end()
      return
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
    // Only files inside dist/: a path that normalises outside it is not found.
    const relative = normalize(path === '/' ? '/index.html' : path).replace(/^(\.\.[/\\])+/, '')
    const file = join(VIEWER_DIST, relative)
    if (!file.startsWith(`${VIEWER_DIST}/`)) {
      res.writeHead(404).end()
      return
    }
    try {
      const body = await readFile(file)
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': relative === '/index.html' ? 'no-cache' : 'public, max-age=3600',
        'x-content-type-options': 'nosniff',
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    } catch {
      if (relative === '/index.html') {
        res
          .writeHead(503, { 'content-type': 'text/plain' })
          .end('The viewer is not built: run ./smoldesk setup')
        return
      }
      res.writeHead(404).end()
    }
  }
}
