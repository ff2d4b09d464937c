import type { X11Connection } from '../src/display/x11/connection.ts'
import { domCodeToX11Keycode } from '../src/input/keycodes.ts'

/** Where the X server has the pointer, and which buttons/modifiers it holds (QueryPointer). */
export function xPointer(x: X11Connection): Promise<{ rootX: number; rootY: number; keyMask: number }> {
  return x.call((cb) => x.client.QueryPointer(x.root, cb))
}

/** Whether the X server has the key with this DOM code down (QueryKeymap). */
export async function xKeyDown(x: X11Connection, code: string): Promise<boolean> {
  const keymap = await x.call<Buffer>((cb) => x.client.QueryKeymap(cb))
  const keycode = domCodeToX11Keycode(code) ?? 0
  return ((keymap[keycode >> 3] ?? 0) & (1 << (keycode & 7))) !== 0
}
