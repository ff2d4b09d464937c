import { SmolDeskError } from './errors.ts'
import {
  type ClientMessage,
  type ServerMessage,
  ServerMessageSchema,
  type VerifiedIdentity,
} from './signaling.ts'

type MessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>

/** Back-off between reconnect attempts, about two minutes in all: the server's resume grace period. */
export const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000, 30_000, 30_000]

/** A client acknowledges after this many messages, or this long after the first unacknowledged one. */
const ACK_EVERY = 16
const ACK_AFTER_MS = 1000

/** How long to wait before trying a server that refused with OVERLOADED again; undefined for any other failure. */
function busyRetryMs(err: unknown): number | undefined {
  if (!(err instanceof SmolDeskError) || err.code !== 'OVERLOADED') return undefined
  const after = (err as { retryAfterMs?: number }).retryAfterMs ?? 1000
  return after * (1 + Math.random())
}

/**
 * A signaling connection (browser and Node ≥ 22 alike: both have a global
 * WebSocket). Incoming messages are parsed by the protocol schema; anything
 * that does not parse is dropped and counted, never acted on. It counts
 * what the session receives and acknowledges it (`?ack=1`), so a resume
 * after a drop gets back whatever the old connection swallowed.
 */
export class SignalingClient {
  #clientId: string
  /** The resume token of the current session (rotated on every resume). */
  #resumeToken: string
  readonly #socket: WebSocket
  readonly #handlers = new Set<(msg: ServerMessage) => void>()
  readonly #closeHandlers = new Set<(code: number, reason: string) => void>()
  #malformed = 0
  #identity: VerifiedIdentity | undefined
  /** Messages this session received since its welcome (carried over to the connection that resumes it). */
  #received = 0
  #acked = 0
  #ackTimer: ReturnType<typeof setTimeout> | undefined
  /**
   * Counting begins after the welcome on a new session, after `resumed` on a resuming connection:
   * what the server sends such a connection before the resume belongs to a session thrown away.
   */
  #counting: boolean

