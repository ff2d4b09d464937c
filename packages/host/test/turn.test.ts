import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { launchChromium, waitForColour } from './browser.ts'
import {
  eventually,
  type HostProcess,
  printedUrl,
  processesTagged,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'
import { Painter, type Rgb } from './x11-paint.ts'

const ORANGE: Rgb = [240, 140, 20]

declare const window: {
  smoldesk?: {
    state: string
    detail: string
    stats?: { candidatePairType?: string }
    files?: { connected: boolean }
  }
}

/** The viewer link with `relay=1`: Chromium may use TURN relay candidates only. */
const relayOnly = (url: string) => url.replace('#', '&relay=1#')

describe('NAT traversal: a local coturn relays the media', () => {
  let desktop: VirtualDesktop
  let painter: Painter
  let browser: Browser
  let closeBrowser: () => Promise<void>

  before(async () => {
    desktop = await VirtualDesktop.start({ monitors: [{ width: 640, height: 480 }], withApps: false })
    painter = await Painter.open(desktop.display)
    await painter.fill({ x: 0, y: 0, width: 640, height: 480 }, ORANGE)
    ;({ browser, close: closeBrowser } = await launchChromium())
  })

  after(async () => {
    await closeBrowser?.()
    painter?.close()
    await desktop?.close()
  })

  it('streams to a viewer that may only use relay candidates, through `start --turn`', async () => {
    const start: HostProcess = await startHostProcess('start', ['--display', desktop.display, '--turn'])
    try {
      const link = await printedUrl(start) // printed once everything is up
      assert.match(start.stdout(), /TURN relay: local coturn at turn:127\.0\.0\.1:\d+\?transport=udp/)
      const coturn = (await processesTagged(start.tag)).filter((p) => p.cmdline.includes('turnserver'))
      assert.equal(coturn.length, 1, 'one coturn, tagged as ours')
      assert.ok(!coturn[0]?.cmdline.includes('secret'), 'the shared secret is not on the command line')
      const page = await browser.newPage()
      await page.goto(relayOnly(link))
      await waitForColour(page, ORANGE, 20_000)
      await eventually(
        async () =>
          assert.equal(await page.evaluate(() => window.smoldesk?.stats?.candidatePairType), 'relay'),
        5000,
      )
      // Files work for a relay-only viewer too: over the data link when it gets through the relay,
      // else over the main connection after the host's 10 s fallback.
      await eventually(
        async () => assert.equal(await page.evaluate(() => window.smoldesk?.files?.connected), true),
        20_000,
      )
      await page.close()
    } finally {
      await start.stop()
    }
    await waitForNoProcesses(start.tag)
  })

  it('says in words why a relay-only viewer cannot connect when there is no TURN server', async () => {
    const start = await startHostProcess('start', ['--display', desktop.display])
    try {
      const page = await browser.newPage()
      await page.goto(relayOnly(await printedUrl(start)))
      await eventually(async () => {
        const detail = await page.evaluate(() => window.smoldesk?.detail ?? '')
        assert.match(detail, /No relay candidate was gathered/)
        assert.match(detail, /Gathered here: none/)
      }, 45_000)
      await page.close()
    } finally {
      await start.stop()
    }
  })
})
