import { type CursorImage, MAX_CURSOR_SIZE } from '@smoldesk/protocol'
import type { XEvent } from 'x11'
import { createLogger } from '../../log.ts'
import { X11Connection } from './connection.ts'

const log = createLogger('input.cursor')
const DISPLAY_CURSOR_NOTIFY_MASK = 1

interface XFixesCursor {
  firstEvent: number
  SelectCursorInput(window: number, mask: number): void
  GetCursorImage(
    cb: (
      err: Error | null,
      image: { width: number; height: number; xhot: number; yhot: number; cursorImage: Buffer },
    ) => void,
  ): void
}

/**
 * Follows the X cursor's shape through XFixes (CursorNotify, no polling) so
 * viewers can draw the pointer locally, at zero latency, from its image.
 */
export class CursorWatcher {
  readonly #conn: X11Connection
  readonly #xfixes: XFixesCursor
  readonly #listeners = new Set<(cursor: CursorImage) => void>()
  #current: CursorImage | undefined

  private constructor(conn: X11Connection, xfixes: XFixesCursor) {
    this.#conn = conn
    this.#xfixes = xfixes
    conn.on('event', (ev: XEvent) => {
      if ((ev.type & 0x7f) === xfixes.firstEvent + 1) void this.#refresh()
    })
  }

  static async open(display: string): Promise<CursorWatcher> {
    const conn = await X11Connection.open(display)
    try {
      const xfixes = (await conn.call((cb) => conn.client.require('fixes', cb))) as unknown as XFixesCursor
      xfixes.SelectCursorInput(conn.root, DISPLAY_CURSOR_NOTIFY_MASK)
      const watcher = new CursorWatcher(conn, xfixes)
      await watcher.#refresh()
      return watcher
    } catch (err) {
      conn.close()
      throw err
    }
  }

  get current(): CursorImage | undefined {
    return this.#current
  }

  get closed(): boolean {
    return this.#conn.closed
  }

  onChange(listener: (cursor: CursorImage) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  close(): void {
    this.#conn.close()
  }

  async #refresh(): Promise<void> {
    try {
      const image = await this.#conn.call<{
        width: number
        height: number
        xhot: number
        yhot: number
        cursorImage: Buffer
      }>((cb) => this.#xfixes.GetCursorImage(cb))
      if (image.width === 0 || image.width > MAX_CURSOR_SIZE || image.height > MAX_CURSOR_SIZE) return
      this.#current = {
        width: image.width,
        height: image.height,
        xhot: image.xhot,
        yhot: image.yhot,
        rgba: toStraightRgba(image.cursorImage),
      }
      for (const listener of this.#listeners) listener(this.#current)
    } catch (err) {
      // BadAccess when the cursor's creator has freed it (xsetroot does): keep the last image.
      log.debug({ err: String(err) }, 'cursor image unavailable')
    }
  }
}

/** XFixes gives premultiplied ARGB32 (little-endian B, G, R, A); browsers want straight RGBA. */
function toStraightRgba(argb: Buffer): Uint8Array {
  const out = new Uint8Array(argb.length)
  for (let i = 0; i < argb.length; i += 4) {
    const a = argb[i + 3] ?? 0
    const unpremultiply = (v: number) => (a === 0 ? 0 : Math.min(255, Math.round((v * 255) / a)))
    out[i] = unpremultiply(argb[i + 2] ?? 0)
    out[i + 1] = unpremultiply(argb[i + 1] ?? 0)
    out[i + 2] = unpremultiply(argb[i] ?? 0)
    out[i + 3] = a
  }
  return out
}
