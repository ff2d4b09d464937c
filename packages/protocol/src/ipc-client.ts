import { COMMANDS, isCommandName } from './commands.ts'
import { describeZodError, SmolDeskError } from './errors.ts'
import {
  IPC_SUBPROTOCOL,
  IPC_TOKEN_PREFIX,
  IpcServerMessageSchema,
  LISTEN_METHOD,
  UNLISTEN_METHOD,
} from './ipc-wire.ts'

/** Mirrors `@tauri-apps/api`'s Event<T>. */
export interface Event<T> {
  event: string
  windowLabel: string
  id: number
  payload: T
}
export type EventCallback<T> = (event: Event<T>) => void
export type UnlistenFn = () => void
export type InvokeArgs = Record<string, unknown>

export interface IpcClientOptions {
  /** ws://127.0.0.1:PORT/ipc */
  url: string
  token: string
  /** Per-call timeout; the host answers every call, so this only trips on a hung host. */
  timeoutMs?: number
  /** Where no global WebSocket exists; Node ≥ 22 and browsers have one. */
  WebSocketImpl?: typeof WebSocket
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: SmolDeskError) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * One WebSocket connection to a host's IPC. Calls are multiplexed by id;
 * when the socket closes, every pending call is rejected (never left hanging).
 */
export class IpcClient {
  readonly #socket: WebSocket
  readonly #timeoutMs: number
  readonly #pending = new Map<number, Pending>()
  readonly #handlers = new Map<string, Set<EventCallback<unknown>>>()
  #nextId = 1
  #closed = false

  private constructor(socket: WebSocket, timeoutMs: number) {
    this.#socket = socket
    this.#timeoutMs = timeoutMs
    socket.addEventListener('message', (ev) => this.#onMessage(ev.data))
    socket.addEventListener('close', (ev) => this.#onClose(ev.code, ev.reason))
  }

  static connect(options: IpcClientOptions): Promise<IpcClient> {
    const Impl = options.WebSocketImpl ?? globalThis.WebSocket
    return new Promise((resolve, reject) => {
      const socket = new Impl(options.url, [IPC_SUBPROTOCOL, `${IPC_TOKEN_PREFIX}${options.token}`])
      const fail = () =>
        reject(
          new SmolDeskError(
            'CONNECTION_FAILED',
            `could not connect to the host at ${options.url}: it is not running, or it refused the token or origin`,
          ),
        )
      socket.addEventListener('error', fail, { once: true })
      socket.addEventListener(
        'open',
        () => {
          socket.removeEventListener('error', fail)
          resolve(new IpcClient(socket, options.timeoutMs ?? 30_000))
        },
        { once: true },
      )
    })
  }

  /** Same contract as Tauri's invoke: resolves with the result, rejects with a SmolDeskError. */
  invoke<T = unknown>(cmd: string, args: InvokeArgs = {}): Promise<T> {
    return this.#call(cmd, args).then((result) => {
      if (!isCommandName(cmd)) return result as T
      const parsed = COMMANDS[cmd].result.safeParse(result)
      if (!parsed.success) {
        throw new SmolDeskError(
          'INTERNAL',
          `host answered ${cmd} out of contract: ${describeZodError(parsed.error)}`,
        )
      }
      return parsed.data as T
    })
  }

  /** Same contract as Tauri's listen: resolves once the host has subscribed us. */
  async listen<T>(event: string, handler: EventCallback<T>): Promise<UnlistenFn> {
    let set = this.#handlers.get(event)
    if (!set) {
      set = new Set()
      this.#handlers.set(event, set)
      await this.#call(LISTEN_METHOD, { event })
    }
    const callback = handler as EventCallback<unknown>
    set.add(callback)
    return () => {
      const current = this.#handlers.get(event)
      if (!current?.delete(callback) || current.size > 0) return
      this.#handlers.delete(event)
      if (!this.#closed) this.#call(UNLISTEN_METHOD, { event }).catch(() => {})
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#socket.close(1000, 'client closed')
    this.#rejectAll(new SmolDeskError('CONNECTION_FAILED', 'IPC connection closed by the client'))
  }

  get closed(): boolean {
    return this.#closed
  }

  #call(method: string, params: InvokeArgs): Promise<unknown> {
    if (this.#closed)
      return Promise.reject(new SmolDeskError('CONNECTION_FAILED', 'IPC connection is closed'))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new SmolDeskError('TIMEOUT', `${method} got no answer within ${this.#timeoutMs} ms`))
      }, this.#timeoutMs)
      this.#pending.set(id, { resolve, reject, timer })
      this.#socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    })
  }

  #onMessage(data: unknown): void {
    if (typeof data !== 'string') return
    let raw: unknown
    try {
      raw = JSON.parse(data)
    } catch {
      return
    }
    const parsed = IpcServerMessageSchema.safeParse(raw)
    if (!parsed.success) return
    const msg = parsed.data
    if ('method' in msg) {
      const set = this.#handlers.get(msg.params.event)
      if (!set) return
      const event: Event<unknown> = {
        event: msg.params.event,
        windowLabel: 'host',
        id: msg.params.id,
        payload: msg.params.payload,
      }
      for (const handler of set) handler(event)
      return
    }
    if (typeof msg.id !== 'number') return
    const pending = this.#pending.get(msg.id)
    if (!pending) return
    this.#pending.delete(msg.id)
    clearTimeout(pending.timer)
    if ('error' in msg) pending.reject(new SmolDeskError(msg.error.code, msg.error.message))
    else pending.resolve(msg.result)
  }

  #onClose(code: number, reason: string): void {
    this.#closed = true
    this.#rejectAll(
      new SmolDeskError(
        'CONNECTION_FAILED',
        `IPC connection closed by the host (${code}${reason ? `: ${reason}` : ''})`,
      ),
    )
  }

  #rejectAll(err: SmolDeskError): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(err)
    }
    this.#pending.clear()
  }
}

let defaultClient: Promise<IpcClient> | undefined

/** Sets where the module-level invoke/listen connect (the control page passes the URL and token it was opened with). */
export function configureIpc(options: IpcClientOptions): void {
  defaultClient?.then((c) => c.close()).catch(() => {})
  defaultClient = IpcClient.connect(options)
}

function requireDefault(): Promise<IpcClient> {
  if (!defaultClient) {
    return Promise.reject(
      new SmolDeskError('HOST_NOT_RUNNING', 'call configureIpc() before invoke()/listen()'),
    )
  }
  return defaultClient
}

/** `@tauri-apps/api` compatible invoke on the configured host. */
export async function invoke<T = unknown>(cmd: string, args?: InvokeArgs): Promise<T> {
  return (await requireDefault()).invoke<T>(cmd, args)
}

/** `@tauri-apps/api` compatible listen on the configured host. */
export async function listen<T>(event: string, handler: EventCallback<T>): Promise<UnlistenFn> {
  return (await requireDefault()).listen<T>(event, handler)
}
