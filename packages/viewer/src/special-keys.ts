import { encodeKey } from '@smoldesk/protocol'

/**
 * Key combinations the browser would keep for itself (or the viewer's OS
 * would act on), offered from a menu instead. Only these can be sent this
 * way: an allow-list, not a free-form key macro.
 */
export const SPECIAL_KEYS = {
  'Ctrl+Alt+Del': ['ControlLeft', 'AltLeft', 'Delete'],
  'Alt+Tab': ['AltLeft', 'Tab'],
  'Alt+F4': ['AltLeft', 'F4'],
  'Ctrl+Esc': ['ControlLeft', 'Escape'],
  Super: ['MetaLeft'],
  PrintScreen: ['PrintScreen'],
} as const satisfies Record<string, readonly string[]>

export type SpecialKey = keyof typeof SPECIAL_KEYS

export function isSpecialKey(name: string): name is SpecialKey {
  return Object.hasOwn(SPECIAL_KEYS, name)
}

/** Frames that press the keys in order and release them in reverse. */
export function specialKeyFrames(name: SpecialKey, nextSeq: () => number): Uint8Array[] {
  const codes = SPECIAL_KEYS[name]
  return [
    ...codes.map((code) => encodeKey(nextSeq(), code, true, [])),
    ...[...codes].reverse().map((code) => encodeKey(nextSeq(), code, false, [])),
  ]
}
