import { connect, type Socket } from 'node:net'
import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../../log.ts'

const log = createLogger('display.sway')

const MAGIC = Buffer.from('i3-ipc')
const HEADER_BYTES = MAGIC.length + 8
/** The i3/sway IPC message types SmolDesk sends. */
const RUN_COMMAND = 0
const GET_OUTPUTS = 3
const REPLY_TIMEOUT_MS = 3000
/** Replies are small JSON documents; more than this is not sway. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024

/** The part of sway's get_outputs reply SmolDesk reads. */
interface SwayOutput {
  name: string
  active: boolean
  primary?: boolean
  focused?: boolean
  scale?: number
  rect: { x: number; y: number; width: number; height: number }
  current_mode?: { width: number; height: number; refresh: number }
}

/**
 * A connection to sway's IPC socket ($SWAYSOCK): the outputs, as the
 * compositor lays them out, and commands (create an output, set its mode).
 * Requests are answered in order, so replies are matched by queue.
 */
export class SwayIpc {
  readonly #socket: Socket
  readonly #waiting: { resolve: (reply: unknown) => void; reject: (err: Error) => void }[] = []
  #pending: Buffer = Buffer.alloc(0)
  #closed = false

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', (err) => log.warn({ err: err.message }, 'sway IPC error'))
    socket.on('close', () => {
      this.#closed = true
      for (const w of this.#waiting.splice(0))
        w.reject(new SmolDeskError('DISPLAY_ERROR', 'sway closed its IPC socket'))
    })
  }

  static open(path: string): Promise<SwayIpc> {
    return new Promise((resolve, reject) => {
      const socket = connect(path)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(new SwayIpc(socket))
      })
      socket.once('error', (err) =>
        reject(new SmolDeskError('NO_DISPLAY', `cannot reach sway's IPC socket ${path}: ${err.message}`)),
      )
    })
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Active outputs in sway's order, in layout coordinates (what pointer positions are relative to). */
  async monitors(): Promise<MonitorInfo[]> {
    const outputs = (await this.#request(GET_OUTPUTS, '')) as SwayOutput[]
    const active = outputs.filter((o) => o.active && o.rect.width > 0 && o.rect.height > 0)
    return active.map((o, index) => ({
      index,
      name: o.name,
      x: o.rect.x,
      y: o.rect.y,
      width: o.rect.width,
      height: o.rect.height,
      refresh_rate: o.current_mode ? o.current_mode.refresh / 1000 : 0,
      scale_factor: o.scale ?? 1,
      // sway has no primary output; the first one is where new windows go by default.
      is_primary: index === 0,
    }))
  }

  /** Runs sway commands (a fixed text SmolDesk builds from checked numbers and output names). */
  async command(text: string): Promise<void> {
    const replies = (await this.#request(RUN_COMMAND, text)) as { success: boolean; error?: string }[]
    const failed = replies.find((r) => !r.success)
    if (failed)
      throw new SmolDeskError('DISPLAY_ERROR', `sway refused "${text}": ${failed.error ?? 'no reason'}`)
  }

  close(): void {
    this.#closed = true
    this.#socket.destroy()
  }

  #request(type: number, payload: string): Promise<unknown> {
    if (this.#closed) return Promise.reject(new SmolDeskError('DISPLAY_ERROR', 'sway IPC is closed'))
    const body = Buffer.from(payload, 'utf8')
    const header = Buffer.alloc(HEADER_BYTES)
    MAGIC.copy(header, 0)
    header.writeUInt32LE(body.length, MAGIC.length)
    header.writeUInt32LE(type, MAGIC.length + 4)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SmolDeskError('TIMEOUT', `sway did not answer within ${REPLY_TIMEOUT_MS} ms`))
        this.close()
      }, REPLY_TIMEOUT_MS)
      this.#waiting.push({
        resolve: (reply) => {
          clearTimeout(timer)
          resolve(reply)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      this.#socket.write(Buffer.concat([header, body]))
    })
  }

  #onData(chunk: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, chunk])
    while (this.#pending.length >= HEADER_BYTES) {
      const length = this.#pending.readUInt32LE(MAGIC.length)
      if (length > MAX_REPLY_BYTES || !this.#pending.subarray(0, MAGIC.length).equals(MAGIC)) {
        log.warn('sway IPC sent something that is not a reply; closing')
        this.close()
        return
      }
      if (this.#pending.length < HEADER_BYTES + length) return
      const text = this.#pending.subarray(HEADER_BYTES, HEADER_BYTES + length).toString('utf8')
      this.#pending = this.#pending.subarray(HEADER_BYTES + length)
      const waiter = this.#waiting.shift()
      try {
        waiter?.resolve(JSON.parse(text))
      } catch (err) {
        waiter?.reject(new SmolDeskError('DISPLAY_ERROR', `sway sent invalid JSON: ${String(err)}`))
      }
    }
  }
}
