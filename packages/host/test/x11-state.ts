import { X11Connection } from '../src/display/x11/connection.ts'
import { X11Keymap } from '../src/display/x11/x11-keymap.ts'

/** Where the X server has the pointer, and which buttons/modifiers it holds (QueryPointer). */
export function xPointer(x: X11Connection): Promise<{ rootX: number; rootY: number; keyMask: number }> {
  return x.call((cb) => x.client.QueryPointer(x.root, cb))
}

const keymaps = new WeakMap<X11Connection, Promise<X11Keymap>>()

/** The keycode of a DOM code on this X server (through its own keymap, as the host finds it). */
export async function xKeycode(x: X11Connection, code: string): Promise<number> {
  let keymap = keymaps.get(x)
  if (!keymap) {
    keymap = X11Keymap.open(x)
    keymaps.set(x, keymap)
  }
  const keycode = (await keymap).keycode(code)
  if (keycode === undefined) throw new Error(`no keycode for ${code} on ${x.displayName}`)
  return keycode
}

/** Whether the X server has the key with this DOM code down (QueryKeymap). */
export async function xKeyDown(x: X11Connection, code: string): Promise<boolean> {
  const keymap = await x.call<Buffer>((cb) => x.client.QueryKeymap(cb))
  const keycode = await xKeycode(x, code)
  return ((keymap[keycode >> 3] ?? 0) & (1 << (keycode & 7))) !== 0
}

const KEY_MASKS = 0x1 | 0x2 // KeyPress | KeyRelease
const BUTTON_MASKS = 0x4 | 0x8 // ButtonPress | ButtonRelease

/**
 * A window of its own (no window manager involved) that writes down every
 * key or button event X delivers to it: "+37" is a press of keycode/button
 * 37, "-37" its release; buttons also carry "@x,y" (window coordinates).
 */
export async function recordInput(
  display: string,
  rect: { x: number; y: number; width: number; height: number },
  kind: 'keys' | 'buttons',
): Promise<{ seen: string[]; close(): void }> {
  const x = await X11Connection.open(display)
  const wid = x.client.AllocID()
  x.client.CreateWindow(wid, x.root, rect.x, rect.y, rect.width, rect.height, 0, 0, 1, 0, {
    backgroundPixel: 0x506070,
    overrideRedirect: 1,
    eventMask: kind === 'keys' ? KEY_MASKS : BUTTON_MASKS,
  })
  x.client.MapWindow(wid)
  await x.sync()
  const seen: string[] = []
  const [press, release] = kind === 'keys' ? ['KeyPress', 'KeyRelease'] : ['ButtonPress', 'ButtonRelease']
  x.on('event', (ev) => {
    if (ev.name !== press && ev.name !== release) return
    const where = kind === 'buttons' ? `@${ev.x},${ev.y}` : ''
    seen.push(`${ev.name === press ? '+' : '-'}${ev.keycode}${where}`)
  })
  return { seen, close: () => x.close() }
}
