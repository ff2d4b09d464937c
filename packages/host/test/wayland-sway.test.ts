import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { CommandResult, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'puppeteer-core'
import { SwayDesktop } from '../src/display/embedded/sway-desktop.ts'
import { SwayIpc } from '../src/display/wlroots/sway-ipc.ts'
import { clickButton, inPage, toolbarHidden, videoContentBox, viewerState, waitForColour } from './browser.ts'
import { grantClipboard, launchViewerBrowser } from './browsers.ts'
import {
  eventually,
  type HostProcess,
  printedUrl,
  processesTagged,
  run,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'
import { InputProbe, paintOutput } from './wayland.ts'
import type { Rgb } from './x11-paint.ts'

const GREEN: Rgb = [30, 200, 60]
const ORANGE: Rgb = [240, 140, 20]
const BLUE: Rgb = [40, 90, 220]

declare const window: {
  smoldesk?: { clipboard: { remote?: { content: { text?: string }; copied: boolean; why?: string } } }
}
declare const navigator: {
  clipboard: { writeText(text: string): Promise<void>; readText(): Promise<string> }
}
declare const document: { querySelector(s: string): unknown }
declare const KeyboardEvent: new (type: string, init: Record<string, unknown>) => object

/**
 * A headless sway with two outputs of different sizes, shared by the real
 * `smoldesk start` (which finds sway through WAYLAND_DISPLAY and SWAYSOCK,
 * as on a user's own sway session), viewed in each browser: the outputs as
 * monitors, the colour of the output asked for, a switch without
 * reconnecting, a click and typed text (non-ASCII too) in a Wayland client,
 * the clipboard both ways, the picture back after wf-recorder is killed,
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
      const link = await printedUrl(start)
      await grantClipboard(browser, new URL(link).origin)
      page = await browser.newPage()
      await page.setViewport({ width: 1280, height: 800 })
      await page.goto(link)
      await waitForColour(page, GREEN, 20_000)
      const before = await eventually(async () => {
        const s = await viewerState(page)
        assert.equal(s.state, 'connected')
        return s
      })
      await page.select('select[aria-label="Monitor"]', '1')
      await waitForColour(page, ORANGE, 10_000)
      const after = await viewerState(page)
      assert.equal(after.pcs, before.pcs, 'no new peer connection')
      assert.equal(after.state, 'connected')
    })

    it('shares the clipboard both ways', async () => {
      const fromHost = `copied on sway for ${name} ${randomBytes(3).toString('hex')}`
      const copy = await run('wl-copy', [fromHost], { env: env() })
      assert.equal(copy.code, 0)
      await eventually(async () => {
        const r = await inPage(page, () => window.smoldesk?.clipboard.remote, undefined)
        assert.equal(r?.content.text, fromHost)
      }, 10_000)
      const fromViewer = `copied in ${name} ${randomBytes(3).toString('hex')}`
      await inPage(page, (t) => navigator.clipboard.writeText(t), fromViewer)
      await clickButton(page, 'nav', 'Send my clipboard')
      await eventually(async () => {
        const pasted = await run('wl-paste', ['--no-newline'], { env: env() })
        assert.equal(pasted.stdout.toString(), fromViewer)
      }, 10_000)
    })

    it('brings the picture back within 2 s after the capture helper is killed, on the same connection', async () => {
      const pcs = (await viewerState(page)).pcs
      // Every recorder (the viewer's codec may not be the one the host started with).
      const recorders = (await processesTagged(start.tag)).filter((p) => p.cmdline.startsWith('wf-recorder'))
      assert.ok(recorders.length > 0, 'wf-recorder runs')
      const killed = performance.now()
      for (const recorder of recorders) process.kill(recorder.pid, 'SIGKILL')
      await paintOutput(ipc, 'HEADLESS-2', BLUE)
      await waitForColour(page, BLUE, 5000)
      const back = performance.now() - killed
      console.log(`sway (${name}): wf-recorder killed, picture back after ${back.toFixed(0)} ms`)
      assert.ok(back < 2000, `${back.toFixed(0)} ms`)
      assert.equal((await viewerState(page)).pcs, pcs, 'no reconnect')
    })

    it('brings a click and typed text, non-ASCII included, to a Wayland client', async () => {
      await ipc.command('focus output HEADLESS-2')
      const probe = await InputProbe.open(env())
      try {
        await eventually(async () => assert.ok(probe.mapped, 'wev is on screen'), 10_000)
        const box = await videoContentBox(page)
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
        await toolbarHidden(page)
        await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
        await eventually(
          async () => assert.deepEqual(probe.buttonsPressed(), [0x110], 'a left click'),
          10_000,
        )
        await page.keyboard.type('hi sway')
        // A key whose character the host's US layout lacks: it arrives as the character typed.
        await inPage(
          page,
          (keys) => {
            const video = document.querySelector('video') as { dispatchEvent(e: unknown): void }
            for (const [type, code, key] of keys)
              video.dispatchEvent(new KeyboardEvent(type, { code, key, bubbles: true, cancelable: true }))
          },
          [
            ['keydown', 'KeyE', 'é'],
            ['keyup', 'KeyE', 'é'],
            ['keydown', 'Digit4', '€'],
            ['keyup', 'Digit4', '€'],
          ] as const,
        )
        await eventually(async () => assert.equal(probe.typed(), 'hi swayé€'), 10_000)
      } finally {
        await probe.close()
      }
    })

    it('leaves no process behind when it stops', async () => {
      await start.stop()
      assert.deepEqual(await waitForNoProcesses(start.tag), [])
    })
  })
}
