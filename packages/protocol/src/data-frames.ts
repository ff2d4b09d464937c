import { SmolDeskError } from './errors.ts'

/*
 * Framing shared by the clipboard and file channels.
 *
 *   byte 0   kind: 0 = control, 1 = data
 *   control  bytes 1… : one UTF-8 JSON object (parsed by the channel's zod schema)
 *   data     byte 1   : id length n (1–64, [A-Za-z0-9_-])
 *            bytes 2…n+1 : id (ASCII)
 *            next 8   : offset, uint64 BE (below 2^53)
 *            rest     : payload bytes
 *
 * Data frames carry raw bytes: no base64, no JSON around megabytes. One
 * frame must fit one SCTP message, and werift announces
 * `a=max-message-size:65536`, so a frame is at most 64 KiB including this
 * header (DATA_FRAME_MAX_PAYLOAD below).
 */
export const CLIPBOARD_CHANNEL = 'clipboard'
export const FILES_CHANNEL = 'files'

export const MAX_FRAME_BYTES = 64 * 1024
const KIND_CONTROL = 0
const KIND_DATA = 1
const MAX_ID_LENGTH = 64
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
/** The largest payload a data frame with the longest id can carry. */
export const DATA_FRAME_MAX_PAYLOAD = MAX_FRAME_BYTES - 2 - MAX_ID_LENGTH - 8
/** Control messages are small; anything bigger is someone probing. */
const MAX_CONTROL_BYTES = 8 * 1024

export const FRAME_ID_PATTERN = ID_PATTERN

export type Frame =
  | { kind: 'control'; message: unknown }
  | { kind: 'data'; id: string; offset: number; payload: Uint8Array }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Whether a frame is a control message (without decoding it). */
export function isControlFrame(bytes: Uint8Array): boolean {
  return bytes[0] === KIND_CONTROL
}

export function encodeControl(message: object): Uint8Array {
  const json = encoder.encode(JSON.stringify(message))
  const frame = new Uint8Array(1 + json.length)
  frame[0] = KIND_CONTROL
  frame.set(json, 1)
  return frame
}

/** Bytes before the payload in a data frame for this id. */
export function dataHeaderBytes(id: string): number {
  return 2 + id.length + 8
}

/**
 * Writes a data frame's header into the start of `frame`, whose payload
 * (from dataHeaderBytes(id) on) the caller filled: a sender that reads
 * straight into its frame buffer allocates and copies nothing per chunk.
 */
export function writeDataHeader(frame: Uint8Array, id: string, offset: number): Uint8Array {
  if (!ID_PATTERN.test(id)) throw new SmolDeskError('INVALID_ARGS', `bad frame id ${JSON.stringify(id)}`)
  if (frame.length > MAX_FRAME_BYTES) {
    throw new SmolDeskError(
      'MESSAGE_TOO_LARGE',
      `data frame of ${frame.length} bytes exceeds ${MAX_FRAME_BYTES}`,
    )
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  frame[0] = KIND_DATA
  frame[1] = id.length
  for (let i = 0; i < id.length; i++) frame[2 + i] = id.charCodeAt(i)
  const at = 2 + id.length
  view.setUint32(at, Math.floor(offset / 2 ** 32))
  view.setUint32(at + 4, offset >>> 0)
  return frame
}

export function encodeData(id: string, offset: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(dataHeaderBytes(id) + payload.length)
  frame.set(payload, dataHeaderBytes(id))
  return writeDataHeader(frame, id, offset)
}

/** Parses one frame; anything malformed is MESSAGE_TOO_LARGE or INVALID_REQUEST, never a crash. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length > MAX_FRAME_BYTES)
    throw new SmolDeskError('MESSAGE_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`)
  if (bytes[0] === KIND_CONTROL) {
    if (bytes.length > 1 + MAX_CONTROL_BYTES)
      throw new SmolDeskError('MESSAGE_TOO_LARGE', `control message of ${bytes.length} bytes`)
    let message: unknown
    try {
      message = JSON.parse(decoder.decode(bytes.subarray(1)))
    } catch {
      throw new SmolDeskError('INVALID_JSON', 'control frame is not UTF-8 JSON')
    }
    return { kind: 'control', message }
  }
  if (bytes[0] === KIND_DATA && bytes.length >= 2) {
    const n = bytes[1] ?? 0
    const at = 2 + n
    if (n === 0 || n > MAX_ID_LENGTH || bytes.length < at + 8)
      throw new SmolDeskError('INVALID_REQUEST', 'truncated data frame')
    const id = String.fromCharCode(...bytes.subarray(2, at))
    if (!ID_PATTERN.test(id)) throw new SmolDeskError('INVALID_REQUEST', 'bad id in data frame')
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const offset = view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4)
    if (!Number.isSafeInteger(offset)) throw new SmolDeskError('INVALID_REQUEST', 'offset out of range')
    return { kind: 'data', id, offset, payload: bytes.subarray(at + 8) }
  }
  throw new SmolDeskError('INVALID_REQUEST', `unknown frame kind ${bytes[0]}`)
}
