import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { CommandResult, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'puppeteer-core'
import { SwayDesktop } from '../src/display/embedded/sway-desktop.ts'
import { SwayIpc } from '../src/display/wlroots/sway-ipc.ts'
import { WlrootsCaptureSource } from '../src/display/wlroots/wlroots-capture.ts'
import { inPage, viewerState, waitForColour } from './browser.ts'
import { launchViewerBrowser } from './browsers.ts'
import {
  eventually,
  type HostProcess,
  printedUrl,
  runCli,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'
import { pausedForOtherCodecs } from './paused-encoder.ts'
import { assertSourceShrinks, HELPER_CODECS } from './smaller-picture.ts'
import {
  clickVideoCentre,
  clipboardBothWays,
  InputProbe,
  paintOutput,
  pictureBackAfterKill,
  typeWithViewerLayout,
  viewAndSwitchMonitor,
} from './wayland.ts'
import type { Rgb } from './x11-paint.ts'

const GREEN: Rgb = [30, 200, 60]
const ORANGE: Rgb = [240, 140, 20]
const BLUE: Rgb = [40, 90, 220]

declare const document: { querySelector(s: string): unknown }

/**
 * A headless sway with two outputs of different sizes, shared by the real
 * `smoldesk start` (which finds sway through WAYLAND_DISPLAY and SWAYSOCK,
 * as on a user's own sway session), viewed in each browser: the outputs as
 * monitors, the colour of the output asked for, a switch without
 * reconnecting, a click and typed text (non-ASCII too) in a Wayland client,
 * the clipboard both ways, the picture back after the capture helper is killed,
 * and nothing left running afterwards.
 */
for (const name of ['chromium', 'firefox'] as const) {
  describe(`sharing a sway desktop, viewed in ${name}`, () => {
    let sway: SwayDesktop
    let ipc: SwayIpc
    let start: HostProcess
    let client: IpcClient
    let browser: Browser
    let page: Page
    const env = () => sway.clientEnv()

    before(async () => {
      sway = await SwayDesktop.start({
        monitors: [
          { width: 1280, height: 720 },
          { width: 800, height: 600 },
        ],
        withApps: false,
      })
      ipc = await SwayIpc.open(sway.session.SWAYSOCK)
      await paintOutput(ipc, 'HEADLESS-1', GREEN)
      await paintOutput(ipc, 'HEADLESS-2', ORANGE)
      start = await startHostProcess('start', [], { DISPLAY: undefined, ...sway.session })
      client = await start.client()
      browser = await launchViewerBrowser(name)
    })

    after(async () => {
      client?.close()
      await browser?.close()
      await start?.stop()
      ipc?.close()
      await sway?.close()
    })

    it('lists the outputs as monitors and says it shares Wayland', async () => {
      assert.equal(await client.invoke('get_display_server'), 'Wayland')
      const monitors = await client.invoke<CommandResult<'get_monitors'>>('get_monitors')
      assert.deepEqual(
        monitors.map((m) => [m.name, m.x, m.y, m.width, m.height]),
        [
          ['HEADLESS-1', 0, 0, 1280, 720],
          ['HEADLESS-2', 1280, 0, 800, 600],
        ],
      )
      const status = await client.invoke<CommandResult<'get_host_status'>>('get_host_status')
      assert.match(status.backend, /^sway \(/)
      assert.equal(status.display, null)
      const thumb = await client.invoke<CommandResult<'get_monitor_thumbnail'>>('get_monitor_thumbnail', {
        monitorIndex: 1,
        width: 200,
      })
      assert.equal(Buffer.from(thumb.data, 'base64').readUInt16BE(0), 0xffd8, 'a JPEG of the output')
    })

    it('shows the output asked for, and switches output on the same connection', async () => {
      page = await viewAndSwitchMonitor(start, browser, GREEN, ORANGE)
    })

    it('shares the clipboard both ways', async () => {
      await clipboardBothWays(page, env(), `sway for ${name}`)
    })

    it('brings the picture back within 2 s after the capture helper is killed, on the same connection', async () => {
      const back = await pictureBackAfterKill(
        start,
        page,
        // SmolDesk's helper for either browser: H.264 (Chromium) and VP8 (Firefox).
        ['smoldesk-wl-grab', 'smoldesk-wl-grab-vp8'],
        () => paintOutput(ipc, 'HEADLESS-2', BLUE),
        BLUE,
      )
      console.log(`sway (${name}): capture killed, picture back after ${back.toFixed(0)} ms`)
      assert.ok(back < 2000, `${back.toFixed(0)} ms`)
    })

    if (name === 'firefox')
      it('copies and encodes nothing for H.264 while Firefox alone watches, and shows a Chromium that comes the output as it is now', async () => {
        // Green at the end, where the paused helper last showed blue: a fresh copy, taken whole.
        await pausedForOtherCodecs(start, page, {
          label: 'sway',
          h264: /smoldesk-wl-grab(?!-vp8)/,
          vp8: /smoldesk-wl-grab-vp8/,
          paint: async (colour) => {
            await paintOutput(ipc, 'HEADLESS-1', colour)
            await paintOutput(ipc, 'HEADLESS-2', colour)
          },
          colours: [ORANGE, GREEN, ORANGE, GREEN, ORANGE, GREEN, ORANGE, GREEN],
        })
      })

    it('brings a click and typed text, non-ASCII included, to a Wayland client', async () => {
      await ipc.command('focus output HEADLESS-2')
      const probe = await InputProbe.open(env())
      try {
        await eventually(async () => assert.ok(probe.mapped, 'wev is on screen'), 10_000)
        await clickVideoCentre(page)
        await eventually(
          async () => assert.deepEqual(probe.buttonsPressed(), [0x110], 'a left click'),
          10_000,
        )
        await page.keyboard.type('hi sway')
        // A key whose character the host's US layout lacks: it arrives as the character typed.
        await typeWithViewerLayout(page, [
          ['KeyE', 'é'],
          ['Digit4', '€'],
        ])
        await eventually(async () => assert.equal(probe.typed(), 'hi swayé€'), 10_000)
      } finally {
        await probe.close()
      }
    })

    it("gives a headless output the viewer window's size when the host allows it, and its own back after", async () => {
      // Back to the first output, then one viewer only, whose window decides.
      await page.select('select[aria-label="Monitor"]', '0')
      await waitForColour(page, GREEN, 10_000)
      await page.close()
      assert.deepEqual(await client.invoke('set_viewer_resize', { allowed: true }), { allowed: true })
      const viewer = await browser.newPage()
      await viewer.setViewport({ width: 1000, height: 640, deviceScaleFactor: 1 })
      await viewer.goto(await printedUrl(start))
      await eventually(async () => assert.equal((await viewerState(viewer)).state, 'connected'), 20_000)
      // Its stage, in device pixels, is the size the viewer asks for.
      const want = await inPage(
        viewer,
        () => {
          const box = (
            document.querySelector('.stage') as { getBoundingClientRect(): { width: number; height: number } }
          ).getBoundingClientRect()
          const even = (n: number) => Math.round(n) - (Math.round(n) % 2)
          return { width: even(box.width), height: even(box.height) }
        },
        undefined,
      )
      await eventually(async () => {
        const [first, second] = await client.invoke<CommandResult<'get_monitors'>>('get_monitors')
        assert.deepEqual([first?.width, first?.height], [want.width, want.height])
        assert.deepEqual(
          [second?.name, second?.x],
          ['HEADLESS-2', want.width],
          'the other output moved along',
        )
      }, 15_000)
      await viewer.close()
      await eventually(async () => {
        const [first, second] = await client.invoke<CommandResult<'get_monitors'>>('get_monitors')
        assert.deepEqual([first?.width, first?.height, second?.x], [1280, 720, 1280])
      }, 15_000)
    })

    it('leaves no process behind when it stops', async () => {
      await start.stop()
      assert.deepEqual(await waitForNoProcesses(start.tag), [])
    })
  })
}

describe('start --desktop', () => {
  it('names what is not a desktop, and says KDE is not one yet, with codes', async () => {
    const kde = await runCli(['start', '--desktop', 'kde', '--port', '0'], {})
    assert.equal(kde.code, 1)
    assert.equal(JSON.parse(kde.stderr.trim().split('\n').at(-1) ?? '{}').code, 'UNAVAILABLE')
    const bad = await runCli(['start', '--desktop', 'weston', '--port', '0'], {})
    assert.equal(bad.code, 1)
    const said = JSON.parse(bad.stderr.trim().split('\n').at(-1) ?? '{}')
    assert.equal(said.code, 'INVALID_ARGS')
    assert.match(said.message, /xorg, xvfb, x11, sway, gnome/)
  })
})

for (const helper of HELPER_CODECS) {
  describe(`the screencopy helper: a smaller picture when asked (${helper[0]})`, () => {
    it('encodes 1/2 of the output from a keyframe on, keeps showing changes, and the whole output again', async () => {
      const sway = await SwayDesktop.start({ monitors: [{ width: 640, height: 480 }], withApps: false })
      const ipc = await SwayIpc.open(sway.session.SWAYSOCK)
      try {
        await paintOutput(ipc, 'HEADLESS-1', BLUE)
        await assertSourceShrinks(
          new WlrootsCaptureSource({ ...sway.session }),
          'HEADLESS-1',
          helper,
          { program: 'smoldesk-wl-grab', env: sway.clientEnv() },
          BLUE,
          (colour) => paintOutput(ipc, 'HEADLESS-1', colour),
          ORANGE,
        )
      } finally {
        ipc.close()
        await sway.close()
      }
    })
  })
}
