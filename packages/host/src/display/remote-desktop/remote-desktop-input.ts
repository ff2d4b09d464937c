import { evdevPointerLine } from '../../input/evdev-pointer.ts'
import type { InputInjector } from '../../input/injector.ts'
import type { LayoutBox } from '../backend.ts'
import { evdevCode } from '../wlroots/wl-keymap.ts'

/**
 * A helper that takes RemoteDesktop input as lines (smoldesk-mutter's
 * session, smoldesk-portal): `M X Y`, `R DX DY`, `B CODE 0|1`, `A AXIS
 * STEPS`, `K CODE 0|1`, `U CODEPOINT 0|1`, and `sync()` for "everything
 * before was handled".
 */
export interface RemoteDesktopLines {
  readonly closed: boolean
  send(line: string): void
  sync(): Promise<void>
  once(event: 'closed', listener: () => void): unknown
}

/**
 * Keycodes from characterKey stand for a character, not a key: mutter is
 * told the character and finds its key in the desktop's own layout. They
 * start here, above every evdev code, so key() can tell them apart.
 */
const CHARACTER_BASE = 0x1_000_000

/**
 * Input through a RemoteDesktop session (mutter's own, or the desktop
 * portal's): absolute positions through the stream of the monitor holding
 * them, evdev keycodes for keys, and characters as keysyms that the
 * compositor types with the desktop's layout. It cannot add a key for a
 * character its layout lacks (unlike X11 and wlroots, where SmolDesk
 * remaps a spare key); mutter refuses such a character and logs it.
 */
export class RemoteDesktopInjector implements InputInjector {
  readonly #session: RemoteDesktopLines
  readonly #layout: () => LayoutBox
  #closed = false

  constructor(session: RemoteDesktopLines, layout: () => LayoutBox) {
    this.#session = session
    this.#layout = layout
    session.once('closed', () => {
      this.#closed = true
    })
  }

  get closed(): boolean {
    return this.#closed || this.#session.closed
  }

  move(x: number, y: number): void {
    const box = this.#layout()
    const px = Math.min(Math.max(Math.round(x), box.x), box.x + box.width - 1)
    const py = Math.min(Math.max(Math.round(y), box.y), box.y + box.height - 1)
    this.#send(`M ${px} ${py}`)
  }

  moveBy(dx: number, dy: number): void {
    this.#send(`R ${Math.round(dx)} ${Math.round(dy)}`)
  }

  button(button: number, pressed: boolean): void {
    const line = evdevPointerLine(button, pressed)
    if (line) this.#send(line)
  }

  keycode(code: string): number | undefined {
    return evdevCode(code)
  }

  key(keycode: number, pressed: boolean): void {
    if (keycode >= CHARACTER_BASE) this.#send(`U ${keycode - CHARACTER_BASE} ${pressed ? 1 : 0}`)
    else this.#send(`K ${keycode} ${pressed ? 1 : 0}`)
  }

  async characterKey(char: string): Promise<number | undefined> {
    const cp = char.codePointAt(0)
    return cp === undefined ? undefined : CHARACTER_BASE + cp
  }

  characterReleased(): void {}

  async type(text: string): Promise<void> {
    for (const ch of text) {
      const cp = ch.codePointAt(0) ?? 0
      this.#send(`U ${cp} 1`)
      this.#send(`U ${cp} 0`)
    }
    await this.flush()
  }

  async flush(): Promise<void> {
    if (!this.closed) await this.#session.sync().catch(() => {})
  }

  /** The session is the backend's (the clipboard shares it); only this injector ends. */
  close(): void {
    this.#closed = true
  }

  #send(line: string): void {
    if (!this.closed) this.#session.send(line)
  }
}
