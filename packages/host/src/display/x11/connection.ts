import { EventEmitter } from 'node:events'
import { SmolDeskError } from '@smoldesk/protocol'
import x11, { type XClient, type XDisplay, type XEvent, type XPropertyReply } from 'x11'
import { createLogger } from '../../log.ts'

const log = createLogger('display.x11')

/** X11 "AnyPropertyType" and "CurrentTime". */
export const ANY_PROPERTY_TYPE = 0
export const CURRENT_TIME = 0

/**
 * One persistent connection to an X server, with promise-returning wrappers
 * around the callback API of node-x11 and an atom cache. Every capability
 * that talks X (monitors, clipboard, later input) shares one of these instead
 * of spawning a tool per call.
 */
export class X11Connection extends EventEmitter<{ event: [XEvent]; closed: [Error | undefined] }> {
  readonly displayName: string
  readonly client: XClient
  readonly display: XDisplay
  readonly #atoms = new Map<string, number>()
  #closed = false

  private constructor(displayName: string, display: XDisplay) {
    super()
    this.displayName = displayName
    this.display = display
    this.client = display.client
    this.client.on('event', (ev: XEvent) => this.emit('event', ev))
    this.client.on('error', (err: Error) => {
      // X protocol errors for requests without a reply land here; they are
      // reported, not fatal. A socket error closes the connection.
      log.warn({ err: err.message }, 'X error')
    })
    this.client.on('end', () => this.#markClosed(new Error('X server closed the connection')))
  }

  /** Opens a connection; fails with NO_DISPLAY when nothing answers at that display. */
  static open(displayName: string, timeoutMs = 3000): Promise<X11Connection> {
    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        reject(
          new SmolDeskError('NO_DISPLAY', `X display ${displayName} did not answer within ${timeoutMs} ms`),
        )
      }, timeoutMs)
      let client: XClient | undefined
      try {
        client = x11.createClient({ display: displayName }, (err, display) => {
          clearTimeout(timer)
          if (settled) {
            if (!err) display.client.terminate()
            return
          }
          settled = true
          if (err) {
            reject(
              new SmolDeskError('NO_DISPLAY', `cannot connect to X display ${displayName}: ${err.message}`),
            )
            return
          }
          resolve(new X11Connection(displayName, display))
        })
      } catch (err) {
        clearTimeout(timer)
        settled = true
        reject(new SmolDeskError('NO_DISPLAY', `cannot connect to X display ${displayName}: ${String(err)}`))
      }
      // errors before the handshake completes are passed to the callback above
      client?.on('error', () => {})
    })
  }

  get root(): number {
    const screen = this.display.screen[0]
    if (!screen) throw new SmolDeskError('DISPLAY_ERROR', 'X server reported no screen')
    return screen.root
  }

  get closed(): boolean {
    return this.#closed
  }

  close(): void {
    if (this.#closed) return
    this.#markClosed(undefined)
    this.client.terminate()
  }

  async atom(name: string): Promise<number> {
    const cached = this.#atoms.get(name)
    if (cached !== undefined) return cached
    const value = await this.call<number>((cb) => this.client.InternAtom(false, name, cb))
    this.#atoms.set(name, value)
    return value
  }

  atomName(atom: number): Promise<string> {
    return this.call<string>((cb) => this.client.GetAtomName(atom, cb))
  }

  getProperty(
    window: number,
    property: number,
    options: { delete?: boolean; type?: number; maxBytes?: number } = {},
  ) {
    const longLength = Math.ceil((options.maxBytes ?? 16 * 1024 * 1024) / 4)
    return this.call<XPropertyReply>((cb) =>
      this.client.GetProperty(
        options.delete ? 1 : 0,
        window,
        property,
        options.type ?? ANY_PROPERTY_TYPE,
        0,
        longLength,
        cb,
      ),
    )
  }

  /** A round trip; after it resolves, every request sent before has been processed. */
  sync(): Promise<unknown> {
    return this.call((cb) => this.client.GetInputFocus(cb))
  }

  /** Runs a node-x11 request with a reply as a promise; X errors become DISPLAY_ERROR. */
  call<T>(request: (cb: (err: Error | null, result: T) => void) => void): Promise<T> {
    if (this.#closed)
      return Promise.reject(new SmolDeskError('NO_DISPLAY', `X display ${this.displayName} is closed`))
    return new Promise((resolve, reject) => {
      request((err, result) => {
        if (err)
          reject(new SmolDeskError('DISPLAY_ERROR', `X request failed: ${err.message}`, { cause: err }))
        else resolve(result)
      })
    })
  }

  #markClosed(reason: Error | undefined): void {
    if (this.#closed && reason) return
    this.#closed = true
    this.emit('closed', reason)
  }
}
