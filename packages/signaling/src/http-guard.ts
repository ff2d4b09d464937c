import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { addressKey } from './limits.ts'

/*
 * The HTTP port's own defences, below WebSockets and their limits: a client
 * that opens sockets and dribbles headers byte by byte (slowloris) holds a
 * file descriptor and a parser each, and Node lets it for a minute by
 * default. Here one address holds a bounded number of sockets, and a request
 * whose headers (or whole body) take too long is cut off.
 */

export interface HttpGuardOptions {
  /** Open sockets (HTTP, upgraded WebSockets) from one address; beyond it new ones are closed at once. */
  socketsPerIp: number
  /** A request's headers must have arrived within this time. */
  headersTimeoutMs: number
  /** And the whole request within this one. */
  requestTimeoutMs: number
  /** Behind a reverse proxy every socket is the proxy's: no per-address count then. */
  trustProxy?: boolean
  /** A socket was refused (for logs and metrics). */
  onRefused?: (address: string) => void
}

export const DEFAULT_HTTP_GUARD: Omit<HttpGuardOptions, 'trustProxy' | 'onRefused'> = {
  socketsPerIp: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
}

/**
 * How often Node looks for requests past their timeouts: a constructor
 * option of http(s).createServer (the default, 30 s, would let a slow
 * request live up to 40 s past a 10 s limit).
 */
export const HTTP_TIMEOUT_CHECK_MS = 1000

export function guardHttpServer(server: Server, options: HttpGuardOptions): void {
  server.headersTimeout = options.headersTimeoutMs
  server.requestTimeout = options.requestTimeoutMs
  if (options.trustProxy) return
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress ?? 'unknown')
    const count = open.get(key) ?? 0
    if (count >= options.socketsPerIp) {
      options.onRefused?.(key)
      socket.destroy()
      return
    }
    open.set(key, count + 1)
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1
      if (left > 0) open.set(key, left)
      else open.delete(key)
    })
  })
}
