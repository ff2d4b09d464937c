import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import type { XTest } from 'x11'
import { X11Connection } from '../../display/x11/connection.ts'
import type { InputInjector } from '../injector.ts'
import { X11Keymap } from './x11-keymap.ts'

const MAX_SPARE_KEYCODES = 32
/**
 * A spare keycode gets a new keysym only this long after it was last
 * pressed. An X client turns a keycode into a character when it reads the
 * event, with the mapping of that moment: a client busy for a while (one
 * just starting, a loaded machine) must still find each character where it
 * was pressed.
 */
const KEYCODE_REUSE_MS = 250
/** Spare keycodes are emptied again once text typing has been idle this long. */
const SPARE_CLEAR_IDLE_MS = 3000

/** X keysym of a character: Latin-1 maps directly, the rest through the Unicode keysym range. */
function keysymFor(ch: string): number {
  const cp = ch.codePointAt(0) ?? 0
  if (ch === '\n' || ch === '\r') return 0xff0d // Return
  if (ch === '\t') return 0xff09 // Tab
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp
  return 0x1000000 + cp
}

/**
 * Input through the XTEST extension on one persistent connection: about
 * 0.3 ms an event, against 6–15 ms for spawning xdotool, and nothing a peer
 * sends ever reaches a shell.
 */
export class XTestInjector implements InputInjector {
  readonly #conn: X11Connection
  readonly #xtest: XTest
  readonly #keymap: X11Keymap
  #spare: number[] | undefined
  /** Where the next character goes in #spare: keycodes are used in turn. */
  #nextSpare = 0
  /** Spare keycodes holding a keysym, and when each was last pressed (performance.now()). */
  readonly #pressedAt = new Map<number, number>()
  #typing: Promise<void> = Promise.resolve()
  #clearTimer: NodeJS.Timeout | undefined

  private constructor(conn: X11Connection, xtest: XTest, keymap: X11Keymap) {
    this.#conn = conn
    this.#xtest = xtest
    this.#keymap = keymap
  }

  static async open(display: string): Promise<XTestInjector> {
    const conn = await X11Connection.open(display)
    try {
      const xtest = await conn.call<XTest>((cb) =>
        (
          conn.client as unknown as { require(n: 'xtest', cb: (e: Error | null, x: XTest) => void): void }
        ).require('xtest', cb),
      )
      return new XTestInjector(conn, xtest, await X11Keymap.open(conn))
    } catch (err) {
      conn.close()
      if (err instanceof SmolDeskError) throw err
      throw new SmolDeskError('UNAVAILABLE', `the X server has no XTEST extension: ${String(err)}`)
    }
  }

  get closed(): boolean {
    return this.#conn.closed
  }

  move(x: number, y: number): void {
    // MotionNotify with window 0 (the root of the default screen) and absolute coordinates.
    this.#xtest.FakeInput(this.#xtest.MotionNotify, 0, 0, 0, x, y)
  }

  moveBy(dx: number, dy: number): void {
    // detail 1: relative motion
    this.#xtest.FakeInput(this.#xtest.MotionNotify, 1, 0, 0, dx, dy)
  }

  button(button: number, pressed: boolean): void {
    this.#xtest.FakeInput(pressed ? this.#xtest.ButtonPress : this.#xtest.ButtonRelease, button, 0, 0, 0, 0)
  }

  keycode(code: string): number | undefined {
    return this.#keymap.keycode(code)
  }

  key(keycode: number, pressed: boolean): void {
    this.#xtest.FakeInput(pressed ? this.#xtest.KeyPress : this.#xtest.KeyRelease, keycode, 0, 0, 0, 0)
  }

  /**
   * Text by temporary keysym remapping: each character's keysym is put on a
   * keycode the layout leaves empty, and that keycode is pressed. Spare
   * keycodes are used in turn across calls and a keycode is remapped only
   * KEYCODE_REUSE_MS after its last press, so up to 32 characters type at
   * once and longer text at 32 characters per KEYCODE_REUSE_MS. The keycodes
   * are emptied when typing has been idle for SPARE_CLEAR_IDLE_MS or the
   * injector closes, never right after a press (a late client would read an
   * empty key).
   */
  type(text: string): Promise<void> {
    // One text at a time: two viewers' texts must not share a batch's keycodes.
    const typed = this.#typing.then(() => this.#type(text))
    this.#typing = typed.catch(() => {})
    return typed
  }

  async #type(text: string): Promise<void> {
    const spare = await this.#spareKeycodes()
    if (spare.length === 0)
      throw new SmolDeskError('UNAVAILABLE', 'the keyboard mapping has no free keycode for text')
    clearTimeout(this.#clearTimer)
    const { client } = this.#conn
    let batch: number[] = []
    const press = async () => {
      await this.#conn.sync() // the new mapping is in place before its keys are pressed
      for (const keycode of batch) {
        this.key(keycode, true)
        this.key(keycode, false)
        this.#pressedAt.set(keycode, performance.now())
      }
      batch = []
    }
    for (const ch of text) {
      const keycode = spare[this.#nextSpare] ?? 0
      this.#nextSpare = (this.#nextSpare + 1) % spare.length
      if (batch.includes(keycode)) await press() // wrapped around within this text
      const wait = (this.#pressedAt.get(keycode) ?? -Infinity) + KEYCODE_REUSE_MS - performance.now()
      if (wait > 0) {
        await press()
        await sleep(wait)
      }
      const keysym = keysymFor(ch)
      client.ChangeKeyboardMapping(keycode, 2, [keysym, keysym])
      batch.push(keycode)
    }
    await press()
    this.#clearTimer = setTimeout(() => void this.#clearSpare(), SPARE_CLEAR_IDLE_MS)
    this.#clearTimer.unref()
  }

  #clearSpare(): void {
    if (this.#conn.closed || this.#pressedAt.size === 0) return
    for (const keycode of this.#pressedAt.keys()) this.#conn.client.ChangeKeyboardMapping(keycode, 2, [0, 0])
    this.#pressedAt.clear()
  }

  /** Keycodes the layout leaves without any keysym, taken once per connection (the keymap then leaves them alone). */
  async #spareKeycodes(): Promise<number[]> {
    if (this.#spare) return this.#spare
    await this.#keymap.settled()
    this.#spare = this.#keymap.emptyKeycodes().slice(-MAX_SPARE_KEYCODES)
    this.#keymap.claim(this.#spare)
    return this.#spare
  }

  async flush(): Promise<void> {
    await this.#conn.sync()
  }

  close(): void {
    clearTimeout(this.#clearTimer)
    this.#clearSpare()
    this.#keymap.close()
    this.#conn.close()
  }
}
