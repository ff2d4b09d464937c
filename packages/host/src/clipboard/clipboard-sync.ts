import { createHash, randomBytes } from 'node:crypto'
import {
  ClipboardAssembler,
  type ClipboardContent,
  type ClipboardEntry,
  ClipboardRefusedError,
  clipboardBytes,
  encodeControl,
  isControlFrame,
  SmolDeskError,
  sendClipboard,
} from '@smoldesk/protocol'
import type { EmitEvent } from '../events.ts'
import { createLogger } from '../log.ts'
import type { ViewerRoster } from '../viewers/viewer-roster.ts'
import type { PeerDataChannel } from '../webrtc/transport.ts'
import { type Clipboard, type ClipboardChange, describeContent } from './clipboard.ts'

const log = createLogger('clipboard.sync')

export const CLIPBOARD_HISTORY_LENGTH = 50
/** History keeps text up to this size; longer text is kept as a preview (`truncated`). */
const HISTORY_TEXT_BYTES = 64 * 1024

export interface ClipboardSyncOptions {
  clipboard: () => Promise<Clipboard>
  maxBytes: number
  /** What each viewer may do (clipboard_read, clipboard_write). */
  roster: Pick<ViewerRoster, 'permissions'>
  emit: EmitEvent
}

interface Attached {
  channel: PeerDataChannel
  assembler: ClipboardAssembler
  /** The last content this viewer has (it sent it, or we sent it): never sent back to it. */
  has: string | undefined
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

/**
 * The host clipboard shared with viewers over their clipboard channels:
 * a copy on the host goes to every viewer allowed to read it; a viewer's
 * paste becomes the host's clipboard if it may write. Contents are told
 * apart by SHA-256, so nothing bounces back to where it came from.
 */
export class ClipboardSync {
  readonly #o: ClipboardSyncOptions
  readonly #viewers = new Map<string, Attached>()
  readonly #history: ClipboardEntry[] = []
  /** The latest host clipboard content, for viewers that connect later. */
  #current: { content: ClipboardContent; sha: string } | undefined
  /** A viewer's content we are putting on the X clipboard: its change event is that viewer's, not the host's. */
  #incoming: { sha: string; peerId: string } | undefined

  constructor(options: ClipboardSyncOptions) {
    this.#o = options
  }

  /** The backend's change listener. */
  onChange(change: ClipboardChange): void {
    const { content } = change
    const sha = sha256(clipboardBytes(content))
    const { type, size, text } = change
    this.#o.emit('clipboard-changed', { type, size, ...(text !== undefined && { text }) })
    if (this.#current?.sha === sha) return
    this.#current = { content, sha }
    const fromViewer = this.#incoming?.sha === sha ? this.#incoming.peerId : undefined
    this.#incoming = undefined
    this.#remember(content, sha, fromViewer)
    for (const [peerId, viewer] of this.#viewers) this.#offer(peerId, viewer)
  }

  /** A viewer's clipboard channel opened: it gets the host's current clipboard (if it may read it). */
  attach(peerId: string, channel: PeerDataChannel): void {
    const viewer: Attached = {
      channel,
      assembler: new ClipboardAssembler(() => this.#o.maxBytes),
      has: undefined,
    }
    this.#viewers.set(peerId, viewer)
    channel.onMessage((frame) => this.#onFrame(peerId, viewer, frame))
    channel.onClose(() => {
      if (this.#viewers.get(peerId) === viewer) this.#viewers.delete(peerId)
    })
    this.#offer(peerId, viewer)
  }

  history(): ClipboardEntry[] {
    return this.#history.map((entry) => ({ ...entry }))
  }

  clearHistory(): void {
    this.#history.length = 0
  }

  #offer(peerId: string, viewer: Attached): void {
    const current = this.#current
    if (!current || viewer.has === current.sha || !this.#o.roster.permissions(peerId).clipboard_read) return
    viewer.has = current.sha
    sendClipboard(viewer.channel, randomBytes(8).toString('hex'), current.content).catch((err: unknown) =>
      log.warn({ peerId, err: String(err) }, 'sending the clipboard failed'),
    )
  }

  #onFrame(peerId: string, viewer: Attached, frame: Uint8Array): void {
    if (!this.#o.roster.permissions(peerId).clipboard_write) {
      // Refused at the announcement, before a byte is buffered; the data frames after it are
      // dropped unread (a viewer that may not write must not make the host hold megabytes).
      if (isControlFrame(frame)) {
        this.#refuse(
          peerId,
          viewer,
          new SmolDeskError('FORBIDDEN', 'this viewer may not set the host clipboard'),
        )
      }
      return
    }
    let content: ClipboardContent | undefined
    try {
      content = viewer.assembler.push(frame)
    } catch (err) {
      this.#refuse(peerId, viewer, SmolDeskError.from(err))
      return
    }
    if (!content) return
    if (!this.#o.roster.permissions(peerId).clipboard_write) {
      this.#refuse(
        peerId,
        viewer,
        new SmolDeskError('FORBIDDEN', 'this viewer may not set the host clipboard'),
      )
      return
    }
    const sha = sha256(clipboardBytes(content))
    viewer.has = sha
    if (this.#current?.sha === sha) return
    this.#incoming = { sha, peerId }
    this.#o
      .clipboard()
      .then((clipboard) => clipboard.write(content))
      .catch((err: unknown) => this.#refuse(peerId, viewer, SmolDeskError.from(err)))
  }

  #refuse(peerId: string, viewer: Attached, error: SmolDeskError): void {
    log.info({ peerId, code: error.code, message: error.message }, 'viewer clipboard refused')
    if (error instanceof ClipboardRefusedError) return
    viewer.channel.send(
      encodeControl({ type: 'clip-error', code: error.code, message: error.message.slice(0, 1000) }),
    )
  }

  #remember(content: ClipboardContent, sha: string, peerId: string | undefined): void {
    const described = describeContent(content)
    const entry: ClipboardEntry = {
      id: randomBytes(8).toString('hex'),
      type: described.type,
      size: described.size,
      source: peerId === undefined ? 'host' : 'viewer',
      ...(peerId !== undefined && { peer_id: peerId }),
      sha256: sha,
      at: Date.now(),
    }
    if (content.kind === 'text') {
      const cut = described.size > HISTORY_TEXT_BYTES
      entry.text = cut
        ? Buffer.from(content.text, 'utf8').subarray(0, HISTORY_TEXT_BYTES).toString('utf8')
        : content.text
      if (cut) entry.truncated = true
    }
    this.#history.unshift(entry)
    this.#history.length = Math.min(this.#history.length, CLIPBOARD_HISTORY_LENGTH)
  }
}
