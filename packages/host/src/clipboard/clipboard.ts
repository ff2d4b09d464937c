import type { EventPayload } from '@smoldesk/protocol'

export type ClipboardChange = EventPayload<'clipboard-changed'>

/** The system clipboard as SmolDesk sees it; one backend per display server. */
export interface Clipboard {
  getText(): Promise<string>
  setText(text: string): Promise<void>
  /** Called whenever anyone (SmolDesk included) puts new contents on the clipboard. */
  onChange(listener: (change: ClipboardChange) => void): () => void
  close(): void
  /** True once the backend lost its display; the host then opens a new one. */
  readonly closed: boolean
}

/** Upper bound for clipboard contents in either direction (issue 7 makes it configurable). */
export const CLIPBOARD_MAX_BYTES = 10 * 1024 * 1024