  private constructor(socket: WebSocket, clientId: string, resumeToken: string, counting: boolean) {
    this.#socket = socket
    this.#clientId = clientId
    this.#resumeToken = resumeToken
    this.#counting = counting
    socket.addEventListener('message', (ev) => {
      if (this.#abandoned) return // its successor has the handlers now
      const msg = parse(ev.data)
      if (!msg) {
        this.#malformed++
        return
      }
      // The server drops a client that misses two heartbeats.
      if (msg.type === 'ping') this.send({ type: 'pong' })
      if (msg.type === 'resumed') {
        this.#clientId = msg.clientId
        this.#resumeToken = msg.token
        this.#counting = true
      } else if (this.#counting) this.#count()
      if (this.#repeated(msg)) return
      for (const handler of this.#handlers) handler(msg)
    })
    socket.addEventListener('close', (ev) => {
      clearTimeout(this.#ackTimer)
      if (this.#abandoned) return // its handlers ran when it was abandoned
      for (const handler of this.#closeHandlers) handler(ev.code, ev.reason)
    })
  }

  /**
   * Connects and waits for the server's `welcome`. A server turning new
   * connections away (OVERLOADED) is tried again when it says, plus jitter so
   * everyone it turned away does not come back in the same instant, for up
   * to `busyForMs`; past that the OVERLOADED is the caller's to show.
   */
  static async connect(url: string, timeoutMs = 10_000, busyForMs = 30_000): Promise<SignalingClient> {
    const giveUpAt = Date.now() + busyForMs
    for (;;) {
      try {
        return await SignalingClient.#open(url, timeoutMs, true)
      } catch (err) {
        const wait = busyRetryMs(err)
        if (wait === undefined || Date.now() + wait > giveUpAt) throw err
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  }

  static #open(url: string, timeoutMs: number, counting: boolean): Promise<SignalingClient> {
    return new Promise((resolve, reject) => {
      const withAck = new URL(url)
      withAck.searchParams.set('ack', '1')
      // Coming back to a session: a busy server still lets it in (to resume, nothing else).
      if (!counting) withAck.searchParams.set('resume', '1')
      const socket = new WebSocket(withAck.toString())
      const timer = setTimeout(() => {
        socket.close()
        reject(new SmolDeskError('TIMEOUT', `no welcome from the signaling server at ${url}`))
      }, timeoutMs)
      socket.addEventListener('error', () => {
        clearTimeout(timer)
        reject(new SmolDeskError('CONNECTION_FAILED', `cannot reach the signaling server at ${url}`))
      })
      // A server past capacity answers the handshake only to say so (OVERLOADED, then close 1013).
      let refusal: SmolDeskError | undefined
      const onWelcome = (ev: MessageEvent) => {
        const msg = parse(ev.data)
        if (msg?.type === 'error') {
          refusal = Object.assign(new SmolDeskError(msg.code, msg.message), {
            retryAfterMs: msg.retryAfterMs,
          })
          return
        }
        if (msg?.type !== 'welcome') return
        clearTimeout(timer)
        socket.removeEventListener('message', onWelcome)
        socket.removeEventListener('close', onClose)
        const client = new SignalingClient(socket, msg.clientId, msg.token, counting)
        client.#identity = msg.identity
        resolve(client)
      }
      const onClose = (ev: CloseEvent) => {
        clearTimeout(timer)
        reject(
          refusal ??
            new SmolDeskError(
              'CONNECTION_FAILED',
              `the signaling server at ${url} closed the connection (${ev.code})`,
            ),
        )
      }
      socket.addEventListener('message', onWelcome)
      socket.addEventListener('close', onClose)
    })
  }

  /**
   * Connects again after a dropped connection and takes back the old
   * identity and room place (within the server's grace period). The old
   * client's message and close handlers move over first, so the messages
   * queued for us meanwhile (they follow `resumed` at once) reach them.
   */
  static async reconnect(
    url: string,
    previous: SignalingClient,
    timeoutMs = 10_000,
  ): Promise<SignalingClient> {
    const client = await SignalingClient.#open(url, timeoutMs, false)
    client.#received = previous.#received
    client.#acked = previous.#received
    client.#seen = previous.#seen
    for (const handler of previous.#handlers) client.#handlers.add(handler)
    for (const handler of previous.#closeHandlers) client.#closeHandlers.add(handler)
    try {
      await client.request(
        {
          type: 'resume',
          clientId: previous.clientId,
          token: previous.resumeToken,
          received: previous.#received,
        },
        'resumed',
        timeoutMs,
      )
    } catch (err) {
      client.#closeHandlers.clear()
      client.close()
      throw err
    }
    return client
  }

  /**
   * Gets a dropped client back: `reconnect` with back-off, and if the server
   * no longer knows us (RESUME_FAILED), a fresh connection handed to
   * `restart` (join or create the room again). Resolves to the live client,
   * or undefined when cancelled or every attempt failed.
   */
  static async recover(
    url: string,
    previous: SignalingClient,
    options: {
      cancelled: () => boolean
      restart: (fresh: SignalingClient) => Promise<void>
      /** Waits before each attempt (default RECONNECT_DELAYS_MS). */
      delaysMs?: readonly number[]
      /** How long one attempt may take to connect (default 10 s). */
      attemptTimeoutMs?: number
    },
  ): Promise<SignalingClient | undefined> {
    const timeoutMs = options.attemptTimeoutMs ?? 10_000
    for (const delay of options.delaysMs ?? RECONNECT_DELAYS_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay))
      if (options.cancelled()) return undefined
      try {
        return await SignalingClient.reconnect(url, previous, timeoutMs)
      } catch (err) {
        if (SmolDeskError.from(err).code !== 'RESUME_FAILED') continue
      }
      try {
        const fresh = await SignalingClient.connect(url, timeoutMs)
        await options.restart(fresh)
        return fresh
      } catch {}
    }
    return undefined
  }

  get clientId(): string {
    return this.#clientId
  }

  /** Whom this connection signed in as (single sign-on), as the server's welcome said. */
  get identity(): VerifiedIdentity | undefined {
    return this.#identity
  }

  get resumeToken(): string {
    return this.#resumeToken
  }

  get malformedCount(): number {
    return this.#malformed
  }

  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN
  }

  send(message: ClientMessage): void {
    if (this.open) this.#socket.send(JSON.stringify(message))
  }

  /**
   * Whether the server answers a ping within `timeoutMs`. A connection whose
   * network went away stays "open" until TCP gives up, minutes later; this
   * finds out in a second.
   */
  probe(timeoutMs = 1000): Promise<boolean> {
    if (!this.open) return Promise.resolve(false)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off()
        resolve(false)
      }, timeoutMs)
      const off = this.onMessage((msg) => {
        if (msg.type !== 'pong') return
        clearTimeout(timer)
        off()
        resolve(true)
      })
      this.send({ type: 'ping' })
    })
  }

  /**
   * Gives up on a connection found dead, as a drop: close handlers run at
   * once with code 4000 (and reconnect), not when the closing handshake
   * over the dead network finally times out.
   */
  abandon(): void {
    if (this.#abandoned) return
    this.#abandoned = true
    clearTimeout(this.#ackTimer)
    this.#socket.close(4000, 'no answer from the server')
    for (const handler of this.#closeHandlers) handler(4000, 'no answer from the server')
  }

  #abandoned = false

  /** The last relay number seen from each sender (carried over to the connection that resumes this one). */
  #seen = new Map<string, [epoch: string, n: number]>()

  /** A relayed message given a second time (see RelaySeqSchema): counted as received, not handled. */
  #repeated(msg: ServerMessage): boolean {
    if ((msg.type !== 'offer' && msg.type !== 'answer' && msg.type !== 'ice-candidate') || !msg.seq)
      return false
    const [epoch, n] = msg.seq
    const last = this.#seen.get(msg.fromId)
    if (last && last[0] === epoch && n <= last[1]) return true
    this.#seen.set(msg.fromId, [epoch, n])
    return false
  }

  #count(): void {
    this.#received++
    if (this.#received - this.#acked >= ACK_EVERY) this.#ack()
    else this.#ackTimer ??= setTimeout(() => this.#ack(), ACK_AFTER_MS)
  }

  #ack(): void {
    clearTimeout(this.#ackTimer)
    this.#ackTimer = undefined
    if (!this.open || this.#abandoned) return
    this.#acked = this.#received
    this.send({ type: 'ack', received: this.#received })
  }

  onMessage(handler: (msg: ServerMessage) => void): () => void {
    this.#handlers.add(handler)
    return () => this.#handlers.delete(handler)
  }

  /**
   * Handles messages one at a time, each after the previous one's promise
   * settled: a candidate must never overtake the offer or answer it belongs to.
   */
  onMessageInOrder(
    handler: (msg: ServerMessage) => Promise<void>,
    onError: (err: unknown) => void,
  ): () => void {
    let queue = Promise.resolve()
    return this.onMessage((msg) => {
      queue = queue.then(() => handler(msg)).catch(onError)
    })
  }

  onClose(handler: (code: number, reason: string) => void): () => void {
    this.#closeHandlers.add(handler)
    return () => this.#closeHandlers.delete(handler)
  }

  /** Sends a message and waits for the answer of type `expect`; an `error` from the server rejects. */
  request<T extends ServerMessage['type']>(
    message: ClientMessage,
    expect: T,
    timeoutMs = 10_000,
  ): Promise<MessageOf<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        reject(new SmolDeskError('TIMEOUT', `no ${expect} from the signaling server`))
      }, timeoutMs)
      const off = this.onMessage((msg) => {
        // An error naming another target is about a message relayed earlier, not this request.
        const target = 'targetId' in message ? message.targetId : undefined
        if (msg.type === 'error' && (msg.targetId === undefined || msg.targetId === target)) {
          clearTimeout(timer)
          off()
          reject(new SmolDeskError(msg.code, msg.message))
        } else if (msg.type === expect) {
          clearTimeout(timer)
          off()
          resolve(msg as MessageOf<T>)
        }
      })
      this.send(message)
    })
  }

  /** 1000 leaves the room at once; another code (3000–4999) is a drop, and the place is kept for `resume`. */
  close(code = 1000): void {
    clearTimeout(this.#ackTimer)
    this.#socket.close(code, code === 1000 ? 'bye' : 'dropped')
  }
}

function parse(data: unknown): ServerMessage | undefined {
  if (typeof data !== 'string') return undefined
  try {
    const parsed = ServerMessageSchema.safeParse(JSON.parse(data))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
