import { type ClipboardContent, SmolDeskError } from '@smoldesk/protocol'
import { type Clipboard, type ClipboardChange, describeContent } from '../../clipboard/clipboard.ts'
import type { MutterSession } from './mutter-session.ts'

/**
 * GNOME's clipboard through the RemoteDesktop session's own (mutter's
 * SelectionOwnerChanged / SelectionRead / SetSelection, in the helper):
 * what another client copies (text, else a PNG image) is read at once, and
 * what SmolDesk puts there is served by the helper until something else is
 * copied. Contents travel base64-encoded on the helper's lines.
 */
export class GnomeClipboard implements Clipboard {
  readonly #session: MutterSession
  readonly #maxBytes: number
  readonly #listeners = new Set<(change: ClipboardChange) => void>()
  #content: ClipboardContent | undefined
  #closed = false
  readonly #onClip = (content: ClipboardContent): void => {
    this.#content = content
    this.#announce(content, false)
  }

  constructor(session: MutterSession, maxBytes: number) {
    this.#session = session
    this.#maxBytes = maxBytes
    session.on('clip', this.#onClip)
    session.once('closed', () => {
      this.#closed = true
    })
  }

  get closed(): boolean {
    return this.#closed || this.#session.closed
  }

  onChange(listener: (change: ClipboardChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async getText(): Promise<string> {
    return this.#content?.kind === 'text' ? this.#content.text : ''
  }

  setText(text: string): Promise<void> {
    return this.write({ kind: 'text', text })
  }

  async read(): Promise<ClipboardContent | undefined> {
    return this.#content
  }

  async write(content: ClipboardContent): Promise<void> {
    const bytes = content.kind === 'text' ? Buffer.from(content.text, 'utf8') : Buffer.from(content.png)
    if (bytes.length > this.#maxBytes) {
      throw new SmolDeskError(
        'CLIPBOARD_TOO_LARGE',
        `${bytes.length} bytes is over the limit of ${this.#maxBytes}`,
      )
    }
    if (this.closed) throw new SmolDeskError('CLIPBOARD_ERROR', 'the GNOME session is gone')
    // Base64 keeps the contents one line of the helper's protocol, whatever they hold.
    this.#session.send(`${content.kind === 'text' ? 'W' : 'P'} ${bytes.toString('base64')}`)
    await this.#session.sync()
    this.#content = content
    this.#announce(content, true)
  }

  close(): void {
    this.#closed = true
    this.#session.off('clip', this.#onClip)
  }

  #announce(content: ClipboardContent, mine: boolean): void {
    const change: ClipboardChange = { ...describeContent(content), content, mine }
    for (const listener of this.#listeners) listener(change)
  }
}
