import type { XEvent, Xkb } from 'x11'
import { domKey, usKeysym } from '../../input/dom-keys.ts'
import { createLogger } from '../../log.ts'
import type { X11Connection } from './connection.ts'

const log = createLogger('input.keymap')

/** MappingNotify's `request` for a keyboard mapping change (the others are modifiers and pointer). */
const MAPPING_KEYBOARD = 1
/** XKB event subtypes (byte 1 of the event). */
const XKB_NEW_KEYBOARD_NOTIFY = 0
const XKB_MAP_NOTIFY = 1
/** Every part of the XKB map (key types, keysyms, modifier map, …): any change may move a key. */
const XKB_ALL_MAP_PARTS = 0xff
/** A burst of mapping changes (setxkbmap sends several) is read back once. */
const REFRESH_DEBOUNCE_MS = 50

interface Snapshot {
  /** XKB key name → keycode, aliases included; empty when the server has no XKB. */
  byName: Map<string, number>
  /** Every keysym of each keycode (all groups and levels), from the core mapping. */
  keysyms: Map<number, number[]>
}

/**
 * The X server's own keymap, read at connect and again whenever it changes
 * (MappingNotify: setxkbmap, a layout switch): DOM codes become the keycodes
 * this server uses, whatever keycode set it was started with. Xvfb's evdev
 * keycodes and the dummy Xorg's xfree86 ones agree on letters and disagree
 * on arrows, keypad and media keys, so no fixed table can serve both.
 *
 * A non-character key is found by the keysym it means (a key name can point
 * at an empty keycode: xfree86's <MUTE> alias does, while XF86AudioMute sits
 * elsewhere); a character key by its XKB name, so it types what the host's
 * layout has at that position.
 */
export class X11Keymap {
  readonly #conn: X11Connection
  readonly #xkb: Xkb | undefined
  #snapshot: Snapshot
  readonly #cache = new Map<string, number | undefined>()
  /** Keycodes whose mapping we change ourselves (text typing): their changes need no re-read. */
  readonly #own = new Set<number>()
  #refreshTimer: NodeJS.Timeout | undefined
  /** A re-read under way (or scheduled), and how to tell its waiters it is done. */
  #pending: Promise<void> | undefined
  #finishPending: () => void = () => {}
  readonly #onEvent: (ev: XEvent) => void

  private constructor(conn: X11Connection, xkb: Xkb | undefined, snapshot: Snapshot) {
    this.#conn = conn
    this.#xkb = xkb
    this.#snapshot = snapshot
    // A client that uses XKB gets XKB's map events instead of the core MappingNotify (the server
    // sends the core one only to clients that never said UseExtension).
    this.#onEvent = (ev) => {
      if (ev.name === 'MappingNotify' && ev.request === MAPPING_KEYBOARD) {
        this.#changed(Number(ev.firstKeyCode), Number(ev.count))
      } else if (xkb && ev.type === xkb.firstEvent) {
        const raw = ev.raw as Buffer | undefined
        if (ev.xkbType === XKB_MAP_NOTIFY && raw) this.#changed(raw[8] ?? 0, raw[9] ?? 0)
        else if (ev.xkbType === XKB_NEW_KEYBOARD_NOTIFY) this.#changed(0, 0)
      }
    }
    conn.on('event', this.#onEvent)
  }

  static async open(conn: X11Connection): Promise<X11Keymap> {
    const xkb = await conn
      .call<Xkb>((cb) => conn.client.require('xkb', cb))
      .catch((err: unknown) => {
        log.warn({ err: String(err) }, 'no XKB on this X server: keys are found by keysym only')
        return undefined
      })
    if (xkb) {
      const events = xkb.EventType.NewKeyboardNotify | xkb.EventType.MapNotify
      xkb.SelectEvents(xkb.UseCoreKbd, events, 0, events, XKB_ALL_MAP_PARTS, XKB_ALL_MAP_PARTS)
    }
    return new X11Keymap(conn, xkb, await read(conn, xkb))
  }

  /** Keycodes first … first+count-1 were remapped (count 0: the whole keyboard); re-read unless only ours. */
  #changed(first: number, count: number): void {
    let ours = count > 0
    for (let k = first; k < first + count; k++) if (!this.#own.has(k)) ours = false
    if (!ours) this.#scheduleRefresh()
  }

