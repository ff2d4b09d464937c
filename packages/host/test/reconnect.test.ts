import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'puppeteer-core'
import { inPage, waitForColour } from './browser.ts'
import { VIEWER_BROWSERS } from './browsers.ts'
import { eventually, type HostProcess, printedUrl } from './helpers.ts'
import { RemoteNetwork } from './netns.ts'
import { openScene, type Scene } from './scene.ts'
import type { Painter, Rgb } from './x11-paint.ts'

const PURPLE: Rgb = [140, 40, 200]
const YELLOW: Rgb = [230, 210, 40]

declare const window: { smoldesk?: { state: string } }
declare const document: { querySelector(s: string): { textContent: string | null; value: string } | null }

/**
 * A viewer on another (namespaced) machine whose network dies for a few
 * seconds, both ways, with no goodbye: the page must notice, say so, and be
 * back by itself once the network is, with its settings as they were.
 * (Whether ICE recovers the old connection or the watchdog makes a new one
 * depends on how long the network was away; either way the picture returns.)
 */
for (const name of VIEWER_BROWSERS) {
  describe(`automatic reconnect after a network drop: ${name}`, () => {
    let net: RemoteNetwork
    let scene: Scene
    let painter: Painter
    let start: HostProcess
    let browser: Browser

    before(async () => {
      net = await RemoteNetwork.create()
      scene = await openScene({
        monitors: [{ width: 640, height: 480 }],
        colours: [PURPLE],
        hostArgs: ['--listen', net.hostIp],
        browser: name,
        browserPath: net.browser(name),
      })
      ;({ painter, host: start, browser } = scene)
    })

    after(async () => {
      await net?.mend()
      await scene?.close()
      await net?.close()
    })

    const state = (page: Page) => inPage(page, () => window.smoldesk?.state ?? '', undefined)
    const text = (page: Page, selector: string) =>
      inPage(page, (s) => document.querySelector(s)?.textContent ?? '', selector)
    const view = (page: Page) =>
      inPage(page, () => document.querySelector('select[aria-label="View"]')?.value ?? '', undefined)

    it('notices the drop, says it is reconnecting, and is back by itself when the network is', async () => {
      const link = await printedUrl(start)
      assert.match(link, new RegExp(`^http://${net.hostIp.replaceAll('.', '\\.')}:`), 'served on the cable')
      const page = await browser.newPage()
      await page.goto(link)
      await waitForColour(page, PURPLE, 20_000)
      await page.mouse.move(300, 10)
      await page.select('select[aria-label="View"]', 'actual')

      await net.cut()
      after(() => net.mend()) // whatever happens below: closing over a dead network takes long
      const cutAt = performance.now()
      await painter.fill({ x: 0, y: 0, width: 640, height: 480 }, YELLOW)
      await eventually(async () => assert.equal(await state(page), 'reconnecting'), 20_000)
      const noticedMs = performance.now() - cutAt
      assert.match(await text(page, '[role="status"]'), /Reconnecting/)
      await new Promise((resolve) => setTimeout(resolve, 4000)) // the network stays away a while

      await net.mend()
      const mendedAt = performance.now()
      await waitForColour(page, YELLOW, 20_000)
      const backMs = performance.now() - mendedAt
      await eventually(async () => assert.equal(await state(page), 'connected'))
      console.log(
        `network drop (${name}): noticed after ${noticedMs.toFixed(0)} ms; picture back ${backMs.toFixed(0)} ms after the network`,
      )
      assert.equal(await view(page), 'actual', 'settings kept')
    })
  })
}
