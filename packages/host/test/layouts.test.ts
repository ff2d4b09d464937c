import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { IpcClient } from '@smoldesk/protocol'
import type { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { eventually, type HostProcess, run, typingTerminal } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import { recordInput } from './x11-state.ts'

type Key = { code: string; key?: string; modifiers?: string[] }

/**
 * Keyboards that are not the host's: the viewer sends each key's DOM code
 * and the character its own layout typed, and the host's terminal must
 * show what the user saw, on a US host and on a German one; shortcuts
 * still go by position.
 */
describe('keyboard layouts: what the viewer typed is what arrives', () => {
  let scene: Scene
  let desktop: VirtualDesktop
  let host: HostProcess
  let client: IpcClient
  let dir: string
  let xterm: ChildProcess | undefined
  let out: string
  const send = (event: Record<string, unknown>) => client.invoke('send_input_event', { event })
  const tap = async (...keys: Key[]) => {
    for (const { code, ...rest } of keys) await send({ event_type: 'KeyPress', key_code: code, ...rest })
    for (const k of [...keys].reverse()) await send({ event_type: 'KeyRelease', key_code: k.code })
  }
  const typed = (expected: string) =>
    eventually(async () => assert.equal(await readFile(out, 'utf8').catch(() => ''), expected), 10_000)
  const layout = (name: string) => run('setxkbmap', ['-display', desktop.display, name])

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smoldesk-layouts-'))
    scene = await openScene({ command: 'host', backend: 'xvfb', monitors: [{ width: 800, height: 600 }] })
    ;({ desktop, host } = scene)
    client = await scene.client()
  })
  after(async () => {
    xterm?.kill()
    await scene?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const terminal = async (name: string) => {
    xterm?.kill()
    out = join(dir, `${name}.txt`)
    xterm = await typingTerminal(desktop.display, '60x5+0+0', out)
    await send({ event_type: 'MouseMove', x: 50, y: 30 }) // focus follows the pointer
  }
  const enter = { code: 'Enter' }
  const shift = { code: 'ShiftLeft' }

  it('types a German, a French and a Japanese viewer’s characters on a US host', async () => {
    await layout('us')
    await terminal('on-us')
    // German: ä on the key US calls Quote, ß on Minus, @ with AltGr on Q (the page sends no AltGr key).
    await tap({ code: 'Quote', key: 'ä' })
    await tap({ code: 'Minus', key: 'ß' })
    await tap({ code: 'KeyQ', key: '@' })
    // Shift+2 on a German keyboard is ", which US has on Shift+Quote.
    await tap(shift, { code: 'Digit2', key: '"', modifiers: ['Shift'] })
    // French AZERTY: a on the key US calls KeyQ, é on Digit2; a composed ê (dead ^ then e).
    await tap({ code: 'KeyQ', key: 'a' })
    await tap({ code: 'Digit2', key: 'é' })
    await tap({ code: 'KeyE', key: 'ê' })
    // Japanese: the yen sign on IntlYen.
    await tap({ code: 'IntlYen', key: '¥' })
    await tap(enter)
    await typed('äß@"aéê¥\n')
  })

  it('types a US viewer’s characters on a German host, and shortcuts by position', async () => {
    await layout('de')
    await terminal('on-de')
    // German QWERTZ swaps Y and Z; / is Shift+7 there, @ is AltGr+Q: none of it at the US position.
    await tap({ code: 'KeyZ', key: 'z' })
    await tap({ code: 'KeyY', key: 'y' })
    await tap({ code: 'Slash', key: '/' })
    await tap({ code: 'Digit2', key: '@' }) // without Shift: @ is not on this host's Shift level
    await tap(shift, { code: 'Digit2', key: '@', modifiers: ['Shift'] })
    await tap(enter)
    await typed('zy/@@\n')
    // A shortcut is a key: Ctrl+Z presses the key at the viewer's Z position, whatever it types here.
    const recorder = await recordInput(desktop.display, { x: 500, y: 400, width: 200, height: 150 }, 'keys')
    try {
      await send({ event_type: 'MouseMove', x: 550, y: 450 })
      await tap({ code: 'ControlLeft' }, { code: 'KeyZ', key: 'z', modifiers: ['Control'] })
      const keycodes = await eventually(async () => {
        assert.equal(recorder.seen.length, 4)
        return recorder.seen
      })
      const row = (await run('xmodmap', ['-display', desktop.display, '-pke'])).stdout.toString()
      const zKey = keycodes[1]?.slice(1)
      assert.match(row, new RegExp(`^keycode +${zKey} = y Y`, 'm'), 'the German host has y at that position')
    } finally {
      recorder.close()
      await layout('us')
    }
  })

  it('leaves no borrowed keycode behind and no key down when the host stops', async () => {
    await layout('us')
    await send({ event_type: 'KeyPress', key_code: 'Quote', key: 'ä' })
    const rows = (await run('xmodmap', ['-display', desktop.display, '-pke'])).stdout.toString()
    assert.match(rows, /adiaeresis/, 'held on a borrowed keycode')
    client.close()
    await host.stop()
    const x = await X11Connection.open(desktop.display)
    try {
      const down = await x.call<Buffer>((cb) => x.client.QueryKeymap(cb))
      assert.ok(
        down.every((byte) => byte === 0),
        'no key down',
      )
    } finally {
      x.close()
    }
    await eventually(async () => {
      const rows = (await run('xmodmap', ['-display', desktop.display, '-pke'])).stdout.toString()
      assert.doesNotMatch(rows, /adiaeresis/, 'the spare keycode for ä is empty again')
    })
  })
})
