import { readFileSync } from 'node:fs'
import { domKey, usKeysym } from '../../input/dom-keys.ts'
import { keysymFor } from '../../input/keysyms.ts'

/*
 * The keyboard SmolDesk's virtual keyboard brings to a wlroots compositor:
 * XKB's evdev keycodes with the US layout, plus spare keys SmolDesk gives
 * whatever character a viewer types that the layout lacks (ä, €, emoji).
 * The compositor compiles the text itself (xkbcommon, with the system's
 * xkb-data); a changed set of spare keys is a new upload, sent before the
 * key presses that need it, on the same ordered connection.
 */

const XKB_ROOT = '/usr/share/X11/xkb'
/** Evdev numbers are XKB keycodes minus 8 (the X protocol's offset, kept by XKB). */
const EVDEV_OFFSET = 8
/** Spare keys sit above every key a real keyboard has (xkbcommon takes keycodes past 255). */
const FIRST_SPARE_KEYCODE = 300
export const SPARE_KEYS = 64

let evdevNames: Map<string, number> | undefined

/** XKB key name → keycode, from xkb-data's evdev keycodes (aliases resolved). */
function keycodesByName(): Map<string, number> {
  if (evdevNames) return evdevNames
  const text = readFileSync(`${XKB_ROOT}/keycodes/evdev`, 'utf8')
  const names = new Map<string, number>()
  for (const m of text.matchAll(/^\s*<([A-Z0-9+-]+)>\s*=\s*(\d+)\s*;/gim)) names.set(m[1] ?? '', Number(m[2]))
  for (const m of text.matchAll(/^\s*alias\s+<([A-Z0-9+-]+)>\s*=\s*<([A-Z0-9+-]+)>\s*;/gim)) {
    const target = names.get(m[2] ?? '')
    if (target !== undefined && !names.has(m[1] ?? '')) names.set(m[1] ?? '', target)
  }
  evdevNames = names
  return names
}

/** The evdev number of the key at a DOM code, or undefined for a code SmolDesk does not know. */
export function evdevCode(code: string): number | undefined {
  const key = domKey(code)
  if (!key) return undefined
  const keycode = keycodesByName().get(key.xkb)
  return keycode === undefined ? undefined : keycode - EVDEV_OFFSET
}

/** US layout, shifted: what each character key types with Shift held. */
const US_SHIFTED: Readonly<Record<string, string>> = {
  '`': '~',
  '1': '!',
  '2': '@',
  '3': '#',
  '4': '$',
  '5': '%',
  '6': '^',
  '7': '&',
  '8': '*',
  '9': '(',
  '0': ')',
  '-': '_',
  '=': '+',
  '[': '{',
  ']': '}',
  '\\': '|',
  ';': ':',
  "'": '"',
  ',': '<',
  '.': '>',
  '/': '?',
}

/** What the US layout types at a DOM code with or without Shift. */
export function usCharacter(code: string, shifted: boolean): string | undefined {
  const keysym = usKeysym(code)
  if (keysym === undefined) return undefined
  const plain = String.fromCharCode(keysym)
  if (!shifted) return plain
  return US_SHIFTED[plain] ?? plain.toUpperCase()
}

/** The evdev number of spare key `slot`. */
export function spareEvdev(slot: number): number {
  return FIRST_SPARE_KEYCODE + slot - EVDEV_OFFSET
}

/** The keymap text for the spare keys' current characters (by slot; undefined = empty). */
export function keymapText(spare: readonly (string | undefined)[]): string {
  const names = spare.map((_, i) => `<SD${String(i).padStart(2, '0')}> = ${FIRST_SPARE_KEYCODE + i};`)
  const symbols = spare.flatMap((char, i) => {
    if (char === undefined) return []
    const keysym = `0x${keysymFor(char).toString(16)}`
    return [
      `    key <SD${String(i).padStart(2, '0')}> { type = "ONE_LEVEL", symbols[Group1] = [ ${keysym} ] };`,
    ]
  })
  return [
    'xkb_keymap {',
    `  xkb_keycodes "smoldesk" { include "evdev" ${names.join(' ')} };`,
    '  xkb_types "smoldesk" { include "complete" };',
    '  xkb_compatibility "smoldesk" { include "complete" };',
    '  xkb_symbols "smoldesk" {',
    '    include "pc+us+inet(evdev)"',
    ...symbols,
    '  };',
    '};',
    '',
  ].join('\n')
}

/** Modifier bits of the real XKB modifiers the pc+us keymap binds (Shift, Lock, Control, Mod1 = Alt, Mod2 = NumLock, Mod4 = Super). */
const MODIFIER_BITS: Readonly<Record<number, number>> = {
  42: 1, // LeftShift
  54: 1, // RightShift
  29: 4, // LeftCtrl
  97: 4, // RightCtrl
  56: 8, // LeftAlt
  100: 8, // RightAlt (Alt_R on a US layout)
  125: 64, // LeftMeta
  126: 64, // RightMeta
}
const CAPS_LOCK = 58
const NUM_LOCK = 69

/**
 * The modifier state a virtual keyboard must report itself: wlroots does
 * not derive it from a virtual keyboard's keys (update_state is off for
 * them), so without this Shift+a would type `a`.
 */
export class ModifierState {
  readonly #held = new Map<number, number>()
  #locked = 0

  /** A key changed; returns the new [depressed, locked] masks when they changed. */
  key(evdev: number, pressed: boolean): [number, number] | undefined {
    const before = this.#masks()
    const bit = MODIFIER_BITS[evdev]
    if (bit !== undefined) {
      if (pressed) this.#held.set(evdev, bit)
      else this.#held.delete(evdev)
    } else if (pressed && evdev === CAPS_LOCK) {
      this.#locked ^= 2
    } else if (pressed && evdev === NUM_LOCK) {
      this.#locked ^= 16
    } else {
      return undefined
    }
    const after = this.#masks()
    return after[0] === before[0] && after[1] === before[1] ? undefined : after
  }

  #masks(): [number, number] {
    let depressed = 0
    for (const bit of this.#held.values()) depressed |= bit
    return [depressed, this.#locked]
  }
}
