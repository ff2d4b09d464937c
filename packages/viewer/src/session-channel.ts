import {
  decodeFrame,
  encodeControl,
  type SessionRequest,
  type SessionState,
  SessionToViewerSchema,
  SmolDeskError,
  type TransferLink,
} from '@smoldesk/protocol'
import type { ChannelEnd } from './files.ts'

type Request = SessionRequest extends infer R ? (R extends SessionRequest ? Omit<R, 'id'> : never) : never

/** How long the host may take to restart its encoder for a switch. */
const REQUEST_TIMEOUT_MS = 15_000

/**
 * The viewer's end of the session channel: what the host streams and offers
 * (monitors, presets, codecs), and requests to switch. Framework-free; the
 * toolbar renders `state` and calls `request`.
 */
export class SessionChannel {
  #state: SessionState | undefined
  #link: TransferLink | undefined
  #nextId = 1
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: SmolDeskError) => void }>()
  readonly #onChange: (state: SessionState | undefined) => void
  /** The host ended this viewer's session (code, message). */
  onBye: ((reason: SmolDeskError) => void) | undefined

  constructor(onChange: (state: SessionState | undefined) => void) {
    this.#onChange = onChange
  }

  get state(): SessionState | undefined {
    return this.#state
  }

  attachHost(link: TransferLink): ChannelEnd {
    this.#link = link
    return {
      receive: (frame) => this.#receive(frame),
      detach: () => {
        if (this.#link !== link) return
        this.#link = undefined
        for (const pending of this.#pending.values())
          pending.reject(new SmolDeskError('CONNECTION_FAILED', 'the connection to the host closed'))
        this.#pending.clear()
      },
    }
  }

  /** Asks the host to switch; resolves when it did, rejects with the host's coded reason. */
  request(request: Request): Promise<void> {
    const link = this.#link
    if (!link) return Promise.reject(new SmolDeskError('CONNECTION_FAILED', 'not connected to the host'))
    const id = this.#nextId++
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new SmolDeskError('TIMEOUT', 'the host did not answer'))
      }, REQUEST_TIMEOUT_MS)
      this.#pending.set(id, {
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      link.send(encodeControl({ ...request, id }))
    })
  }

  #receive(bytes: Uint8Array): void {
    let message: unknown
    try {
      const frame = decodeFrame(bytes)
      if (frame.kind !== 'control') return
      message = frame.message
    } catch {
      return
    }
    const parsed = SessionToViewerSchema.safeParse(message)
    if (!parsed.success) return // a newer host's message: ignore rather than break
    const msg = parsed.data
    if (msg.type === 'session') {
      this.#state = msg
      this.#onChange(msg)
      return
    }
    if (msg.type === 'bye') {
      this.onBye?.(new SmolDeskError(msg.code, msg.message))
      return
    }
    const pending = this.#pending.get(msg.id)
    this.#pending.delete(msg.id)
    if (msg.error) pending?.reject(new SmolDeskError(msg.error.code, msg.error.message))
    else pending?.resolve()
  }
}
