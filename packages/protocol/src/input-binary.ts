import { SmolDeskError } from './errors.ts'
import { type InputEvent, InputEventSchema } from './input.ts'

/*
 * The compact, versioned binary form of input on the data channels.
 *
 *   byte 0      version (1)
 *   byte 1      kind (below)
 *   bytes 2–5   sequence number, uint32 BE (per viewer, increasing)
 *   then per kind:
 *     MOVE      x f32, y f32                          (video pixels)
 *     BUTTON    button u8, pressed u8, x f32, y f32
 *     SCROLL    dx f32, dy f32                        (pixels, DOM deltaMode 0)
 *     KEY       pressed u8, modifiers u8, code: u8 length + ASCII,
 *               then optionally key: u8 length + UTF-8 (the character the
 *               viewer's layout typed; frames without it are as before)
 *     TEXT      u16 length + UTF-8
 *     RELEASE   (nothing: release everything held — the page lost focus)
 *     REL_MOVE  dx f32, dy f32                        (relative motion, pointer lock)
 *   host → viewer, on the reliable channel:
 *     CURSOR    width u16, height u16, xhot u16, yhot u16, RGBA (straight alpha)
 *
 * Motion travels on an unordered, no-retransmit channel where the latest
 * wins; everything else on a reliable ordered one. The sequence number lets
 * the host drop a motion that arrives after a later click.
 */
export const INPUT_FORMAT_VERSION = 1
export const INPUT_KIND = {
  MOVE: 1,
  BUTTON: 2,
  SCROLL: 3,
  KEY: 4,
  TEXT: 5,
  RELEASE: 6,
  CURSOR: 7,
  REL_MOVE: 8,
} as const
export const MOTION_CHANNEL = 'input-motion'
export const INPUT_CHANNEL = 'input'

const BUTTON_CODES = ['Left', 'Middle', 'Right', 'Back', 'Forward'] as const
const MODIFIER_BITS = ['Shift', 'Control', 'Alt', 'Meta'] as const
const HEADER = 6

export type DecodedInput = { seq: number; release: true } | { seq: number; release: false; event: InputEvent }

function invalid(message: string): SmolDeskError {
  return new SmolDeskError('INVALID_ARGS', `input frame: ${message}`)
}

/** Decodes one frame; anything malformed is an INVALID_ARGS error, never a crash. */
export function decodeInputFrame(frame: Uint8Array): DecodedInput {
  if (frame.byteLength < HEADER) throw invalid('too short')
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  if (view.getUint8(0) !== INPUT_FORMAT_VERSION) throw invalid(`unknown version ${view.getUint8(0)}`)
  const kind = view.getUint8(1)
  const seq = view.getUint32(2)
  const need = (bytes: number) => {
    if (frame.byteLength !== HEADER + bytes) throw invalid(`kind ${kind} needs ${bytes} payload bytes`)
  }
  let event: unknown
  switch (kind) {
    case INPUT_KIND.MOVE:
      need(8)
      event = { event_type: 'MouseMove', x: view.getFloat32(6), y: view.getFloat32(10) }
      break
    case INPUT_KIND.REL_MOVE:
      need(8)
      event = { event_type: 'MouseMove', delta_x: view.getFloat32(6), delta_y: view.getFloat32(10) }
      break
    case INPUT_KIND.BUTTON: {
      need(10)
      const button = BUTTON_CODES[view.getUint8(6)]
      if (!button) throw invalid('unknown button')
      event = {
        event_type: 'MouseButton',
        button,
        is_pressed: view.getUint8(7) !== 0,
        x: view.getFloat32(8),
        y: view.getFloat32(12),
      }
      break
    }
    case INPUT_KIND.SCROLL:
      need(8)
      event = { event_type: 'MouseScroll', delta_x: view.getFloat32(6), delta_y: view.getFloat32(10) }
      break
    case INPUT_KIND.KEY: {
      if (frame.byteLength < HEADER + 3) throw invalid('key frame too short')
      const length = view.getUint8(8)
      if (frame.byteLength === HEADER + 3 + length) need(3 + length)
      else if (frame.byteLength < HEADER + 4 + length) throw invalid('key frame too short')
      const mask = view.getUint8(7)
      const code = String.fromCharCode(...frame.subarray(HEADER + 3, HEADER + 3 + length))
      const keyAt = HEADER + 3 + length
      let key: string | undefined
      if (frame.byteLength > keyAt) {
        const keyLength = view.getUint8(keyAt)
        need(3 + length + 1 + keyLength)
        try {
          key = new TextDecoder('utf-8', { fatal: true }).decode(
            frame.subarray(keyAt + 1, keyAt + 1 + keyLength),
          )
        } catch {
          throw invalid('key is not UTF-8')
        }
      }
      event = {
        event_type: view.getUint8(6) ? 'KeyPress' : 'KeyRelease',
        key_code: code,
        ...(key !== undefined && { key }),
        modifiers: MODIFIER_BITS.filter((_, i) => mask & (1 << i)),
      }
      break
    }
    case INPUT_KIND.TEXT: {
      if (frame.byteLength < HEADER + 2) throw invalid('text frame too short')
      const length = view.getUint16(6)
      need(2 + length)
      let text: string
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(HEADER + 2))
      } catch {
        throw invalid('text is not UTF-8')
      }
      event = { event_type: 'Text', text }
      break
    }
    case INPUT_KIND.RELEASE:
      need(0)
      return { seq, release: true }
    default:
      throw invalid(`unknown kind ${kind}`)
  }
  const parsed = InputEventSchema.safeParse(event)
  if (!parsed.success) throw invalid('values out of range')
  return { seq, release: false, event: parsed.data }
}

