import { createInterface } from 'node:readline'
import { type ClipboardContent, SmolDeskError } from '@smoldesk/protocol'
import {
  CLIPBOARD_MAX_BYTES,
  type Clipboard,
  type ClipboardChange,
  describeContent,
} from '../../clipboard/clipboard.ts'
import { createLogger } from '../../log.ts'
import { collectOutput, ManagedProcess } from '../../process/child.ts'

const log = createLogger('clipboard.wayland')

const PASTE_TIMEOUT_MS = 3000
const TEXT_TYPES = ['text/plain;charset=utf-8', 'text/plain', 'UTF8_STRING', 'STRING', 'TEXT']
const PNG = 'image/png'

/**
 * The Wayland clipboard through wl-clipboard and the compositor's
 * wlr-data-control: `wl-paste --watch` reports every new selection (it
 * runs `wc -c` per change: one line each, and no shell), `wl-paste` reads
 * it, and a `wl-copy --foreground` of SmolDesk's own serves what SmolDesk
 * put there until something else replaces it (then it exits by itself) or
 * the clipboard closes. Contents reach wl-copy's stdin, never a command line.
 */
export class WlClipboard implements Clipboard {
  readonly #env: NodeJS.ProcessEnv
  readonly #maxBytes: number
  readonly #watch: ManagedProcess
  readonly #listeners = new Set<(change: ClipboardChange) => void>()
  #copy: ManagedProcess | undefined
  /** What SmolDesk put on the clipboard last, to tell its own changes from others'. */
  #mine: Buffer | undefined
  #closed = false

  private constructor(env: NodeJS.ProcessEnv, maxBytes: number, watch: ManagedProcess) {
    this.#env = env
    this.#maxBytes = maxBytes
    this.#watch = watch
    watch.once('exit', () => {
      this.#closed = true
    })
    const lines = createInterface({ input: watch.child.stdout as NodeJS.ReadableStream })
    lines.on('line', () => {
      this.#announceChange().catch((err: unknown) =>
        log.debug({ err: String(err) }, 'clipboard change unreadable'),
      )
    })
  }

  static async open(env: Record<string, string>, maxBytes = CLIPBOARD_MAX_BYTES): Promise<WlClipboard> {
    const full = { ...process.env, ...env }
    const watch = await ManagedProcess.spawn({
      name: 'wl-paste --watch',
      command: 'wl-paste',
      args: ['--watch', 'wc', '-c'],
      env: full,
    }).catch((err: unknown) => {
      throw new SmolDeskError('CLIPBOARD_ERROR', `wl-clipboard is not available: ${String(err)}`)
    })
    // A compositor without wlr-data-control makes wl-paste exit at once.
    await new Promise((resolve) => setTimeout(resolve, 150))
    if (!watch.running) {
      throw new SmolDeskError(
        'UNSUPPORTED_ON_BACKEND',
        `this compositor offers no clipboard access (wl-paste: ${watch.stderrTail(2) || 'exited'})`,
      )
    }
    return new WlClipboard(full, maxBytes, watch)
  }

  get closed(): boolean {
    return this.#closed
  }

  onChange(listener: (change: ClipboardChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async getText(): Promise<string> {
    const content = await this.read()
    return content?.kind === 'text' ? content.text : ''
  }

  setText(text: string): Promise<void> {
    return this.write({ kind: 'text', text })
  }

  async read(): Promise<ClipboardContent | undefined> {
    const types = (await this.#paste(['--list-types'])).toString('utf8').split('\n').filter(Boolean)
    const text = TEXT_TYPES.find((t) => types.includes(t))
    if (text)
      return { kind: 'text', text: (await this.#paste(['--no-newline', '--type', text])).toString('utf8') }
    if (types.includes(PNG)) return { kind: 'image', png: new Uint8Array(await this.#paste(['--type', PNG])) }
    return undefined
  }

  async write(content: ClipboardContent): Promise<void> {
    const data = content.kind === 'text' ? Buffer.from(content.text, 'utf8') : Buffer.from(content.png)
    if (data.length > this.#maxBytes) {
      throw new SmolDeskError(
        'CLIPBOARD_TOO_LARGE',
        `${data.length} bytes is over the limit of ${this.#maxBytes}`,
      )
    }
    const previous = this.#copy
    this.#mine = data
    const copy = await ManagedProcess.spawn({
      name: 'wl-copy',
      command: 'wl-copy',
      args: ['--foreground', '--type', content.kind === 'text' ? 'text/plain;charset=utf-8' : PNG],
      env: this.#env,
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    this.#copy = copy
    copy.child.stdin?.on('error', () => {})
    copy.child.stdin?.end(data)
    // The new owner replaces the old one, which then exits; an old one still running is stopped.
    if (previous) void previous.close(500)
  }

  close(): void {
    if (this.#closed && !this.#copy) return
    this.#closed = true
    void this.#watch.close(500)
    void this.#copy?.close(500)
    this.#copy = undefined
  }

  async #announceChange(): Promise<void> {
    if (this.#listeners.size === 0) return
    const content = await this.read()
    if (content === undefined) return
    const bytes = content.kind === 'text' ? Buffer.from(content.text, 'utf8') : Buffer.from(content.png)
    const mine = this.#mine !== undefined && this.#copy?.running === true && bytes.equals(this.#mine)
    const change: ClipboardChange = { ...describeContent(content), content, mine }
    for (const listener of this.#listeners) listener(change)
  }

  /** One wl-paste run's stdout, bounded by the size limit; an empty clipboard is an empty answer. */
  async #paste(args: string[]): Promise<Buffer> {
    const out = await collectOutput({
      name: 'wl-paste',
      command: 'wl-paste',
      args,
      env: this.#env,
      timeoutMs: PASTE_TIMEOUT_MS,
      maxBytes: this.#maxBytes,
    })
    if (out.overflow) {
      throw new SmolDeskError('CLIPBOARD_TOO_LARGE', `the clipboard holds more than ${this.#maxBytes} bytes`)
    }
    // wl-paste exits with 1 and "Nothing is copied" for an empty clipboard.
    return out.code === 0 ? out.stdout : Buffer.alloc(0)
  }
}
