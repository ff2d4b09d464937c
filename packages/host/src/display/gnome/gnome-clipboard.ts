import { type ClipboardContent, SmolDeskError } from '@smoldesk/protocol'
import { type Clipboard, type ClipboardChange, describeContent } from '../../clipboard/clipboard.ts'
import type { MutterSession } from './mutter-session.ts'

/**
 * GNOME's clipboard through the RemoteDesktop session's own (mutter's
 * SelectionOwnerChanged / SelectionRead / SetSelection, in the helper):
 * text is read as soon as another client copies it, and what SmolDesk puts
 * there is served by the helper until something else is copied. Text only:
 * images are not offered on GNOME yet.
 */
export class GnomeClipboard implements Clipboard {
  readonly #session: MutterSession
  readonly #maxBytes: number
  readonly #listeners = new Set<(change: ClipboardChange) => void>()
  #text: string | undefined
  #closed = false
  readonly #onClip = (text: string): void => {
    this.#text = text
    this.#announce(text, false)
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
    return this.#text ?? ''
  }

  setText(text: string): Promise<void> {
    return this.write({ kind: 'text', text })
  }

  async read(): Promise<ClipboardContent | undefined> {
    return this.#text === undefined ? undefined : { kind: 'text', text: this.#text }
  }

  async write(content: ClipboardContent): Promise<void> {
    if (content.kind !== 'text') {
      throw new SmolDeskError(
        'UNSUPPORTED_ON_BACKEND',
        'images on the clipboard are not available on GNOME yet',
      )
    }
    const bytes = Buffer.from(content.text, 'utf8')
    if (bytes.length > this.#maxBytes) {
      throw new SmolDeskError(
        'CLIPBOARD_TOO_LARGE',
        `${bytes.length} bytes is over the limit of ${this.#maxBytes}`,
      )
    }
    if (this.closed) throw new SmolDeskError('CLIPBOARD_ERROR', 'the GNOME session is gone')
    // Base64 keeps the text one line of the helper's protocol, whatever it holds.
    this.#session.send(`W ${bytes.toString('base64')}`)
    await this.#session.sync()
    this.#text = content.text
    this.#announce(content.text, true)
  }

  close(): void {
    this.#closed = true
    this.#session.off('clip', this.#onClip)
  }

  #announce(text: string, mine: boolean): void {
    const content: ClipboardContent = { kind: 'text', text }
    const change: ClipboardChange = { ...describeContent(content), content, mine }
    for (const listener of this.#listeners) listener(change)
  }
}
