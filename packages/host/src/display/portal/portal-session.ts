import { EventEmitter } from 'node:events'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { type ErrorCode, SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../../log.ts'
import { ManagedProcess } from '../../process/child.ts'
import type { RemoteDesktopLines } from '../remote-desktop/remote-desktop-input.ts'

const log = createLogger('display.portal')

/** SmolDesk's desktop-portal helper (helper/smoldesk-portal.c, built by `./smoldesk setup`). */
export const PORTAL_HELPER = resolve(import.meta.dirname, '../../../.build/smoldesk-portal')
const SYNC_TIMEOUT_MS = 5000

/** A monitor the desktop's user shared: its PipeWire node and its place in the layout. */
export interface PortalStream {
  node: number
  x: number
  y: number
  width: number
  height: number
}

export interface PortalSessionOptions {
  /** Ask for keyboard and pointer too (a RemoteDesktop session, which the portal never persists). */
  input: boolean
  /** The restore token of an earlier run: a screen-cast session is then granted without asking. */
  restoreToken: string | undefined
  /** Ends the question (and the helper) when the host stops before the user answered. */
  signal?: AbortSignal
}

/** The helper's error words as codes: the user's no, no portal at all, anything else. */
const HELPER_CODES: Record<string, ErrorCode> = {
  refused: 'SHARE_DECLINED',
  unavailable: 'UNAVAILABLE',
  failed: 'DISPLAY_ERROR',
}

/**
 * One `smoldesk-portal session`: a portal session the desktop's user
 * granted (the desktop asks them when it starts, unless a restore token
 * stands for an earlier yes). It holds the streams of the shared monitors
 * and, with input, takes RemoteDesktop lines; it ends when the helper
 * does, and the portal then stops sharing.
 */
export class PortalSession extends EventEmitter<{ closed: [] }> implements RemoteDesktopLines {
  readonly streams: readonly PortalStream[]
  /** Whether keyboard and pointer were granted. */
  readonly input: boolean
  /** The token for the next run, when the portal gave one. */
  readonly restoreToken: string | undefined
  readonly #proc: ManagedProcess
  #syncs: (() => void)[] = []
  #closed = false

  private constructor(
    proc: ManagedProcess,
    streams: PortalStream[],
    devices: number,
    token: string | undefined,
  ) {
    super()
    this.#proc = proc
    this.streams = streams
    this.input = devices !== 0
    this.restoreToken = token
    proc.child.stdin?.on('error', () => {})
    proc.once('exit', () => this.#ended())
  }

  /** Resolves once the desktop's user granted the session (no timeout here: they may take a while). */
  static async open(env: Record<string, string>, options: PortalSessionOptions): Promise<PortalSession> {
    const proc = await ManagedProcess.spawn({
      name: 'smoldesk-portal session',
      command: PORTAL_HELPER,
      args: ['session', '--persist', ...(options.input ? ['--input'] : [])],
      // The token goes by environment: a command line is readable by every user of the machine.
      env: { ...process.env, ...env, SMOLDESK_PORTAL_RESTORE_TOKEN: options.restoreToken ?? '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    }).catch((err: unknown) => {
      throw new SmolDeskError('UNAVAILABLE', `the portal helper cannot run: ${String(err)}`)
    })
    const lines = createInterface({ input: proc.child.stdout as NodeJS.ReadableStream })
    const abort = () => void proc.close(500)
    options.signal?.addEventListener('abort', abort, { once: true })
    const streams: PortalStream[] = []
    let token: string | undefined
    let session: PortalSession | undefined
    try {
      session = await new Promise<PortalSession>((resolveSession, reject) => {
        proc.once('exit', () =>
          reject(
            new SmolDeskError(
              'DISPLAY_ERROR',
              `the portal helper exited: ${proc.stderrTail(2) || 'no output'}`,
            ),
          ),
        )
        lines.on('line', (line) => {
          if (session) return session.#onLine(line)
          const [word, ...rest] = line.split(' ')
          if (word === 'stream') {
            const [node, x, y, width, height] = rest.map(Number)
            if ([node, x, y, width, height].every((n) => Number.isInteger(n)))
              streams.push({ node: node ?? 0, x: x ?? 0, y: y ?? 0, width: width ?? 0, height: height ?? 0 })
          } else if (word === 'token') {
            token = rest[0]
          } else if (word === 'started') {
            session = new PortalSession(proc, streams, Number(rest[0]), token)
            resolveSession(session)
          } else if (word === 'error') {
            const [code = 'failed', ...text] = rest
            reject(
              new SmolDeskError(
                HELPER_CODES[code] ?? 'DISPLAY_ERROR',
                `the desktop portal: ${text.join(' ')}`,
              ),
            )
          }
        })
      })
    } catch (err) {
      await proc.close(500)
      throw err
    } finally {
      options.signal?.removeEventListener('abort', abort)
    }
    log.info(
      { streams: streams.length, input: session.input, persisted: token !== undefined },
      'portal session granted',
    )
    return session
  }

  get closed(): boolean {
    return this.#closed
  }

  /** A RemoteDesktop line; dropped once the helper is gone. */
  send(line: string): void {
    if (!this.#closed) this.#proc.child.stdin?.write(`${line}\n`)
  }

  /** Resolves when everything sent before has been handled by the portal. */
  sync(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise<void>((resolveSync) => {
      const timer = setTimeout(done, SYNC_TIMEOUT_MS)
      function done(): void {
        clearTimeout(timer)
        resolveSync()
      }
      this.#syncs.push(done)
      this.send('S')
    })
  }

  close(): void {
    if (this.#closed) return
    this.#proc.child.stdin?.end()
    void this.#proc.close(1000)
    this.#ended()
  }

  #onLine(line: string): void {
    if (line === 'S') this.#syncs.shift()?.()
    else if (line === 'closed') this.#ended()
    else log.debug({ line }, 'unexpected line from the portal helper')
  }

  #ended(): void {
    if (this.#closed) return
    this.#closed = true
    for (const done of this.#syncs.splice(0)) done()
    this.emit('closed')
  }
}