  /** The keycode for a DOM code on this server now, or undefined when its keymap has no such key. */
  keycode(code: string): number | undefined {
    if (this.#cache.has(code)) return this.#cache.get(code)
    const found = this.#resolve(code)
    this.#cache.set(code, found)
    return found
  }

  /**
   * A keycode that types this keysym without changing modifiers: in the
   * core mapping's first group, column 0 without Shift, column 1 with it.
   * The key at `prefer` (a DOM code) wins when it does; undefined if none does.
   */
  keycodeTyping(keysym: number, shifted: boolean, prefer?: string): number | undefined {
    const column = shifted ? 1 : 0
    const types = (keycode: number | undefined) =>
      keycode !== undefined &&
      !this.#own.has(keycode) &&
      this.#snapshot.keysyms.get(keycode)?.[column] === keysym
    const preferred = prefer === undefined ? undefined : this.keycode(prefer)
    if (types(preferred)) return preferred
    for (const keycode of this.#snapshot.keysyms.keys()) if (types(keycode)) return keycode
    return undefined
  }

  /** Keycodes without any keysym (for typing text through a temporary mapping). */
  emptyKeycodes(): number[] {
    return [...this.#snapshot.keysyms]
      .filter(([, syms]) => syms.every((k) => k === 0))
      .map(([keycode]) => keycode)
  }

  /** Marks keycodes whose mapping SmolDesk changes itself (the previous claim ends); they are never resolved to a key. */
  claim(keycodes: readonly number[]): void {
    this.#own.clear()
    for (const k of keycodes) this.#own.add(k)
    this.#cache.clear()
  }

  /** Counts the layout changes read back so far: keycodes chosen before a change may mean nothing now. */
  get generation(): number {
    return this.#generation
  }

  #generation = 0

  /** Resolves once a pending re-read is done (tests, and callers right after a layout change). */
  async settled(): Promise<void> {
    await this.#pending
  }

  close(): void {
    clearTimeout(this.#refreshTimer)
    this.#finishPending()
    this.#conn.off('event', this.#onEvent)
  }

  #resolve(code: string): number | undefined {
    const key = domKey(code)
    if (!key) return undefined
    const { byName, keysyms } = this.#snapshot
    const named = byName.get(key.xkb)
    // Without XKB there are no names: a character key is found by its US keysym.
    const us = byName.size === 0 ? usKeysym(code) : undefined
    const wanted = key.keysyms ?? (us === undefined ? undefined : [us])
    if (!wanted) return named
    const means = (keycode: number) =>
      !this.#own.has(keycode) && (keysyms.get(keycode) ?? []).some((k) => wanted.includes(k))
    if (named !== undefined && means(named)) return named
    // The name is missing or points at a key that means something else (evdev's <FK13> is
    // XF86Tools on a US layout): the keysym decides, lowest keycode first, or nothing does.
    for (const keycode of keysyms.keys()) if (means(keycode)) return keycode
    return undefined
  }

  #scheduleRefresh(): void {
    clearTimeout(this.#refreshTimer)
    // One promise for a burst of changes: waiters are told once the last re-read is in.
    this.#pending ??= new Promise<void>((resolve) => {
      this.#finishPending = resolve
    })
    this.#refreshTimer = setTimeout(() => {
      read(this.#conn, this.#xkb)
        .then((snapshot) => {
          this.#snapshot = snapshot
          this.#cache.clear()
          this.#generation++
          log.info('keyboard mapping changed; keys looked up again')
        })
        .catch((err: unknown) => log.warn({ err: String(err) }, 'could not re-read the keyboard mapping'))
        .finally(() => {
          this.#pending = undefined
          this.#finishPending()
        })
    }, REFRESH_DEBOUNCE_MS)
    this.#refreshTimer.unref()
  }
}

async function read(conn: X11Connection, xkb: Xkb | undefined): Promise<Snapshot> {
  const { min_keycode: min, max_keycode: max } = conn.display
  const rows = await conn.call<number[][]>((cb) => conn.client.GetKeyboardMapping(min, max - min + 1, cb))
  const keysyms = new Map<number, number[]>()
  rows.forEach((row, i) => {
    keysyms.set(min + i, row)
  })
  const byName = new Map<string, number>()
  if (xkb) {
    const names = await conn.call<Awaited<Parameters<Parameters<Xkb['GetNames']>[2]>[1]>>((cb) =>
      xkb.GetNames(xkb.UseCoreKbd, xkb.NameDetail.KeyNames | xkb.NameDetail.KeyAliases, cb),
    )
    names.keyNames?.forEach((name, i) => {
      if (name !== '') byName.set(name, names.firstKey + i)
    })
    for (const { real, alias } of names.keyAliases ?? []) {
      const keycode = byName.get(real)
      if (keycode !== undefined && !byName.has(alias)) byName.set(alias, keycode)
    }
  }
  return { byName, keysyms }
}
