import {
  type ClientMessage,
  type IceServer,
  type ServerMessage,
  SignalingClient,
  SmolDeskError,
} from '@smoldesk/protocol'
import { createLogger } from '../log.ts'

const log = createLogger('viewers.room')

export interface HostRoomOptions {
  signalingUrl: string
  roomId?: string | undefined
  /** A room password, checked by the signaling server (scrypt-hashed there). */
  password?: string | undefined
  /** Viewers without a valid token wait for the host's approval instead of being turned away. */
  approval?: boolean | undefined
  /** Each message from the server, one after another. */
  onMessage(msg: ServerMessage): Promise<void>
}

/**
 * The host's room on the signaling server: created at start, taken back
 * after a drop (`resume` within the server's grace, or created again under
 * the same code), its password and approval changed live. Viewers already
 * connected do not notice any of it.
 */
export class HostRoom {
  readonly #o: HostRoomOptions
  #signaling: SignalingClient | undefined
  #roomId: string | undefined
  #iceServers: IceServer[] = []
  /** The room's access settings now (the host may change them while sharing). */
  #password: string | undefined
  #approval: boolean
  #closed = false

  constructor(options: HostRoomOptions) {
    this.#o = options
    this.#password = options.password || undefined
    this.#approval = options.approval ?? false
  }

  get roomId(): string | undefined {
    return this.#roomId
  }

  get iceServers(): IceServer[] {
    return this.#iceServers
  }

  /** Whether viewers need a room password, and whether those without a token may ask to join. */
  get access(): { password: boolean; approval: boolean } {
    return { password: this.#password !== undefined, approval: this.#approval }
  }

  async open(): Promise<string> {
    const signaling = await SignalingClient.connect(this.#o.signalingUrl)
    this.#attach(signaling)
    return this.#create(signaling)
  }

  send(message: ClientMessage): void {
    this.#signaling?.send(message)
  }

  /** Changes the room password ('' removes it) and/or approval, on the signaling server at once. */
  async update(change: { password?: string | undefined; approval?: boolean | undefined }): Promise<void> {
    const signaling = this.#signaling
    if (!signaling?.open)
      throw new SmolDeskError('UNAVAILABLE', 'the signaling server is not reachable right now')
    await signaling.request(
      {
        type: 'update-room',
        ...(change.password !== undefined && { password: change.password }),
        ...(change.approval !== undefined && { approval: change.approval }),
      },
      'room-updated',
    )
    if (change.password !== undefined) this.#password = change.password || undefined
    if (change.approval !== undefined) this.#approval = change.approval
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#signaling?.close()
  }

  #attach(signaling: SignalingClient): void {
    this.#signaling = signaling
    signaling.onMessageInOrder(
      (msg) => this.#o.onMessage(msg),
      (err) => log.warn({ err: String(err) }, 'signaling message failed'),
    )
    signaling.onClose((code) => {
      if (this.#closed || code === 1000) return
      log.warn('signaling connection lost; viewers stay connected; reconnecting')
      void this.#recover()
    })
  }

  async #create(signaling: SignalingClient): Promise<string> {
    const roomId = this.#roomId ?? this.#o.roomId
    const created = await signaling.request(
      {
        type: 'create-room',
        ...(roomId !== undefined && { roomId }),
        ...(this.#password && { password: this.#password }),
        ...(this.#approval && { approval: true }),
      },
      'room-created',
    )
    this.#roomId = created.roomId
    this.#iceServers = created.iceServers
    log.info({ roomId: created.roomId }, 'room open')
    return created.roomId
  }

  async #recover(): Promise<void> {
    const previous = this.#signaling
    if (!previous) return
    const next = await SignalingClient.recover(this.#o.signalingUrl, previous, {
      cancelled: () => this.#closed,
      restart: async (fresh) => {
        this.#attach(fresh)
        await this.#create(fresh)
      },
    })
    if (next) {
      this.#signaling = next
      log.info({ roomId: this.#roomId }, 'signaling back')
    } else if (!this.#closed) log.error('signaling server unreachable; no new viewers can join')
  }
}
