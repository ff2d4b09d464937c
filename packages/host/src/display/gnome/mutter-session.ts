import { EventEmitter } from 'node:events'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { type ClipboardContent, type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../../log.ts'
import { ManagedProcess } from '../../process/child.ts'

const log = createLogger('display.gnome')

/** SmolDesk's mutter D-Bus helper (helper/smoldesk-mutter.c, built by `./smoldesk setup`). */
export const MUTTER_HELPER = resolve(import.meta.dirname, '../../../.build/smoldesk-mutter')
const REPLY_TIMEOUT_MS = 5000

/** A reply being collected: takes lines until it returns true. */
interface Waiter {
  take(line: string): boolean
  fail(err: SmolDeskError): void
}

export interface MutterSessionEvents {
  /** The monitor layout changed (DisplayConfig.MonitorsChanged). */
  changed: []
  /** Another client copied text, or a PNG image (when there is no text). */
  clip: [content: ClipboardContent]
  /** mutter ended the remote-desktop session (it must be started again). */
  closed: []
}

/**
 * One `smoldesk-mutter session` process: SmolDesk's client of mutter's
 * DisplayConfig and RemoteDesktop APIs. It lists monitors, reports layout
 * changes, holds the remote-desktop session input and clipboard go
 * through, and hands on clipboard text (or a PNG) copied on the desktop. Replies come
 * in the order of requests; events (`changed`, `clip`, `closed`) may come
 * between them.
 */
export class MutterSession extends EventEmitter<MutterSessionEvents> {
  readonly #proc: ManagedProcess
  readonly #waiters: Waiter[] = []
  #closed = false

  private constructor(proc: ManagedProcess) {
    super()
    this.#proc = proc
    proc.child.stdin?.on('error', () => {})
    proc.once('exit', () => {
      this.#closed = true
      const why = new SmolDeskError(
        'DISPLAY_ERROR',
        `the mutter helper exited: ${proc.stderrTail(2) || 'no output'}`,
      )
      for (const waiter of this.#waiters.splice(0)) waiter.fail(why)
      this.emit('closed')
    })
    createInterface({ input: proc.child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
      this.#onLine(line),
    )
  }

  static async open(env: Record<string, string>, clipboardMaxBytes: number): Promise<MutterSession> {
    const proc = await ManagedProcess.spawn({
      name: 'smoldesk-mutter session',
      command: MUTTER_HELPER,
      args: ['session'],
      env: { ...process.env, ...env, SMOLDESK_CLIPBOARD_MAX_BYTES: String(clipboardMaxBytes) },
      stdio: ['pipe', 'pipe', 'pipe'],
    }).catch((err: unknown) => {
      throw new SmolDeskError('UNAVAILABLE', `the mutter helper cannot run: ${String(err)}`)
    })
    const session = new MutterSession(proc)
    try {
      await session.#request(undefined, (line) => {
        if (line.startsWith('error ')) throw new SmolDeskError('DISPLAY_ERROR', line.slice(6))
        return line === 'ready'
      })
    } catch (err) {
      await proc.close(500)
      throw err
    }
    return session
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The logical monitors, left to right as mutter lays them out. */
  async monitors(): Promise<MonitorInfo[]> {
    const found: MonitorInfo[] = []
    await this.#request('L', (line) => {
      if (line === 'end') return true
      if (line.startsWith('error ')) throw new SmolDeskError('DISPLAY_ERROR', line.slice(6))
      const [, name, x, y, w, h, hz, scale, primary] = line.split(' ')
      if (!name) return false
      found.push({
        index: found.length,
        name,
        x: Number(x),
        y: Number(y),
        width: Number(w),
        height: Number(h),
        refresh_rate: Number(hz),
        scale_factor: Number(scale),
        is_primary: primary === '1',
      })
      return false
    })
    return found.sort((a, b) => a.x - b.x || a.y - b.y).map((m, index) => ({ ...m, index }))
  }

  /** (Re)starts the remote-desktop session with a stream per monitor (absolute positions go through them). */
  async startInput(monitors: readonly MonitorInfo[]): Promise<void> {
    // Connector names are mutter's own (checked: no spaces or colons reach the helper's line).
    const specs = monitors
      .filter((m) => /^[\w.-]+$/.test(m.name))
      .map((m) => `${m.name}:${m.x}:${m.y}:${m.width}:${m.height}`)
    await this.#request(`I ${specs.join(' ')}`, (line) => {
      if (line.startsWith('error ')) throw new SmolDeskError('UNAVAILABLE', `mutter: ${line.slice(6)}`)
      return line === 'input-ready'
    })
  }

  /** A command without an answer (input, clipboard); dropped once the helper is gone. */
  send(line: string): void {
    if (!this.#closed) this.#proc.child.stdin?.write(`${line}\n`)
  }

  /** Resolves when everything sent before has been handled by mutter. */
  async sync(): Promise<void> {
    await this.#request('S', (line) => line === 'S')
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#proc.child.stdin?.end()
    void this.#proc.close(1000)
  }

  #request(line: string | undefined, take: (line: string) => boolean): Promise<void> {
    if (this.#closed) return Promise.reject(new SmolDeskError('DISPLAY_ERROR', 'the mutter helper is gone'))
    return new Promise<void>((resolveReply, reject) => {
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter)
        if (index >= 0) this.#waiters.splice(index, 1)
        reject(new SmolDeskError('TIMEOUT', `mutter did not answer within ${REPLY_TIMEOUT_MS} ms`))
        // Later replies would be taken for the wrong request: start afresh.
        this.close()
      }, REPLY_TIMEOUT_MS)
      const waiter: Waiter = {
        take: (reply) => {
          let done: boolean
          try {
            done = take(reply)
          } catch (err) {
            clearTimeout(timer)
            reject(err)
            return true
          }
          if (done) {
            clearTimeout(timer)
            resolveReply()
          }
          return done
        },
        fail: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      }
      this.#waiters.push(waiter)
      if (line !== undefined) this.send(line)
    })
  }

  #onLine(line: string): void {
    if (line === 'changed') {
      this.emit('changed')
    } else if (line === 'closed') {
      this.emit('closed')
    } else if (line.startsWith('clip ')) {
      this.emit('clip', { kind: 'text', text: Buffer.from(line.slice(5), 'base64').toString('utf8') })
    } else if (line.startsWith('clip-png ')) {
      this.emit('clip', { kind: 'image', png: new Uint8Array(Buffer.from(line.slice(9), 'base64')) })
    } else if (line.startsWith('clip-error ')) {
      log.warn({ err: line.slice(11) }, 'clipboard text could not be read')
    } else {
      const waiter = this.#waiters[0]
      if (waiter?.take(line)) this.#waiters.shift()
      else if (!waiter) log.debug({ line }, 'unexpected line from the mutter helper')
    }
  }
}
