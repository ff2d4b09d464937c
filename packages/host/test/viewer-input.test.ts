import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { encodeButton, encodeKey, encodeMove } from '@smoldesk/protocol'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { listX11Monitors } from '../src/display/x11/monitors.ts'
import { XTestInjector } from '../src/display/x11/xtest-injector.ts'
import { InputService } from '../src/input/input-service.ts'
import { MAX_EVENTS_PER_S, ViewerInput } from '../src/input/viewer-input.ts'
import { eventually } from './helpers.ts'
import { xKeyDown, xPointer } from './x11-state.ts'

describe('viewer input frames → the real X server (data-channel side, without the network)', () => {
  let desktop: VirtualDesktop
  let x: X11Connection
  let injector: XTestInjector
  let viewerInput: ViewerInput

  before(async () => {
    desktop = await VirtualDesktop.start({ withApps: false })
    x = await X11Connection.open(desktop.display)
    injector = await XTestInjector.open(desktop.display)
    const input = new InputService({
      injector: async () => injector,
      monitors: () => listX11Monitors(x),
      capturedMonitor: () => 0,
    })
    viewerInput = new ViewerInput(input)
  })
  after(async () => {
    injector?.close()
    x?.close()
    await desktop?.close()
  })

  it('survives 10,000 random and truncated frames, counting them, and still works', async () => {
    let seed = 7
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const valid = [encodeMove(1, 5, 5), encodeButton(2, 'Left', true, 3, 4), encodeKey(3, 'Enter', false, [])]
    const before = viewerInput.counters.malformed
    for (let i = 0; i < 10_000; i++) {
      const base = valid[i % valid.length] ?? new Uint8Array()
      const frame =
        i % 2 === 0
          ? base.subarray(0, Math.floor(rand() * base.length))
          : Uint8Array.from({ length: 1 + Math.floor(rand() * 30) }, () => Math.floor(rand() * 256))
      viewerInput.handle('fuzzer', frame, i % 3 === 0 ? 'motion' : 'reliable')
    }
    assert.ok(
      viewerInput.counters.malformed - before > 5000,
      `${viewerInput.counters.malformed - before} counted`,
    )
    await sleep(1100) // a new rate-limit window
    viewerInput.handle('someone', encodeMove(1, 321, 123), 'motion')
    await eventually(async () => {
      const p = await xPointer(x)
      assert.deepEqual([p.rootX, p.rootY], [321, 123])
    })
  })

  it('drops motion older than a click that already went by', async () => {
    viewerInput.handle('ordering', encodeButton(10, 'Left', true, 50, 60), 'reliable')
    viewerInput.handle('ordering', encodeButton(11, 'Left', false, 50, 60), 'reliable')
    const stale = viewerInput.counters.stale
    viewerInput.handle('ordering', encodeMove(9, 900, 900), 'motion') // sent before the click, arrived after
    await eventually(async () => {
      const p = await xPointer(x)
      assert.deepEqual([p.rootX, p.rootY], [50, 60])
    })
    assert.equal(viewerInput.counters.stale, stale + 1)
  })

  it('limits each viewer to MAX_EVENTS_PER_S and counts what it drops', async () => {
    await sleep(1100)
    const dropped = viewerInput.counters.dropped
    for (let i = 1; i <= MAX_EVENTS_PER_S + 500; i++)
      viewerInput.handle('flood', encodeMove(i, i % 100, 5), 'motion')
    assert.equal(viewerInput.counters.dropped - dropped, 500)
  })

  it('releases what a viewer held when it goes away', async () => {
    viewerInput.handle('leaver', encodeKey(1, 'KeyG', true, []), 'reliable')
    await eventually(async () => assert.equal(await xKeyDown(x, 'KeyG'), true))
    viewerInput.viewerGone('leaver')
    await eventually(async () => assert.equal(await xKeyDown(x, 'KeyG'), false))
  })
})
