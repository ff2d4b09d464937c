import type { ClipboardContent, EventPayload } from '@smoldesk/protocol'

/** What changed, for the `clipboard-changed` event, plus the content and whether SmolDesk itself set it. */
export type ClipboardChange = EventPayload<'clipboard-changed'> & { content: ClipboardContent; mine: boolean }

/** The system clipboard as SmolDesk sees it; one backend per display server. */
export interface Clipboard {
  getText(): Promise<string>
  setText(text: string): Promise<void>
  /** Text when there is text, else a PNG image; undefined when the clipboard is empty. */
  read(): Promise<ClipboardContent | undefined>
  write(content: ClipboardContent): Promise<void>
  /** Called whenever anyone (SmolDesk included) puts new contents on the clipboard. */
  onChange(listener: (change: ClipboardChange) => void): () => void
  close(): void
  /** True once the backend lost its display; the host then opens a new one. */
  readonly closed: boolean
}

/** Default upper bound for clipboard contents in either direction (`--clipboard-max-mb`). */
export const CLIPBOARD_MAX_BYTES = 10 * 1024 * 1024

/** The event's summary of a content: its type, size, and the text itself for text. */
export function describeContent(content: ClipboardContent): EventPayload<'clipboard-changed'> {
  return content.kind === 'text'
    ? { type: 'text', size: Buffer.byteLength(content.text, 'utf8'), text: content.text }
    : { type: 'image', size: content.png.length }
}
