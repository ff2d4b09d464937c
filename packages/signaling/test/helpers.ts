import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type ServerMessage, SignalingClient } from '@smoldesk/protocol'
import { type SignalingOptions, SignalingServer } from '../src/index.ts'

export /** Collects what a client receives, to wait for one message of a type. */
function inbox(client: SignalingClient) {
  const messages: ServerMessage[] = []
  client.onMessage((m) => messages.push(m))
  return {
    messages,
    next<T extends ServerMessage['type']>(
      type: T,
      timeoutMs = 3000,
    ): Promise<Extract<ServerMessage, { type: T }>> {
      return new Promise((resolve, reject) => {
        const started = Date.now()
        const poll = () => {
          const index = messages.findIndex((m) => m.type === type)
          if (index >= 0) {
            const [found] = messages.splice(index, 1)
            resolve(found as Extract<ServerMessage, { type: T }>)
          } else if (Date.now() - started > timeoutMs) reject(new Error(`no ${type}`))
          else setTimeout(poll, 10)
        }
        poll()
      })
    },
  }
}

export interface RunningSignaling {
  server: SignalingServer
  http: Server
  url: string
  httpUrl: string
  close(): Promise<void>
}

/**
 * An HTTP server listening on a free loopback port, serving nothing yet
 * (startSignaling serves on it): its port is known, and held, before the
 * signaling server's options are, as a provider's redirect URIs need.
 * A port picked, released and bound again later was taken in between once
 * (EADDRINUSE in CI).
 */
export async function listeningHttp(): Promise<Server> {
  const http = createServer()
  await listen(http, 0)
  return http
}

/** A signaling server on a free loopback port, on `port`, or on an HTTP server already listening. */
export async function startSignaling(
  options: SignalingOptions = {},
  at: number | Server = 0,
): Promise<RunningSignaling> {
  const server = new SignalingServer(options)
  const http = typeof at === 'number' ? createServer() : at
  http.on('request', (req, res) => {
    if (!server.handleHttp(req, res)) res.writeHead(404).end()
  })
  http.on('upgrade', (req, socket, head) => server.handleUpgrade(req, socket, head))
  if (!http.listening) await listen(http, typeof at === 'number' ? at : 0)
  const bound = (http.address() as AddressInfo).port
  return {
    server,
    http,
    url: `ws://127.0.0.1:${bound}`,
    httpUrl: `http://127.0.0.1:${bound}`,
    async close() {
      await server.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

/** Listens on a loopback port; fails (EADDRINUSE…) instead of waiting for ever. */
function listen(http: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, '127.0.0.1', () => {
      http.off('error', reject)
      resolve()
    })
  })
}

/** Connects a client and collects what it receives. */
export async function connectClient(url: string) {
  const client = await SignalingClient.connect(url)
  return { client, box: inbox(client) }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