function header(kind: number, seq: number, payload: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(HEADER + payload)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, INPUT_FORMAT_VERSION)
  view.setUint8(1, kind)
  view.setUint32(2, seq >>> 0)
  return { bytes, view }
}

/** The frames whose payload is two float32s: absolute and relative motion, scrolling. */
function encodeFloatPair(kind: number, seq: number, a: number, b: number): Uint8Array {
  const { bytes, view } = header(kind, seq, 8)
  view.setFloat32(6, a)
  view.setFloat32(10, b)
  return bytes
}

export function encodeMove(seq: number, x: number, y: number): Uint8Array {
  return encodeFloatPair(INPUT_KIND.MOVE, seq, x, y)
}

/** Relative motion (pointer lock): travels with the other motion, unordered. */
export function encodeRelativeMove(seq: number, dx: number, dy: number): Uint8Array {
  return encodeFloatPair(INPUT_KIND.REL_MOVE, seq, dx, dy)
}

export function encodeButton(
  seq: number,
  button: (typeof BUTTON_CODES)[number],
  pressed: boolean,
  x: number,
  y: number,
): Uint8Array {
  const { bytes, view } = header(INPUT_KIND.BUTTON, seq, 10)
  view.setUint8(6, BUTTON_CODES.indexOf(button))
  view.setUint8(7, pressed ? 1 : 0)
  view.setFloat32(8, x)
  view.setFloat32(12, y)
  return bytes
}

export function encodeScroll(seq: number, dx: number, dy: number): Uint8Array {
  return encodeFloatPair(INPUT_KIND.SCROLL, seq, dx, dy)
}

export function encodeKey(
  seq: number,
  code: string,
  pressed: boolean,
  modifiers: readonly (typeof MODIFIER_BITS)[number][],
  key?: string,
): Uint8Array {
  const ascii = Array.from(code.slice(0, 32), (c) => c.charCodeAt(0) & 0x7f)
  const utf8 = key === undefined ? undefined : new TextEncoder().encode(key).subarray(0, 32)
  const { bytes, view } = header(INPUT_KIND.KEY, seq, 3 + ascii.length + (utf8 ? 1 + utf8.length : 0))
  view.setUint8(6, pressed ? 1 : 0)
  view.setUint8(
    7,
    modifiers.reduce((mask, m) => mask | (1 << MODIFIER_BITS.indexOf(m)), 0),
  )
  view.setUint8(8, ascii.length)
  bytes.set(ascii, HEADER + 3)
  if (utf8) {
    view.setUint8(HEADER + 3 + ascii.length, utf8.length)
    bytes.set(utf8, HEADER + 4 + ascii.length)
  }
  return bytes
}

export function encodeText(seq: number, text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text)
  const { bytes, view } = header(INPUT_KIND.TEXT, seq, 2 + utf8.length)
  view.setUint16(6, utf8.length)
  bytes.set(utf8, HEADER + 2)
  return bytes
}

export function encodeRelease(seq: number): Uint8Array {
  return header(INPUT_KIND.RELEASE, seq, 0).bytes
}

/** The host's cursor image, so the viewer can draw the pointer itself with no delay. */
export interface CursorImage {
  width: number
  height: number
  xhot: number
  yhot: number
  rgba: Uint8Array
}

/** Cursors larger than this are not sent (no real cursor is; it bounds the frame). */
export const MAX_CURSOR_SIZE = 256

export function encodeCursor(seq: number, cursor: CursorImage): Uint8Array {
  const { bytes, view } = header(INPUT_KIND.CURSOR, seq, 8 + cursor.rgba.length)
  view.setUint16(6, cursor.width)
  view.setUint16(8, cursor.height)
  view.setUint16(10, cursor.xhot)
  view.setUint16(12, cursor.yhot)
  bytes.set(cursor.rgba, HEADER + 8)
  return bytes
}

export function decodeCursorFrame(frame: Uint8Array): CursorImage | undefined {
  if (frame.byteLength < HEADER + 8) return undefined
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  if (view.getUint8(0) !== INPUT_FORMAT_VERSION || view.getUint8(1) !== INPUT_KIND.CURSOR) return undefined
  const width = view.getUint16(6)
  const height = view.getUint16(8)
  if (width === 0 || height === 0 || width > MAX_CURSOR_SIZE || height > MAX_CURSOR_SIZE) return undefined
  if (frame.byteLength !== HEADER + 8 + width * height * 4) return undefined
  return { width, height, xhot: view.getUint16(10), yhot: view.getUint16(12), rgba: frame.slice(HEADER + 8) }
}
