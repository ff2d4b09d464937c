import type { TransferEvent, TransferLink, TransferSink, TransferSource } from '../src/index.ts'

/*
 * Test doubles for the transfer engine's edges: an in-memory channel that
 * behaves like a data channel (ordered, asynchronous, with a buffered
 * amount), a sink in memory, a source over a buffer. Shared with the host's
 * disk tests.
 */

export class Pipe {
  queue: Uint8Array[] = []
  buffered = 0
  closed = false
  /** Frames delivered so far, for tests that cut the line at some point. */
  delivered = 0
  tamper: ((frame: Uint8Array) => Uint8Array | undefined) | undefined
  /** A channel that died without a close event: nothing more is delivered or drained, ever. */
  dead = false
  /** Like a native channel: send() copies the frame, so the sender may reuse its buffer. */
  copies = false
  /** A channel that broke under its sender: send() throws (libdatachannel does, seen in CI). */
  throwOnSend = false
  #waiters: (() => void)[] = []
  #scheduled = false
  readonly deliver: (frame: Uint8Array) => void
  constructor(deliver: (frame: Uint8Array) => void) {
    this.deliver = deliver
  }
  link(): TransferLink {
    return {
      copiesOnSend: this.copies,
      send: (frame) => {
        if (this.throwOnSend) throw new Error('Sending failed, errno=2')
        if (this.closed) return
        this.queue.push(this.copies ? frame.slice() : frame)
        this.buffered += frame.length
        this.#schedule()
      },
      bufferedAmount: () => this.buffered,
      drained: () =>
        this.buffered === 0 || this.closed ? Promise.resolve() : new Promise((r) => this.#waiters.push(r)),
    }
  }
  close(): void {
    this.closed = true
    this.queue = []
    this.buffered = 0
    for (const w of this.#waiters.splice(0)) w()
  }
  #schedule(): void {
    if (this.#scheduled || this.dead) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      // A few frames per turn, like a network that takes time.
      for (let i = 0; i < 8 && this.queue.length > 0 && !this.closed && !this.dead; i++) {
        const frame = this.queue.shift() as Uint8Array
        this.buffered -= frame.length
        this.delivered++
        const out = this.tamper ? this.tamper(frame) : frame
        if (out) this.deliver(out)
      }
      if (this.dead) return
      if (this.queue.length > 0) this.#schedule()
      else for (const w of this.#waiters.splice(0)) w()
    })
  }
}

export class MemorySink implements TransferSink {
  chunks: Buffer[] = []
  static committed = new Map<string, Buffer>()
  static discarded = 0
  readonly name: string
  constructor(name: string) {
    this.name = name
  }
  async write(data: Uint8Array): Promise<void> {
    this.chunks.push(Buffer.from(data))
  }
  async commit(): Promise<string> {
    MemorySink.committed.set(this.name, Buffer.concat(this.chunks))
    return this.name
  }
  async discard(): Promise<void> {
    MemorySink.discarded++
    this.chunks = []
  }
}

export function source(data: Buffer): TransferSource & { closed: boolean } {
  return {
    size: data.length,
    closed: false,
    async read(offset, length) {
      return data.subarray(offset, offset + length)
    },
    async close() {
      this.closed = true
    },
  }
}

export function waitFor(
  events: TransferEvent[],
  match: (e: TransferEvent) => boolean,
  what: string,
  ms = 10_000,
) {
  const started = Date.now()
  return new Promise<TransferEvent>((resolve, reject) => {
    const check = () => {
      const found = events.find(match)
      if (found) resolve(found)
      else if (Date.now() - started > ms) reject(new Error(`timed out waiting for ${what}`))
      else setTimeout(check, 5)
    }
    check()
  })
}
