import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { IpcClient } from '@smoldesk/protocol'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { eventually, type HostProcess, startHostProcess, typingTerminal } from './helpers.ts'
import { xKeyDown, xPointer } from './x11-state.ts'

const BUTTON1_MASK = 0x100
const BUTTON3_MASK = 0x400

describe('input: XTEST injection read back from the X server', () => {
  let desktop: VirtualDesktop
  let host: HostProcess
  let client: IpcClient
  let x: X11Connection
  const pointer = () => xPointer(x)
  const keyDown = (code: string) => xKeyDown(x, code)
  const send = (event: Record<string, unknown>) => client.invoke('send_input_event', { event })

  before(async () => {
    desktop = await VirtualDesktop.start({
      monitors: [
        { width: 1280, height: 720 },
        { width: 1024, height: 768 },
      ],
      withApps: false,
    })
    host = await startHostProcess('host', ['--display', desktop.display])
    client = await host.client()
    x = await X11Connection.open(desktop.display)
  })
  after(async () => {
    x?.close()
    client?.close()
    await host?.stop()
    await desktop?.close()
  })

  it('moves the pointer relative to the chosen monitor, clamped to it', async () => {
    await send({ event_type: 'MouseMove', x: 100, y: 50, monitor_index: 1 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [1280 + 100, 50])
    await send({ event_type: 'MouseMove', x: 5000, y: -20, monitor_index: 1 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [1280 + 1023, 0])
    await send({ event_type: 'MouseMove', x: 10, y: 10 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [10, 10], 'default: the first monitor')
  })

  it('moves relative to where the pointer is (pointer lock)', async () => {
    await send({ event_type: 'MouseMove', x: 200, y: 200 })
    await send({ event_type: 'MouseMove', delta_x: 15, delta_y: -7 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [215, 193])
  })

  it('follows configure_input_forwarding: target monitor, scale and spanning', async () => {
    await client.invoke('configure_input_forwarding', {
      config: { enabled: true, monitor_index: 1, scale_factor: 2 },
    })
    await send({ event_type: 'MouseMove', x: 100, y: 100 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [1280 + 200, 200])
    await client.invoke('configure_input_forwarding', {
      config: { enabled: true, multi_monitor_mode: 'Span' },
    })
    await send({ event_type: 'MouseMove', x: 2000, y: 700 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [2000, 700])
    await assert.rejects(
      client.invoke('configure_input_forwarding', { config: { enabled: true, monitor_index: 9 } }),
      {
        code: 'MONITOR_NOT_FOUND',
      },
    )
    await client.invoke('configure_input_forwarding', { config: { enabled: true } })
  })

  it('presses and releases buttons and keys (with modifiers) for real', async () => {
    await send({ event_type: 'MouseButton', button: 'Left', is_pressed: true, x: 20, y: 20 })
    assert.ok((await pointer()).keyMask & BUTTON1_MASK, 'left button down')
    await send({ event_type: 'MouseButton', button: 'Left', is_pressed: false })
    assert.equal((await pointer()).keyMask & BUTTON1_MASK, 0)
    await send({ event_type: 'KeyPress', key_code: 'KeyA', modifiers: ['Shift'] })
    assert.equal(await keyDown('KeyA'), true)
    assert.equal(await keyDown('ShiftLeft'), true)
    await send({ event_type: 'KeyRelease', key_code: 'KeyA' })
    assert.equal(await keyDown('KeyA'), false)
    assert.equal(await keyDown('ShiftLeft'), false, 'the implied Shift is released with its key')
    await assert.rejects(send({ event_type: 'KeyPress', key_code: 'NoSuchKey' }), { code: 'KEY_UNMAPPED' })
    await assert.rejects(send({ event_type: 'KeyPress' }), { code: 'INVALID_ARGS' })
    await assert.rejects(send({ event_type: 'MouseButton', button: 'Left' }), { code: 'INVALID_ARGS' })
  })

  it('releases everything held when input is turned off, and refuses input until it is back on', async () => {
    await send({ event_type: 'MouseButton', button: 'Right', is_pressed: true, x: 30, y: 30 })
    await send({ event_type: 'KeyPress', key_code: 'ControlLeft' })
    assert.ok((await pointer()).keyMask & BUTTON3_MASK)
    assert.equal(await keyDown('ControlLeft'), true)
    await client.invoke('set_input_enabled', { enabled: false })
    assert.equal((await pointer()).keyMask & BUTTON3_MASK, 0, 'right button released')
    assert.equal(await keyDown('ControlLeft'), false, 'Control released')
    await assert.rejects(send({ event_type: 'MouseMove', x: 1, y: 1 }), { code: 'INPUT_DISABLED' })
    await client.invoke('set_input_enabled', { enabled: true })
    await send({ event_type: 'MouseMove', x: 1, y: 1 })
    assert.deepEqual(await pointer().then((p) => [p.rootX, p.rootY]), [1, 1])
  })

  it('turns smooth-scroll deltas into whole wheel clicks', async () => {
    // Wheel clicks are press+release pairs; nothing may stay held afterwards.
    await send({ event_type: 'MouseScroll', delta_y: 250 })
    await send({ event_type: 'MouseScroll', delta_y: 50, delta_x: -120 })
    assert.equal((await pointer()).keyMask & 0x1f00, 0)
  })

  it('types Unicode text into a real X application, whatever the keymap lacks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smoldesk-typing-'))
    const out = join(dir, 'typed.txt')
    // A terminal whose shell writes every line typed into it to a file.
    const xterm = await typingTerminal(desktop.display, '60x5+0+0', out)
    try {
      // Without a window manager the keyboard follows the pointer: point at the terminal.
      await send({ event_type: 'MouseMove', x: 50, y: 30, monitor_index: 0 })
      const typedSoFar = (expected: string) =>
        eventually(async () => assert.equal(await readFile(out, 'utf8').catch(() => ''), expected), 10_000)
      // A client that reads its events late (here: stopped for half a second)
      // still finds each character on the key it was pressed with.
      const busy = 'Ünïcödé € 你好 😀\n'
      process.kill(xterm.pid ?? 0, 'SIGSTOP')
      try {
        await send({ event_type: 'Text', text: busy })
        await sleep(500)
      } finally {
        process.kill(xterm.pid ?? 0, 'SIGCONT')
      }
      await typedSoFar(busy)
      // More characters than there are spare keycodes: keycodes are reused.
      const text = 'Grüße, SmolDesk! é ß € 你好 😀 ~`^ and some more ASCII text to wrap around'
      await send({ event_type: 'Text', text: `${text}\n` })
      await typedSoFar(`${busy}${text}\n`)
    } finally {
      xterm.kill()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('leaves no key or button down when the host stops', async () => {
    await send({ event_type: 'KeyPress', key_code: 'KeyZ' })
    assert.equal(await keyDown('KeyZ'), true)
    client.close()
    await host.stop()
    assert.equal(await keyDown('KeyZ'), false)
  })
})
