import { SmolDeskError } from '@smoldesk/protocol'
import type { X11Connection } from './connection.ts'

/*
 * RandR requests SmolDesk needs, written against the wire protocol
 * (randrproto.txt) because node-x11 lacks RandR 1.5's GetMonitors. Reply
 * buffers handed to parsers start at byte 8 of the reply.
 */

export interface RandrMonitor {
  name: number
  primary: boolean
  x: number
  y: number
  width: number
  height: number
  outputs: number[]
}

interface ModeInfo {
  id: number
  dotClock: number
  hTotal: number
  vTotal: number
  flags: number
}

interface CrtcInfo {
  mode: number
  outputs: number[]
}

const RR_GET_SCREEN_RESOURCES_CURRENT = 25
const RR_GET_CRTC_INFO = 20
const RR_GET_MONITORS = 42
const RR_QUERY_VERSION = 0
const MODE_FLAG_INTERLACE = 0x10
const MODE_FLAG_DOUBLE_SCAN = 0x20

export class Randr {
  readonly #conn: X11Connection
  readonly #opcode: number
  readonly version: [number, number]

  private constructor(conn: X11Connection, opcode: number, version: [number, number]) {
    this.#conn = conn
    this.#opcode = opcode
    this.version = version
  }

  /** Resolves undefined when the server lacks RandR or has a version before 1.5. */
  static async query(conn: X11Connection): Promise<Randr | undefined> {
    const ext = await conn.call<{ present: boolean; majorOpcode: number }>((cb) =>
      conn.client.QueryExtension('RANDR', cb),
    )
    if (!ext.present) return undefined
    const req = Buffer.alloc(12)
    req.writeUInt32LE(1, 4)
    req.writeUInt32LE(5, 8)
    const version = await rawRequest(conn, ext.majorOpcode, RR_QUERY_VERSION, req, (buf) => [
      buf.readUInt32LE(0),
      buf.readUInt32LE(4),
    ])
    const [major = 0, minor = 0] = version
    if (major < 1 || (major === 1 && minor < 5)) return undefined
    return new Randr(conn, ext.majorOpcode, [major, minor])
  }

  getMonitors(window: number): Promise<RandrMonitor[]> {
    const req = Buffer.alloc(12)
    req.writeUInt32LE(window >>> 0, 4)
    req.writeUInt8(1, 8) // get_active: only monitors that are on
    return rawRequest(this.#conn, this.#opcode, RR_GET_MONITORS, req, (buf) => {
      const count = buf.readUInt32LE(4)
      const monitors: RandrMonitor[] = []
      let pos = 24
      for (let i = 0; i < count; i++) {
        const outputCount = buf.readUInt16LE(pos + 6)
        const outputs: number[] = []
        for (let o = 0; o < outputCount; o++) outputs.push(buf.readUInt32LE(pos + 24 + o * 4))
        monitors.push({
          name: buf.readUInt32LE(pos),
          primary: buf.readUInt8(pos + 4) !== 0,
          x: buf.readInt16LE(pos + 8),
          y: buf.readInt16LE(pos + 10),
          width: buf.readUInt16LE(pos + 12),
          height: buf.readUInt16LE(pos + 14),
          outputs,
        })
        pos += 24 + outputCount * 4
      }
      return monitors
    })
  }

  /** Refresh rate (Hz) of the mode on the CRTC driving each output, keyed by output id. */
  async refreshRatesByOutput(window: number): Promise<Map<number, number>> {
    const req = Buffer.alloc(8)
    req.writeUInt32LE(window >>> 0, 4)
    const resources = await rawRequest(
      this.#conn,
      this.#opcode,
      RR_GET_SCREEN_RESOURCES_CURRENT,
      req,
      (buf) => {
        const configTimestamp = buf.readUInt32LE(4)
        const crtcCount = buf.readUInt16LE(8)
        const outputCount = buf.readUInt16LE(10)
        const modeCount = buf.readUInt16LE(12)
        const crtcs: number[] = []
        for (let i = 0; i < crtcCount; i++) crtcs.push(buf.readUInt32LE(24 + i * 4))
        const modesAt = 24 + (crtcCount + outputCount) * 4
        const modes = new Map<number, ModeInfo>()
        for (let i = 0; i < modeCount; i++) {
          const o = modesAt + i * 32
          const mode = {
            id: buf.readUInt32LE(o),
            dotClock: buf.readUInt32LE(o + 8),
            hTotal: buf.readUInt16LE(o + 16),
            vTotal: buf.readUInt16LE(o + 24),
            flags: buf.readUInt32LE(o + 28),
          }
          modes.set(mode.id, mode)
        }
        return { configTimestamp, crtcs, modes }
      },
    )
    const rates = new Map<number, number>()
    const infos = await Promise.all(
      resources.crtcs.map((crtc) => this.#crtcInfo(crtc, resources.configTimestamp)),
    )
    for (const info of infos) {
      const mode = resources.modes.get(info.mode)
      if (!mode) continue
      const rate = refreshRate(mode)
      for (const output of info.outputs) rates.set(output, rate)
    }
    return rates
  }

  #crtcInfo(crtc: number, configTimestamp: number): Promise<CrtcInfo> {
    const req = Buffer.alloc(12)
    req.writeUInt32LE(crtc >>> 0, 4)
    req.writeUInt32LE(configTimestamp >>> 0, 8)
    return rawRequest(this.#conn, this.#opcode, RR_GET_CRTC_INFO, req, (buf) => {
      const outputCount = buf.readUInt16LE(16)
      const outputs: number[] = []
      for (let i = 0; i < outputCount; i++) outputs.push(buf.readUInt32LE(24 + i * 4))
      return { mode: buf.readUInt32LE(12), outputs }
    })
  }
}

