import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { waitForColour } from './browser.ts'
import { eventually, processesTagged, waitForNoProcesses } from './helpers.ts'
import { openScene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'

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
  /** A desktop painted orange and `smoldesk start` with these arguments, with a Chromium to view it. */
  const scene = (hostArgs: string[]) =>
    openScene({ monitors: [{ width: 640, height: 480 }], colours: [ORANGE], hostArgs, playwright: true })

  it('streams to a viewer that may only use relay candidates, through `start --turn`', async () => {
    const { host: start, playwright: browser, url, close } = await scene(['--turn'])
    try {
      const link = await url() // printed once everything is up
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
      await close()
    }
    await waitForNoProcesses(start.tag)
  })

  it('says in words why a relay-only viewer cannot connect when there is no TURN server', async () => {
    const { playwright: browser, url, close } = await scene([])
    try {
      const page = await browser.newPage()
      await page.goto(relayOnly(await url()))
      await eventually(async () => {
        const detail = await page.evaluate(() => window.smoldesk?.detail ?? '')
        assert.match(detail, /No relay candidate was gathered/)
        assert.match(detail, /Gathered here: none/)
      }, 45_000)
      await page.close()
    } finally {
      await close()
    }
  })
})
