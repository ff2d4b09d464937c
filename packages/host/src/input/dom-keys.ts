/*
 * What each DOM KeyboardEvent.code (the physical key, layout-independent)
 * is, in terms every X keymap understands: its XKB key name (the UI Events
 * spec derives DOM codes from these names) and, for keys that are not
 * characters, the keysym the key means. No keycodes here: those differ
 * between keymaps (evdev on Xvfb, xfree86 on the embedded Xorg) and are
 * looked up in the X server's own keymap (x11/x11-keymap.ts).
 *
 * Character keys (letters, digits, punctuation) have no keysym here: they
 * go by position, and the host's layout decides what they type, as a
 * physical keyboard plugged into the host would.
 */
export interface DomKey {
  /** XKB key name (without the angle brackets), as in `xkbcomp`'s keycodes section. */
  readonly xkb: string
  /** The keysyms a non-character key may stand for (any one will do), whatever its keycode. */
  readonly keysyms?: readonly number[]
}

const key = (xkb: string, ...keysyms: number[]): DomKey => (keysyms.length === 0 ? { xkb } : { xkb, keysyms })

const letters = 'QWERTYUIOP ASDFGHJKL ZXCVBNM'.split(' ')
const rows = ['AD', 'AC', 'AB'] as const

function characterKeys(): Record<string, DomKey> {
  const out: Record<string, DomKey> = {}
  letters.forEach((row, r) => {
    ;[...row].forEach((letter, i) => {
      out[`Key${letter}`] = key(`${rows[r]}${String(i + 1).padStart(2, '0')}`)
    })
  })
  for (let d = 1; d <= 10; d++) out[`Digit${d % 10}`] = key(`AE${String(d).padStart(2, '0')}`)
  return out
}

function functionKeys(): Record<string, DomKey> {
  const out: Record<string, DomKey> = {}
  // F1 is keysym 0xffbe, F2 0xffbf, … F24 0xffd5.
  for (let n = 1; n <= 24; n++) out[`F${n}`] = key(`FK${String(n).padStart(2, '0')}`, 0xffbd + n)
  return out
}

function keypadDigits(): Record<string, DomKey> {
  const out: Record<string, DomKey> = {}
  // KP_0 is 0xffb0 … KP_9 0xffb9 (the NumLock level; the other level is KP_Insert, KP_End, …).
  for (let n = 0; n <= 9; n++) out[`Numpad${n}`] = key(`KP${n}`, 0xffb0 + n)
  return out
}

