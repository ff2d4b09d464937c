import { z } from 'zod'
import {
  DATA_FRAME_MAX_PAYLOAD,
  decodeFrame,
  encodeControl,
  encodeData,
  FRAME_ID_PATTERN,
} from './data-frames.ts'
import { describeZodError, ErrorCodeSchema, SmolDeskError } from './errors.ts'
import type { TransferLink } from './transfer/types.ts'

/*
 * The clipboard channel: one `clip` control message announcing the content
 * (kind, MIME type, size), then its bytes in data frames under the same id.
 * The content is complete when `size` bytes arrived. A side that refuses it
 * (too large, no permission) answers `clip-error`.
 */
export const CLIPBOARD_MIME = { text: 'text/plain;charset=utf-8', image: 'image/png' } as const

export const ClipboardMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('clip'),
    id: z.string().regex(FRAME_ID_PATTERN),
    kind: z.enum(['text', 'image']),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  }),
  z.strictObject({ type: z.literal('clip-error'), code: ErrorCodeSchema, message: z.string().max(1000) }),
])
export type ClipboardMessage = z.infer<typeof ClipboardMessageSchema>

/** The other side refused what we sent (its `clip-error`): reported, never answered (no ping-pong). */
export class ClipboardRefusedError extends SmolDeskError {}

export type ClipboardContent = { kind: 'text'; text: string } | { kind: 'image'; png: Uint8Array }

export const ClipboardEntrySchema = z.strictObject({
  id: z.string(),
  type: z.enum(['text', 'image']),
  size: z.number().int().min(0),
  /** The text (text entries), cut to a preview for very long ones (see `truncated`). */
  text: z.string().optional(),
  truncated: z.boolean().optional(),
  /** Who put it there: the host's own desktop, or a viewer. */
  source: z.enum(['host', 'viewer']),
  peer_id: z.string().optional(),
  sha256: z.string(),
  at: z.number().int(),
})
export type ClipboardEntry = z.infer<typeof ClipboardEntrySchema>

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

export function clipboardBytes(content: ClipboardContent): Uint8Array {
  return content.kind === 'text' ? utf8.encode(content.text) : content.png
}

/** The PNG signature: an "image" that is not a PNG is refused, not pasted into anything. */
function isPng(data: Uint8Array): boolean {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
  return signature.every((byte, i) => data[i] === byte)
}

/** Sends one clipboard content, waiting on the channel's queue between frames. */
export async function sendClipboard(
  link: TransferLink,
  id: string,
  content: ClipboardContent,
): Promise<void> {
  const bytes = clipboardBytes(content)
  link.send(encodeControl({ type: 'clip', id, kind: content.kind, size: bytes.length }))
  for (let offset = 0; offset < bytes.length; offset += DATA_FRAME_MAX_PAYLOAD) {
    if (link.bufferedAmount() > 1024 * 1024) await link.drained()
    link.send(encodeData(id, offset, bytes.subarray(offset, offset + DATA_FRAME_MAX_PAYLOAD)))
  }
}

/**
 * Puts a clipboard content back together from frames. One content at a
 * time (a new `clip` replaces an unfinished one: the latest copy wins);
 * anything over `maxBytes` is refused before a byte of it is kept.
 */
export class ClipboardAssembler {
  readonly #maxBytes: () => number
  #current:
    | { id: string; kind: 'text' | 'image'; size: number; parts: Uint8Array[]; received: number }
    | undefined

  constructor(maxBytes: () => number) {
    this.#maxBytes = maxBytes
  }

  /** A complete content, undefined while one is still arriving; a coded error for anything wrong. */
  push(frame: Uint8Array): ClipboardContent | undefined {
    const decoded = decodeFrame(frame)
    if (decoded.kind === 'control') {
      const parsed = ClipboardMessageSchema.safeParse(decoded.message)
      if (!parsed.success) throw new SmolDeskError('INVALID_REQUEST', describeZodError(parsed.error))
      const msg = parsed.data
      if (msg.type === 'clip-error')
        throw new ClipboardRefusedError(msg.code, `the other side: ${msg.message}`)
      this.#current = undefined
      if (msg.size > this.#maxBytes()) {
        throw new SmolDeskError(
          'CLIPBOARD_TOO_LARGE',
          `clipboard content of ${msg.size} bytes; the limit is ${this.#maxBytes()}`,
        )
      }
      this.#current = { id: msg.id, kind: msg.kind, size: msg.size, parts: [], received: 0 }
      return this.#completeIfDone()
    }
    const current = this.#current
    if (!current || decoded.id !== current.id) return undefined // the rest of a refused or replaced content
    if (decoded.offset !== current.received || current.received + decoded.payload.length > current.size) {
      this.#current = undefined
      throw new SmolDeskError('INVALID_REQUEST', 'clipboard data out of order or beyond its size')
    }
    current.parts.push(decoded.payload.slice())
    current.received += decoded.payload.length
    return this.#completeIfDone()
  }

  #completeIfDone(): ClipboardContent | undefined {
    const current = this.#current
    if (!current || current.received < current.size) return undefined
    this.#current = undefined
    const bytes = new Uint8Array(current.size)
    let at = 0
    for (const part of current.parts) {
      bytes.set(part, at)
      at += part.length
    }
    if (current.kind === 'image') {
      if (!isPng(bytes)) throw new SmolDeskError('INVALID_REQUEST', 'clipboard image is not a PNG')
      return { kind: 'image', png: bytes }
    }
    try {
      return { kind: 'text', text: fromUtf8.decode(bytes) }
    } catch {
      throw new SmolDeskError('INVALID_REQUEST', 'clipboard text is not UTF-8')
    }
  }
}
