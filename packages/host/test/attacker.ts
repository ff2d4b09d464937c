import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import WebSocket from 'ws'

/*
 * The attacker's tools: a signaling connection that sends whatever it likes
 * from whichever loopback address it likes (Linux answers all of 127/8, so
 * 127.0.0.x stands in for other machines on the internet), raw HTTP with a
 * Host header of its choosing, and slowly dribbled requests.
 */

export type Received = { type: string; code?: string; [key: string]: unknown }

/** One signaling connection, raw: JSON in, JSON out, nothing checked on our side. */
export class Wire {
  readonly messages: Received[] = []
  readonly ws: WebSocket
  welcome: Received | undefined
  closeCode: number | undefined
  #waiters: (() => void)[] = []

  private constructor(ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as Received
      if (message.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }))
      else this.messages.push(message)
      for (const wake of this.#waiters.splice(0)) wake()
    })
    ws.on('close', (code) => {
      this.closeCode = code
      for (const wake of this.#waiters.splice(0)) wake()
    })
    ws.on('error', () => {})
  }

  /** Connects from `from` (a 127.0.0.x address) and waits for the welcome; rejects with the HTTP status if refused. */
  static open(url: string, from = '127.0.0.1'): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { localAddress: from })
      const wire = new Wire(ws)
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      ws.once('error', reject)
      wire
        .next(['welcome'], 10_000)
        .then((welcome) => {
          wire.welcome = welcome
          resolve(wire)
        })
        .catch(reject)
    })
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message))
  }

  /** The next message of one of these types (or an error), taken out of the inbox. */
  async next(types: readonly string[], timeoutMs = 5000): Promise<Received> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = this.messages.findIndex((m) => types.includes(m.type) || m.type === 'error')
      if (index >= 0) return this.messages.splice(index, 1)[0] as Received
      if (this.closeCode !== undefined) throw new Error(`closed (${this.closeCode}) waiting for ${types}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${types.join('/')} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Sends and returns the answer: one of `types`, or an error. */
  request(message: unknown, types: readonly string[], timeoutMs = 5000): Promise<Received> {
    this.send(message)
    return this.next(types, timeoutMs)
  }

  /** Whether the server still answers on this connection. */
  async alive(): Promise<boolean> {
    try {
      return (await this.request({ type: 'ping' }, ['pong'], 2000)).type === 'pong'
    } catch {
      return false
    }
  }

  close(): void {
    this.ws.terminate()
  }
}

/** A plain HTTP GET with the Host header the attacker chooses. */
export function getWithHost(
  port: number,
  path: string,
  host: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => {
        body += d.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Slowloris: sockets that send a request line and then one header byte pair a second, forever. */
export class Slowloris {
  readonly closedAfterMs: (number | undefined)[] = []
  readonly #sockets: Socket[] = []
  readonly #timer: NodeJS.Timeout
  readonly #started = performance.now()

  constructor(port: number, count: number, from: string) {
    for (let i = 0; i < count; i++) {
      this.closedAfterMs.push(undefined)
      const socket = connect({ host: '127.0.0.1', port, localAddress: from })
      socket.on('error', () => {})
      socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'))
      socket.on('close', () => {
        this.closedAfterMs[i] = performance.now() - this.#started
      })
      this.#sockets.push(socket)
    }
    this.#timer = setInterval(() => {
      for (const socket of this.#sockets) if (!socket.destroyed) socket.write(`X-${Math.random()}: 1\r\n`)
    }, 1000)
  }

  get open(): number {
    return this.closedAfterMs.filter((t) => t === undefined).length
  }

  stop(): void {
    clearInterval(this.#timer)
    for (const socket of this.#sockets) socket.destroy()
  }
}