export const DOM_KEYS: Readonly<Record<string, DomKey>> = {
  ...characterKeys(),
  Backquote: key('TLDE'),
  Minus: key('AE11'),
  Equal: key('AE12'),
  IntlYen: key('AE13'),
  BracketLeft: key('AD11'),
  BracketRight: key('AD12'),
  Backslash: key('BKSL'),
  Semicolon: key('AC10'),
  Quote: key('AC11'),
  IntlBackslash: key('LSGT'),
  Comma: key('AB08'),
  Period: key('AB09'),
  Slash: key('AB10'),
  IntlRo: key('AB11'),
  Space: key('SPCE'),

  Escape: key('ESC', 0xff1b),
  Backspace: key('BKSP', 0xff08),
  Tab: key('TAB', 0xff09),
  Enter: key('RTRN', 0xff0d),
  CapsLock: key('CAPS', 0xffe5),
  ShiftLeft: key('LFSH', 0xffe1),
  ShiftRight: key('RTSH', 0xffe2),
  ControlLeft: key('LCTL', 0xffe3),
  ControlRight: key('RCTL', 0xffe4),
  AltLeft: key('LALT', 0xffe9),
  // Alt_R on a US layout; most others put AltGr (ISO_Level3_Shift, or Mode_switch) on that key.
  AltRight: key('RALT', 0xffea, 0xfe03, 0xff7e),
  MetaLeft: key('LWIN', 0xffeb, 0xffe7),
  MetaRight: key('RWIN', 0xffec, 0xffe8),
  ContextMenu: key('MENU', 0xff67),
  ...functionKeys(),
  PrintScreen: key('PRSC', 0xff61),
  ScrollLock: key('SCLK', 0xff14),
  Pause: key('PAUS', 0xff13),
  Insert: key('INS', 0xff63),
  Delete: key('DELE', 0xffff),
  Home: key('HOME', 0xff50),
  End: key('END', 0xff57),
  PageUp: key('PGUP', 0xff55),
  PageDown: key('PGDN', 0xff56),
  ArrowLeft: key('LEFT', 0xff51),
  ArrowUp: key('UP', 0xff52),
  ArrowRight: key('RGHT', 0xff53),
  ArrowDown: key('DOWN', 0xff54),

  NumLock: key('NMLK', 0xff7f),
  NumpadDivide: key('KPDV', 0xffaf),
  NumpadMultiply: key('KPMU', 0xffaa),
  NumpadSubtract: key('KPSU', 0xffad),
  NumpadAdd: key('KPAD', 0xffab),
  NumpadEnter: key('KPEN', 0xff8d),
  // KP_Decimal, or KP_Separator (a comma: German, French layouts).
  NumpadDecimal: key('KPDL', 0xffae, 0xffac),
  NumpadEqual: key('KPEQ', 0xffbd),
  NumpadComma: key('KPPT', 0xffac),
  ...keypadDigits(),

  // Japanese and Korean keyboards.
  Convert: key('HENK', 0xff23),
  NonConvert: key('MUHE', 0xff22),
  KanaMode: key('HKTG', 0xff27),
  Lang1: key('HNGL', 0xff31),
  Lang2: key('HJCV', 0xff34),

  // Media and browser keys: their names differ between keymaps, their keysyms do not.
  AudioVolumeMute: key('MUTE', 0x1008ff12),
  AudioVolumeDown: key('VOL-', 0x1008ff11),
  AudioVolumeUp: key('VOL+', 0x1008ff13),
  MediaPlayPause: key('I172', 0x1008ff14),
  MediaStop: key('I174', 0x1008ff15),
  MediaTrackPrevious: key('I173', 0x1008ff16),
  MediaTrackNext: key('I171', 0x1008ff17),
  BrowserBack: key('I166', 0x1008ff26),
  BrowserForward: key('I167', 0x1008ff27),
  BrowserRefresh: key('I181', 0x1008ff73),
  BrowserHome: key('I180', 0x1008ff18),
  BrowserSearch: key('I225', 0x1008ff1b),
  LaunchMail: key('I163', 0x1008ff19),
}

const US_PUNCTUATION: Readonly<Record<string, string>> = {
  Backquote: '`',
  Minus: '-',
  Equal: '=',
  BracketLeft: '[',
  BracketRight: ']',
  Backslash: '\\',
  Semicolon: ';',
  Quote: "'",
  Comma: ',',
  Period: '.',
  Slash: '/',
  Space: ' ',
}

/**
 * The keysym a character key has on a US layout, for an X server without
 * XKB (no key names to go by): KeyA is `a`, Digit1 `1`, Slash `/`.
 */
export function usKeysym(code: string): number | undefined {
  const letter = /^Key([A-Z])$/.exec(code)?.[1]
  if (letter) return letter.toLowerCase().charCodeAt(0)
  const digit = /^Digit([0-9])$/.exec(code)?.[1]
  if (digit) return digit.charCodeAt(0)
  return Object.hasOwn(US_PUNCTUATION, code) ? US_PUNCTUATION[code]?.charCodeAt(0) : undefined
}

/** The key for a DOM code, or undefined for one SmolDesk does not know. */
export function domKey(code: string): DomKey | undefined {
  return Object.hasOwn(DOM_KEYS, code) ? DOM_KEYS[code] : undefined
}

/** The left-hand key that holds each modifier named in InputEvent.modifiers. */
export const MODIFIER_CODES = {
  Shift: 'ShiftLeft',
  Control: 'ControlLeft',
  Alt: 'AltLeft',
  Meta: 'MetaLeft',
} as const
