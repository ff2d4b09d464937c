import { type ClipboardContent, SmolDeskError } from '@smoldesk/protocol'
import type { XEvent, XFixes } from 'x11'
import {
  CLIPBOARD_MAX_BYTES,
  type Clipboard,
  type ClipboardChange,
  describeContent,
} from '../../clipboard/clipboard.ts'
import { createLogger } from '../../log.ts'
import { X11Connection } from './connection.ts'

/*
 * Size (~400 lines): one protocol, the ICCCM CLIPBOARD selection, in both
 * roles (owner answering requests, requestor reading another client's
 * selection), each with INCR for large content; split, the two halves would
 * share every atom and the connection's event routing.
 */

const log = createLogger('clipboard.x11')

const PROP_MODE_REPLACE = 0
const PROP_MODE_APPEND = 2
const PROPERTY_NEW_VALUE = 0
const PROPERTY_DELETE = 1
const INPUT_ONLY = 2
const NONE = 0
const CURRENT_TIME = 0
const ATOM_TYPE = 4
const INTEGER_TYPE = 19
const PROPERTY_CHANGE_MASK = 0x00400000
/** Above this, contents go out in INCR chunks (ICCCM): one ChangeProperty must fit a request (< 256 KiB without BIG-REQUESTS). */
const INCR_CHUNK_BYTES = 64 * 1024
const ANSWER_TIMEOUT_MS = 3000
/** XFixes: tell us about SetSelectionOwner, SelectionWindowDestroy and SelectionClientClose. */
const XFIXES_ALL_SELECTION_EVENTS = 7

type AtomName =
  | 'CLIPBOARD'
  | 'TARGETS'
  | 'TIMESTAMP'
  | 'UTF8_STRING'
  | 'STRING'
  | 'TEXT'
  | 'text/plain;charset=utf-8'
  | 'text/plain'
  | 'INCR'
  | 'image/png'
  | 'SMOLDESK_CLIPBOARD'
  | 'SMOLDESK_TIME'

const ATOM_NAMES: AtomName[] = [
  'CLIPBOARD',
  'TARGETS',
  'TIMESTAMP',
  'UTF8_STRING',
  'STRING',
  'TEXT',
  'text/plain;charset=utf-8',
  'text/plain',
  'INCR',
  'image/png',
  'SMOLDESK_CLIPBOARD',
  'SMOLDESK_TIME',
]

interface Owned {
  content: ClipboardContent
  /** The bytes we answer with: UTF-8 text or the PNG. */
  data: Buffer
  time: number
}

/**
 * The X CLIPBOARD selection, spoken directly over one persistent X
 * connection (ICCCM): reading converts the selection into a property on a
 * hidden window of ours; writing makes that window the owner and answers
 * other clients' requests (TARGETS, UTF8_STRING, STRING, TIMESTAMP, INCR for
 * large text). No clipboard tool is spawned, so no process is left per copy.
 */
export class X11Clipboard implements Clipboard {
  readonly #conn: X11Connection
  readonly #window: number
  readonly #atoms: Record<AtomName, number>
  #owned: Owned | undefined
  /** Conversions are serialised: each uses the same property on our window. */
  #queue: Promise<unknown> = Promise.resolve()
  readonly #waiters = new Set<(ev: XEvent) => boolean>()
  readonly #listeners = new Set<(change: ClipboardChange) => void>()
  readonly #xfixesEvent: number
  readonly #maxBytes: number

