import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import type { XTest } from 'x11'
import type { InputInjector } from '../../input/injector.ts'
import { keysymFor } from '../../input/keysyms.ts'
import { X11Connection } from './connection.ts'
import { X11Keymap } from './x11-keymap.ts'

const MAX_SPARE_KEYCODES = 32
/** Spare keycodes for characters held down (a key of the viewer's layout the host's layout lacks). */
const MAX_HELD_SPARE_KEYCODES = 8
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
  /** Spare keycodes for held characters: free ones, and those released a moment ago (oldest first). */
  #heldFree: number[] | undefined
  readonly #heldReleased: { keycode: number; timer: NodeJS.Timeout }[] = []
  /** The keymap generation the spare keycodes were chosen in: a new layout means choosing again. */
  #spareGeneration = -1
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

  /**
   * The key that types `char` on the host's layout at the current Shift
   * level (the key at `code` if it does), else a spare keycode given that
   * character's keysym for as long as it is held, as Guacamole does: a
   * German ä, an AltGr @, a composed ê arrive as what the user saw.
   */
  async characterKey(char: string, code: string, shifted: boolean): Promise<number | undefined> {
    await this.#keymap.settled()
    const keysym = keysymFor(char)
    const found = this.#keymap.keycodeTyping(keysym, shifted, code)
    if (found !== undefined) return found
    await this.#spareKeycodes()
    let spare = this.#heldFree?.shift()
    if (spare === undefined) {
      // All in use or just released: the one released longest ago is taken back early.
      const oldest = this.#heldReleased.shift()
      clearTimeout(oldest?.timer)
      spare = oldest?.keycode
    }
    if (spare === undefined) return undefined
    this.#conn.client.ChangeKeyboardMapping(spare, 2, [keysym, keysym])
    await this.#conn.sync() // mapped before it is pressed
    return spare
  }

  characterReleased(keycode: number): void {
    if (!this.#heldPool.has(keycode)) return
    // Emptied only once the client that read the press has had time to read the mapping too.
    const entry = {
      keycode,
      timer: setTimeout(() => {
        const at = this.#heldReleased.indexOf(entry)
        if (at >= 0) this.#heldReleased.splice(at, 1)
        if (this.#conn.closed || !this.#heldPool.has(keycode)) return
        this.#conn.client.ChangeKeyboardMapping(keycode, 2, [0, 0])
        this.#heldFree?.push(keycode)
      }, KEYCODE_REUSE_MS).unref(),
    }
    this.#heldReleased.push(entry)
  }

  readonly #heldPool = new Set<number>()

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
    if (this.#conn.closed) return
    for (const keycode of this.#pressedAt.keys()) this.#conn.client.ChangeKeyboardMapping(keycode, 2, [0, 0])
    this.#pressedAt.clear()
  }

  /** On close: held characters' spare keycodes go back to empty too. */
  #clearHeld(): void {
    if (this.#conn.closed) return
    const free = new Set(this.#heldFree)
    for (const keycode of this.#heldPool)
      if (!free.has(keycode)) this.#conn.client.ChangeKeyboardMapping(keycode, 2, [0, 0])
  }

  /** Keycodes the layout leaves without any keysym, taken once per connection (the keymap then leaves them alone). */
  async #spareKeycodes(): Promise<number[]> {
    await this.#keymap.settled()
    if (this.#spare && this.#spareGeneration === this.#keymap.generation) return this.#spare
    this.#spareGeneration = this.#keymap.generation
    // A new layout replaced every mapping, ours too: nothing borrowed is left to empty.
    this.#heldPool.clear()
    for (const { timer } of this.#heldReleased.splice(0)) clearTimeout(timer)
    this.#pressedAt.clear()
    this.#nextSpare = 0
    // Keymaps leave few keycodes empty (about 20 on Xvfb's evdev one): a quarter, at most 8, hold
    // characters while their key is down, the rest take turns for text.
    const empty = this.#keymap.emptyKeycodes()
    const held = Math.min(MAX_HELD_SPARE_KEYCODES, Math.floor(empty.length / 4))
    this.#heldFree = empty.slice(empty.length - held)
    this.#spare = empty.slice(0, empty.length - held).slice(-MAX_SPARE_KEYCODES)
    for (const k of this.#heldFree) this.#heldPool.add(k)
    this.#keymap.claim([...this.#spare, ...this.#heldFree])
    return this.#spare
  }

  async flush(): Promise<void> {
    await this.#conn.sync()
  }

  close(): void {
    clearTimeout(this.#clearTimer)
    this.#clearSpare()
    this.#clearHeld()
    this.#keymap.close()
    this.#conn.close()
  }
}
