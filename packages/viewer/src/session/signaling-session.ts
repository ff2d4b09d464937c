import type { VerifiedIdentity, ViewerRole } from '@smoldesk/protocol'
import { type ClientMessage, type ServerMessage, SignalingClient, SmolDeskError } from '@smoldesk/protocol'

/** Signaling after a drop: short attempts, at most a second apart, for about two minutes. */
const SIGNALING_RETRY_DELAYS_MS = [100, ...Array.from({ length: 80 }, () => 1000)]
const SIGNALING_ATTEMPT_TIMEOUT_MS = 1500
/**
 * A join the server asks to come back for shortly (a room under a password
 * guessing attack refuses everyone for a moment) is sent again on its own,
 * this many times, when the wait is this short; a longer wait is said.
 */
const JOIN_RETRIES = 10
const JOIN_RETRY_MAX_WAIT_MS = 10_000

export interface SignalingSessionOptions {
  signalingUrl: string
  roomId: string
  password?: string | undefined
  /** The viewer token from the share link (its fragment). */
  token?: string | undefined
  /** A token the host gave this viewer for joining again after a drop (preferred over `token`). */
  rejoinToken?: () => string | undefined
  /** Ask for less than control. */
  role?: ViewerRole | undefined
}

export interface SignalingSessionEvents {
  /** A message from the server, one after another (the next waits for this one's promise). */
  message(msg: ServerMessage): Promise<void> | void
  /** Handling a message threw (an `error` from the server is thrown as its SmolDeskError). */
  error(err: SmolDeskError): void
  /** The connection dropped; getting it back has begun. */
  lost(): void
  /** Back: our place resumed, or joined afresh. */
  recovered(): void
  /** The server stayed unreachable through every attempt. */
  unreachable(): void
  /** Whom the server says we signed in as (single sign-on), once connected. */
  identity?(identity: VerifiedIdentity | undefined): void
}

/**
 * The viewer's place in the room on the signaling server: joins (with the
 * password, the link's token, or the rejoin token the host gave), and when
 * the connection drops gets the place back with `resume`, or joins afresh
 * if it expired. The media connection is not its business.
 */
export class SignalingSession {
  readonly #o: SignalingSessionOptions
  readonly #events: SignalingSessionEvents
  #client: SignalingClient | undefined
  /** We left the room only to join it again: its room-left is ours, not the host's. */
  #rejoining = false
  /** A join was sent and not answered yet; how many times it was sent again after RATE_LIMITED. */
  #joining = false
  #joinRetries = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor(options: SignalingSessionOptions, events: SignalingSessionEvents) {
    this.#o = options
    this.#events = events
  }

  async connect(): Promise<void> {
    const client = await SignalingClient.connect(this.#o.signalingUrl)
    if (this.#closed) {
      client.close()
      return
    }
    this.#events.identity?.(client.identity)
    this.#attach(client)
    this.#join(client)
  }

  send(msg: ClientMessage): void {
    this.#client?.send(msg)
  }

  /** Whether the server answers a ping within `timeoutMs`. */
  probe(timeoutMs: number): Promise<boolean> {
    return this.#client?.probe(timeoutMs) ?? Promise.resolve(false)
  }

  /** Gives the current connection up as dead: the resume starts at once. */
  abandon(): void {
    this.#client?.abandon()
  }

  /** Leaves the room and joins again: the host then makes a new media connection for us. */
  rejoin(): void {
    const client = this.#client
    if (!client) return
    this.#rejoining = true
    client.send({ type: 'leave-room' })
    this.#join(client)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#retryTimer)
    this.#client?.close()
  }

  #attach(client: SignalingClient): void {
    this.#client = client
    client.onMessageInOrder(
      async (msg) => {
        if (msg.type === 'room-left' && this.#rejoining) {
          this.#rejoining = false
          return
        }
        if (msg.type === 'error') {
          const wait = msg.retryAfterMs
          if (
            this.#joining &&
            msg.code === 'RATE_LIMITED' &&
            wait !== undefined &&
            wait <= JOIN_RETRY_MAX_WAIT_MS &&
            this.#joinRetries < JOIN_RETRIES
          ) {
            this.#joinRetries++
            this.#retryTimer = setTimeout(() => {
              if (!this.#closed && this.#client === client) this.#join(client)
            }, wait)
            return
          }
          this.#joining = false
          throw new SmolDeskError(msg.code, msg.message)
        }
        if (msg.type === 'room-joined' || msg.type === 'join-pending') {
          this.#joining = false
          this.#joinRetries = 0
        }
        await this.#events.message(msg)
      },
      (err) => this.#events.error(SmolDeskError.from(err)),
    )
    client.onClose((code) => {
      if (this.#closed || code === 1000) return
      void this.#recover()
    })
  }

  #join(client: SignalingClient): void {
    const { roomId, password, role } = this.#o
    const token = this.#o.rejoinToken?.() ?? this.#o.token
    this.#joining = true
    client.send({
      type: 'join-room',
      roomId,
      ...(password !== undefined && password !== '' && { password }),
      ...(token !== undefined && { token }),
      ...(role !== undefined && { role }),
    })
    // The answer is room-joined, join-pending (the host decides) or an error.
  }

  /** The connection dropped: the media connection carries on while we get our place back. */
  async #recover(): Promise<void> {
    const previous = this.#client
    if (!previous) return
    this.#events.lost()
    const next = await SignalingClient.recover(this.#o.signalingUrl, previous, {
      cancelled: () => this.#closed,
      delaysMs: SIGNALING_RETRY_DELAYS_MS,
      attemptTimeoutMs: SIGNALING_ATTEMPT_TIMEOUT_MS,
      // Our place is gone: join as a new viewer.
      restart: async (fresh) => {
        this.#attach(fresh)
        this.#join(fresh)
      },
    })
    if (this.#closed) return
    if (next) {
      this.#client = next
      this.#events.recovered()
    } else this.#events.unreachable()
  }
}