  private constructor(
    conn: X11Connection,
    window: number,
    atoms: Record<AtomName, number>,
    xfixesEvent: number,
    maxBytes: number,
  ) {
    this.#conn = conn
    this.#window = window
    this.#atoms = atoms
    this.#xfixesEvent = xfixesEvent
    this.#maxBytes = maxBytes
    conn.on('event', (ev) => this.#onEvent(ev))
  }

  static async open(display: string, maxBytes = CLIPBOARD_MAX_BYTES): Promise<X11Clipboard> {
    const conn = await X11Connection.open(display)
    try {
      const values = await Promise.all(ATOM_NAMES.map((name) => conn.atom(name)))
      const atoms = Object.fromEntries(ATOM_NAMES.map((name, i) => [name, values[i]])) as Record<
        AtomName,
        number
      >
      const window = conn.client.AllocID()
      conn.client.CreateWindow(window, conn.root, -10, -10, 1, 1, 0, 0, INPUT_ONLY, 0, {
        eventMask: PROPERTY_CHANGE_MASK,
      })
      // Change detection without polling: XFixes reports every new selection owner.
      const xfixes = await conn.call<XFixes>((cb) => conn.client.require('fixes', cb))
      xfixes.SelectSelectionInput(window, atoms.CLIPBOARD, XFIXES_ALL_SELECTION_EVENTS)
      await conn.sync()
      return new X11Clipboard(conn, window, atoms, xfixes.firstEvent, maxBytes)
    } catch (err) {
      conn.close()
      throw err
    }
  }

  close(): void {
    this.#conn.close()
  }

  get closed(): boolean {
    return this.#conn.closed
  }

  onChange(listener: (change: ClipboardChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async getText(): Promise<string> {
    const content = await this.read()
    if (content === undefined) return ''
    if (content.kind !== 'text')
      throw new SmolDeskError('CLIPBOARD_ERROR', 'the clipboard holds an image, not text')
    return content.text
  }

  setText(text: string): Promise<void> {
    return this.write({ kind: 'text', text })
  }

  /** The clipboard's content: text when the owner offers text, else a PNG image; undefined when empty. */
  read(): Promise<ClipboardContent | undefined> {
    const run = this.#queue.then(() => this.#read())
    this.#queue = run.catch(() => {})
    return run
  }

  async write(content: ClipboardContent): Promise<void> {
    const data = content.kind === 'text' ? Buffer.from(content.text, 'utf8') : Buffer.from(content.png)
    if (data.length > this.#maxBytes) {
      throw new SmolDeskError(
        'CLIPBOARD_TOO_LARGE',
        `clipboard ${content.kind} has ${data.length} bytes; the limit is ${this.#maxBytes}`,
      )
    }
    const time = await this.#serverTime()
    this.#owned = { content, data, time }
    this.#conn.client.SetSelectionOwner(this.#window, this.#atoms.CLIPBOARD, time)
    const owner = await this.#conn.call<number>((cb) =>
      this.#conn.client.GetSelectionOwner(this.#atoms.CLIPBOARD, cb),
    )
    if (owner !== this.#window) {
      this.#owned = undefined
      throw new SmolDeskError('CLIPBOARD_ERROR', 'the X server did not give SmolDesk the CLIPBOARD selection')
    }
  }

  async #read(): Promise<ClipboardContent | undefined> {
    // Ask the server who owns the selection rather than trusting #owned: a
    // SelectionClear may still be on its way to us.
    const owner = await this.#conn.call<number>((cb) =>
      this.#conn.client.GetSelectionOwner(this.#atoms.CLIPBOARD, cb),
    )
    if (owner === this.#window && this.#owned) return this.#owned.content
    this.#owned = undefined
    if (owner === NONE) return undefined
    const a = this.#atoms
    const targetList = await this.#convert(a.TARGETS)
    const targets = new Set<number>()
    if (targetList)
      for (let i = 0; i + 4 <= targetList.length; i += 4) targets.add(targetList.readUInt32LE(i))
    // Text first when there is any (an app that copies text may add a rendering as an image, not the reverse).
    const textTargets =
      targets.size === 0 ? [a.UTF8_STRING, a.STRING] : [a.UTF8_STRING, a.STRING].filter((t) => targets.has(t))
    for (const target of textTargets) {
      const data = await this.#convert(target)
      if (data !== undefined)
        return { kind: 'text', text: data.toString(target === a.STRING ? 'latin1' : 'utf8') }
    }
    if (targets.has(a['image/png'])) {
      const png = await this.#convert(a['image/png'])
      if (png !== undefined) return { kind: 'image', png }
    }
    throw new SmolDeskError('CLIPBOARD_ERROR', 'the clipboard holds neither text nor a PNG image')
  }

  /** Asks the owner for the selection as `target`; undefined if it refuses that target. */
  async #convert(target: number): Promise<Buffer | undefined> {
    const { client } = this.#conn
    const property = this.#atoms.SMOLDESK_CLIPBOARD
    client.DeleteProperty(this.#window, property)
    // Property notifications are queued as they arrive, in wire order. Promise
    // continuations run later than event dispatch, so an INCR chunk can be
    // announced before the code that waits for it resumes: the queue keeps it.
    const newValues: XEvent[] = []
    const collect = (ev: XEvent) => {
      if (ev.name === 'PropertyNotify' && ev.wid === this.#window && ev.atom === property) {
        if (ev.state === PROPERTY_NEW_VALUE) newValues.push(ev)
      }
      return false
    }
    this.#waiters.add(collect)
    try {
      const notify = this.#waitFor((ev) => {
        if (ev.name !== 'SelectionNotify' || ev.requestor !== this.#window) return false
        // Everything queued so far belongs to the reply itself (the INCR announcement); chunks come later.
        newValues.length = 0
        return true
      }, 'the clipboard owner did not answer')
      client.ConvertSelection(this.#window, this.#atoms.CLIPBOARD, target, property, CURRENT_TIME)
      const ev = await notify
      if (ev.property === NONE) return undefined
      const first = await this.#conn.getProperty(this.#window, property, { delete: true })
      if (first.type !== this.#atoms.INCR) return this.#checkSize(first.data)
      return await this.#readIncr(newValues)
    } finally {
      this.#waiters.delete(collect)
    }
  }

  /** ICCCM INCR: each time we delete the property, the owner writes the next chunk; an empty chunk ends it. */
  async #readIncr(newValues: XEvent[]): Promise<Buffer> {
    const property = this.#atoms.SMOLDESK_CLIPBOARD
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      while (newValues.length === 0) {
        // The collector (registered first) queues the event before this waiter sees it.
        await this.#waitFor(
          (ev) => ev.name === 'PropertyNotify' && ev.wid === this.#window && ev.atom === property,
          'the clipboard owner stopped sending',
        )
      }
      newValues.shift()
      const chunk = await this.#conn.getProperty(this.#window, property, { delete: true })
      if (chunk.data.length === 0) return Buffer.concat(chunks, total)
      total += chunk.data.length
      this.#checkSize(Buffer.alloc(0), total)
      chunks.push(Buffer.from(chunk.data))
    }
  }

  #checkSize(data: Buffer, size = data.length): Buffer {
    if (size > this.#maxBytes) {
      throw new SmolDeskError('CLIPBOARD_TOO_LARGE', `clipboard contents exceed ${this.#maxBytes} bytes`)
    }
    return Buffer.from(data)
  }

  /** A server timestamp (ICCCM forbids CurrentTime for ownership): a zero-length append yields a PropertyNotify. */
  async #serverTime(): Promise<number> {
    const property = this.#atoms.SMOLDESK_TIME
    const notify = this.#waitFor(
      (ev) => ev.name === 'PropertyNotify' && ev.wid === this.#window && ev.atom === property,
      'no timestamp from the X server',
    )
    this.#conn.client.ChangeProperty(
      PROP_MODE_APPEND,
      this.#window,
      property,
      this.#atoms.STRING,
      8,
      Buffer.alloc(0),
    )
    const ev = await notify
    return Number(ev.time)
  }

  #waitFor(match: (ev: XEvent) => boolean, what: string): Promise<XEvent> {
    return new Promise((resolve, reject) => {
      const waiter = (ev: XEvent) => {
        if (!match(ev)) return false
        clearTimeout(timer)
        resolve(ev)
        return true
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new SmolDeskError('TIMEOUT', `${what} within ${ANSWER_TIMEOUT_MS} ms`))
      }, ANSWER_TIMEOUT_MS)
      this.#waiters.add(waiter)
    })
  }

  #onEvent(ev: XEvent): void {
    for (const waiter of this.#waiters) {
      if (waiter(ev)) this.#waiters.delete(waiter)
    }
    if ((ev.type & 0x7f) === this.#xfixesEvent && ev.selection === this.#atoms.CLIPBOARD) {
      this.#announceChange(Number(ev.owner)).catch((err: unknown) =>
        log.debug({ err: String(err) }, 'changed clipboard holds no text'),
      )
    } else if (ev.name === 'SelectionClear' && ev.selection === this.#atoms.CLIPBOARD) {
      this.#owned = undefined
    } else if (ev.name === 'SelectionRequest') {
      this.#answer(ev).catch((err: unknown) => log.warn({ err: String(err) }, 'selection request failed'))
    }
  }

  async #announceChange(owner: number): Promise<void> {
    if (owner === NONE || this.#listeners.size === 0) return
    const content = await this.read()
    if (content === undefined) return
    const change: ClipboardChange = { ...describeContent(content), content, mine: owner === this.#window }
    for (const listener of this.#listeners) listener(change)
  }

  /** Answers another client's request for our selection. */
  async #answer(ev: XEvent): Promise<void> {
    const { client } = this.#conn
    const requestor = Number(ev.requestor)
    const target = Number(ev.target)
    // Obsolete clients pass None as property; ICCCM says use the target atom then.
    const property = Number(ev.property) || target
    const owned = this.#owned
    const a = this.#atoms
    let ok =
      owned !== undefined &&
      ev.selection === a.CLIPBOARD &&
      (ev.time === CURRENT_TIME || Number(ev.time) >= owned.time)
    if (ok && owned) {
      const text = owned.content.kind === 'text' ? owned.content.text : undefined
      if (target === a.TARGETS) {
        const targets =
          text === undefined
            ? [a.TARGETS, a.TIMESTAMP, a['image/png']]
            : [
                a.TARGETS,
                a.TIMESTAMP,
                a.UTF8_STRING,
                a['text/plain;charset=utf-8'],
                a.STRING,
                a.TEXT,
                a['text/plain'],
              ]
        client.ChangeProperty(PROP_MODE_REPLACE, requestor, property, ATOM_TYPE, 32, targets)
      } else if (target === a.TIMESTAMP) {
        client.ChangeProperty(PROP_MODE_REPLACE, requestor, property, INTEGER_TYPE, 32, [owned.time])
      } else if (text === undefined && target === a['image/png']) {
        await this.#sendData(requestor, property, target, owned.data)
      } else if (
        text !== undefined &&
        (target === a.UTF8_STRING || target === a['text/plain;charset=utf-8'])
      ) {
        await this.#sendData(requestor, property, target, owned.data)
      } else if (
        text !== undefined &&
        (target === a.STRING || target === a.TEXT || target === a['text/plain'])
      ) {
        await this.#sendData(requestor, property, a.STRING, Buffer.from(text, 'latin1'))
      } else {
        ok = false
      }
    }
    client.SendEvent(requestor, 0, 0, {
      name: 'SelectionNotify',
      time: ev.time,
      requestor,
      selection: ev.selection,
      target,
      property: ok ? property : NONE,
    })
  }

  async #sendData(requestor: number, property: number, type: number, data: Buffer): Promise<void> {
    const { client } = this.#conn
    if (data.length <= INCR_CHUNK_BYTES) {
      client.ChangeProperty(PROP_MODE_REPLACE, requestor, property, type, 8, data)
      return
    }
    // INCR: announce the size, then write a chunk each time the requestor deletes the property.
    client.ChangeWindowAttributes(requestor, { eventMask: PROPERTY_CHANGE_MASK })
    client.ChangeProperty(PROP_MODE_REPLACE, requestor, property, this.#atoms.INCR, 32, [data.length])
    const deleted = () =>
      this.#waitFor(
        (ev) =>
          ev.name === 'PropertyNotify' &&
          ev.wid === requestor &&
          ev.atom === property &&
          ev.state === PROPERTY_DELETE,
        'the requestor stopped reading',
      )
    void (async () => {
      // The last chunk is empty: that is how the requestor knows the data is complete.
      for (let offset = 0; ; ) {
        await deleted()
        const chunk = data.subarray(offset, offset + INCR_CHUNK_BYTES)
        client.ChangeProperty(PROP_MODE_REPLACE, requestor, property, type, 8, chunk)
        if (chunk.length === 0) break
        offset += chunk.length
      }
      client.ChangeWindowAttributes(requestor, { eventMask: 0 })
    })().catch((err: unknown) => log.warn({ err: String(err) }, 'INCR transfer abandoned'))
  }
}