/** dot clock / (htotal × vtotal), corrected for interlace and double scan, to 2 decimals. */
export function refreshRate(mode: {
  dotClock: number
  hTotal: number
  vTotal: number
  flags: number
}): number {
  if (mode.dotClock === 0 || mode.hTotal === 0 || mode.vTotal === 0) return 0
  let vTotal = mode.vTotal
  if (mode.flags & MODE_FLAG_DOUBLE_SCAN) vTotal *= 2
  if (mode.flags & MODE_FLAG_INTERLACE) vTotal /= 2
  return Math.round((mode.dotClock / (mode.hTotal * vTotal)) * 100) / 100
}

/**
 * Sends one extension request. `body` is the whole request with bytes 0–3
 * left for the header, which is filled in here.
 */
function rawRequest<T>(
  conn: X11Connection,
  majorOpcode: number,
  minorOpcode: number,
  body: Buffer,
  parse: (reply: Buffer) => T,
): Promise<T> {
  if (body.length % 4 !== 0) throw new SmolDeskError('INTERNAL', 'X request length must be a multiple of 4')
  body.writeUInt8(majorOpcode, 0)
  body.writeUInt8(minorOpcode, 1)
  body.writeUInt16LE(body.length / 4, 2)
  return conn.call<T>((cb) => {
    const client = conn.client
    client.seq_num++
    client.pack_stream.put(body)
    client.replies[client.seq_num] = [(buf) => parse(buf), cb as (err: Error | null, result: unknown) => void]
    client.pack_stream.submit(true)
  })
}

const RR_SELECT_INPUT = 4
/** RRScreenChangeNotify, RRCrtcChangeNotify, RROutputChangeNotify. */
const RR_CHANGE_MASK = 0x1 | 0x2 | 0x4
/** Event codes relative to the extension's first event: RRScreenChangeNotify, RRNotify. */
const RR_EVENTS = [0, 1]

/**
 * Calls `onChange` whenever the monitor layout may have changed (a mode, a
 * position, an output on or off), from RandR's own notifications on the
 * root window: no polling. Resolves false when the server has no RandR.
 */
export async function watchRandr(conn: X11Connection, onChange: () => void): Promise<boolean> {
  const ext = await conn.call<{ present: boolean; majorOpcode: number; firstEvent: number }>((cb) =>
    conn.client.QueryExtension('RANDR', cb),
  )
  if (!ext.present) return false
  const codes = new Set(RR_EVENTS.map((e) => ext.firstEvent + e))
  const client = conn.client as unknown as {
    eventParsers: Record<number, (type: number, seq: number) => { type: number; seq: number; name: string }>
  }
  for (const code of codes) client.eventParsers[code] = (type, seq) => ({ type, seq, name: 'RandrChange' })
  conn.on('event', (ev) => {
    if (codes.has((ev as { type: number }).type & 0x7f)) onChange()
  })
  // RRSelectInput has no reply: header, window, enable mask, padding.
  const req = Buffer.alloc(12)
  req.writeUInt8(ext.majorOpcode, 0)
  req.writeUInt8(RR_SELECT_INPUT, 1)
  req.writeUInt16LE(3, 2)
  req.writeUInt32LE(conn.root >>> 0, 4)
  req.writeUInt16LE(RR_CHANGE_MASK, 8)
  conn.client.seq_num++
  conn.client.pack_stream.put(req)
  conn.client.pack_stream.submit(true)
  await conn.sync()
  return true
}
