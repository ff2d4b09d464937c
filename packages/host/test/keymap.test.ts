import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { IpcClient } from '@smoldesk/protocol'
import type { DesktopBackend, VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { eventually, run } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import { recordInput } from './x11-state.ts'

/**
 * Every non-character key of the DOM `code` list and the keysym a user
 * expects from it, by Xlib's name for it (keysymdef.h, XF86keysym.h). The
 * check reads the X server's own answer (xmodmap -pke), not SmolDesk's table.
 */
const EXPECTED: Record<string, string> = {
  Escape: 'Escape',
  Backspace: 'BackSpace',
  Tab: 'Tab',
  Enter: 'Return',
  CapsLock: 'Caps_Lock',
  ShiftLeft: 'Shift_L',
  ShiftRight: 'Shift_R',
  ControlLeft: 'Control_L',
  ControlRight: 'Control_R',
  AltLeft: 'Alt_L',
  AltRight: 'Alt_R',
  MetaLeft: 'Super_L',
  MetaRight: 'Super_R',
  ContextMenu: 'Menu',
  PrintScreen: 'Print',
  ScrollLock: 'Scroll_Lock',
  Pause: 'Pause',
  Insert: 'Insert',
  Delete: 'Delete',
  Home: 'Home',
  End: 'End',
  PageUp: 'Prior',
  PageDown: 'Next',
  ArrowLeft: 'Left',
  ArrowUp: 'Up',
  ArrowRight: 'Right',
  ArrowDown: 'Down',
  NumLock: 'Num_Lock',
  NumpadDivide: 'KP_Divide',
  NumpadMultiply: 'KP_Multiply',
  NumpadSubtract: 'KP_Subtract',
  NumpadAdd: 'KP_Add',
  NumpadEnter: 'KP_Enter',
  NumpadDecimal: 'KP_Decimal',
  NumpadEqual: 'KP_Equal',
  NumpadComma: 'KP_Separator',
  ...Object.fromEntries(Array.from({ length: 10 }, (_, n) => [`Numpad${n}`, `KP_${n}`])),
  ...Object.fromEntries(Array.from({ length: 24 }, (_, n) => [`F${n + 1}`, `F${n + 1}`])),
  Convert: 'Henkan_Mode',
  NonConvert: 'Muhenkan',
  KanaMode: 'Hiragana_Katakana',
  Lang1: 'Hangul',
  Lang2: 'Hangul_Hanja',
  AudioVolumeMute: 'XF86AudioMute',
  AudioVolumeDown: 'XF86AudioLowerVolume',
  AudioVolumeUp: 'XF86AudioRaiseVolume',
  MediaPlayPause: 'XF86AudioPlay',
  MediaStop: 'XF86AudioStop',
  MediaTrackPrevious: 'XF86AudioPrev',
  MediaTrackNext: 'XF86AudioNext',
  BrowserBack: 'XF86Back',
  BrowserForward: 'XF86Forward',
  BrowserRefresh: 'XF86Reload',
  BrowserHome: 'XF86HomePage',
  BrowserSearch: 'XF86Search',
  LaunchMail: 'XF86Mail',
}

/** What a user must be able to press on any PC keymap (the list); the rest only where the keymap has it. */
const REQUIRED = new Set([
  ...['ArrowLeft', 'ArrowUp', 'ArrowRight', 'ArrowDown', 'Home', 'End', 'PageUp', 'PageDown'],
  ...['Insert', 'Delete', 'Escape', 'Tab', 'Backspace', 'Enter', 'ContextMenu', 'PrintScreen', 'Pause'],
  ...Array.from({ length: 12 }, (_, n) => `F${n + 1}`),
  ...Object.keys(EXPECTED).filter((c) => c.startsWith('Numpad') && c !== 'NumpadComma'),
  'NumLock',
  ...['AudioVolumeMute', 'AudioVolumeDown', 'AudioVolumeUp', 'MediaPlayPause', 'MediaStop'],
  ...['MediaTrackPrevious', 'MediaTrackNext'],
  ...['ShiftLeft', 'ShiftRight', 'ControlLeft', 'ControlRight', 'AltLeft', 'MetaLeft'],
])

/** keycode → its keysym names, as Xlib reports them ("keycode 113 = Left NoSymbol Left"). */
async function xmodmap(display: string): Promise<Map<number, string[]>> {
  const out = (await run('xmodmap', ['-display', display, '-pke'])).stdout.toString()
  const rows = new Map<number, string[]>()
  for (const line of out.split('\n')) {
    const m = /^keycode\s+(\d+) =(.*)$/.exec(line)
    if (m) rows.set(Number(m[1]), (m[2] ?? '').trim().split(/\s+/).filter(Boolean))
  }
  return rows
}

for (const backend of ['xorg', 'xvfb'] satisfies DesktopBackend[]) {
  describe(`keys land as the keys they are: ${backend}`, () => {
    let scene: Scene
    let desktop: VirtualDesktop
    let client: IpcClient
    const send = (event: Record<string, unknown>) => client.invoke('send_input_event', { event })

    before(async () => {
      scene = await openScene({ command: 'host', backend, monitors: [{ width: 800, height: 600 }] })
      desktop = scene.desktop
      client = await scene.client()
    })
    after(() => scene?.close())

    it('presses every non-character key as the keysym it stands for, on this keymap', async () => {
      const rows = await xmodmap(desktop.display)
      const onKeymap = new Set([...rows.values()].flat())
      const recorder = await recordInput(desktop.display, { x: 0, y: 0, width: 300, height: 300 }, 'keys')
      const wrong: string[] = []
      const missing: string[] = []
      try {
        // Keyboard focus follows the pointer (no window manager): point at the recorder.
        await send({ event_type: 'MouseMove', x: 100, y: 100 })
        for (const [code, keysym] of Object.entries(EXPECTED)) {
          recorder.seen.length = 0
          const pressed = await send({ event_type: 'KeyPress', key_code: code }).then(
            () => true,
            (err: { code?: string }) => {
              assert.equal(err.code, 'KEY_UNMAPPED', `${code}: ${JSON.stringify(err)}`)
              return false
            },
          )
          if (!pressed) {
            // Only a key this keymap really lacks may be refused.
            if (onKeymap.has(keysym) || REQUIRED.has(code)) missing.push(`${code} (${keysym})`)
            continue
          }
          await send({ event_type: 'KeyRelease', key_code: code })
          const [press] = await eventually(async () => {
            assert.equal(recorder.seen.length, 2, `${code}: press and release arrived`)
            return recorder.seen
          })
          const keycode = Number(press?.slice(1))
          const names = rows.get(keycode) ?? []
          if (!names.includes(keysym))
            wrong.push(`${code} → keycode ${keycode} = ${names.join(' ') || '(empty)'}`)
        }
      } finally {
        recorder.close()
      }
      assert.deepEqual(wrong, [], `keys that typed something else on ${backend}`)
      assert.deepEqual(missing, [], `keys refused although the keymap has them on ${backend}`)
    })

    it('follows a keymap changed while it runs (MappingNotify)', async () => {
      const rows = await xmodmap(desktop.display)
      const left = [...rows].find(([, names]) => names[0] === 'Left')?.[0]
      const spare = [...rows].find(([keycode, names]) => names.length === 0 && keycode > 200)?.[0]
      assert.ok(left && spare, 'a Left key and an empty keycode')
      // Left moves to another keycode; the old one types nothing any more.
      const xm = (expr: string) => run('xmodmap', ['-display', desktop.display, '-e', expr])
      await xm(`keycode ${spare} = Left`)
      await xm(`keycode ${left} =`)
      const recorder = await recordInput(desktop.display, { x: 0, y: 0, width: 300, height: 300 }, 'keys')
      try {
        await send({ event_type: 'MouseMove', x: 100, y: 100 })
        await eventually(async () => {
          recorder.seen.length = 0
          await send({ event_type: 'KeyPress', key_code: 'ArrowLeft' })
          await send({ event_type: 'KeyRelease', key_code: 'ArrowLeft' })
          await eventually(async () => assert.equal(recorder.seen.length, 2))
          assert.deepEqual(recorder.seen, [`+${spare}`, `-${spare}`])
        })
      } finally {
        recorder.close()
        await xm(`keycode ${left} = Left`)
        await xm(`keycode ${spare} =`)
      }
    })

    it('drops an unknown key with KEY_UNMAPPED and goes on typing', async () => {
      await assert.rejects(send({ event_type: 'KeyPress', key_code: 'NoSuchKey' }), { code: 'KEY_UNMAPPED' })
      await send({ event_type: 'KeyPress', key_code: 'ArrowLeft' })
      await send({ event_type: 'KeyRelease', key_code: 'ArrowLeft' })
    })
  })
}

describe('keys on an X server without XKB', () => {
  let scene: Scene
  let desktop: VirtualDesktop
  let client: IpcClient
  before(async () => {
    scene = await openScene({
      command: 'host',
      backend: 'xvfb',
      monitors: [{ width: 640, height: 480 }],
      disableExtensions: ['XKEYBOARD'],
    })
    desktop = scene.desktop
    client = await scene.client()
  })
  after(() => scene?.close())

  it('finds character keys by their keysym and the others by theirs', async () => {
    const rows = await xmodmap(desktop.display)
    const recorder = await recordInput(desktop.display, { x: 0, y: 0, width: 300, height: 300 }, 'keys')
    try {
      await client.invoke('send_input_event', { event: { event_type: 'MouseMove', x: 100, y: 100 } })
      for (const [code, keysym] of [
        ['KeyA', 'a'],
        ['Digit7', '7'],
        ['Slash', 'slash'],
        ['ArrowLeft', 'Left'],
      ] as const) {
        recorder.seen.length = 0
        await client.invoke('send_input_event', { event: { event_type: 'KeyPress', key_code: code } })
        await client.invoke('send_input_event', { event: { event_type: 'KeyRelease', key_code: code } })
        const [press] = await eventually(async () => {
          assert.equal(recorder.seen.length, 2, code)
          return recorder.seen
        })
        assert.ok(rows.get(Number(press?.slice(1)))?.includes(keysym), `${code} typed ${keysym}`)
      }
    } finally {
      recorder.close()
    }
  })
})
