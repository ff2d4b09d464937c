import assert from 'node:assert/strict'
import type { Page } from 'puppeteer-core'
import { viewerState, waitForColour } from './browser.ts'
import { launchViewerBrowser } from './browsers.ts'
import { cpuMs, eventually, type HostProcess, printedUrl, processesTagged } from './helpers.ts'
import type { Rgb } from './x11-paint.ts'

/** A Chromium viewer page, and how to put it away. */
interface ChromiumPage {
  page: Page
  close(): Promise<void>
}

/**
 * With Firefox alone watching (VP8), the configured H.264 helper is paused:
 * each of `colours` reaches Firefox and none costs the H.264 helper CPU
 * (at most a tick of the kernel's clock, for reading its events); then a
 * Chromium comes and sees, from the same process, the screen as it is now
 * (`colours`' last, which must differ from what was shown before the
 * pause), without a further change. `h264` and `vp8` pick the helpers by
 * their command lines; `chromium` opens the page (default: a browser of
 * its own, closed after); `withChromium` runs with it before it closes. Every
 * desktop's helper (X11, sway, GNOME) goes through this one function.
 */
export async function pausedForOtherCodecs(
  start: HostProcess,
  firefoxPage: Page,
  options: {
    label: string
    h264: RegExp
    vp8: RegExp
    paint(colour: Rgb): Promise<void>
    colours: Rgb[]
    chromium?: () => Promise<ChromiumPage>
    withChromium?: (chromium: Page) => Promise<void>
  },
): Promise<void> {
  const isH264Helper = (cmdline: string) => options.h264.test(cmdline)
  const helpers = await eventually(async () => {
    const found = await processesTagged(start.tag)
    const h264 = found.find((p) => isH264Helper(p.cmdline))
    const vp8 = found.find((p) => options.vp8.test(p.cmdline))
    assert.ok(h264 && vp8, 'both helpers run (H.264, configured; VP8, for Firefox)')
    return { h264, vp8 }
  })
  const [h264Before, vp8Before] = [await cpuMs(helpers.h264.pid), await cpuMs(helpers.vp8.pid)]
  for (const colour of options.colours) {
    await options.paint(colour)
    await waitForColour(firefoxPage, colour, 10_000)
  }
  const spent = (await cpuMs(helpers.h264.pid)) - h264Before
  const vp8Spent = (await cpuMs(helpers.vp8.pid)) - vp8Before
  console.log(
    `${options.label} (firefox alone, ${options.colours.length} changes): the H.264 helper used ${spent} ms of CPU, the VP8 one ${vp8Spent} ms`,
  )
  assert.ok(spent <= 10, `the H.264 helper spent ${spent} ms of CPU for nobody (VP8's: ${vp8Spent} ms)`)
  const chromium = await (options.chromium ?? ownChromium)()
  try {
    await chromium.page.goto(await printedUrl(start))
    await waitForColour(chromium.page, options.colours.at(-1) as Rgb, 20_000)
    await eventually(async () => assert.equal((await viewerState(chromium.page)).codec, 'H264'))
    await options.withChromium?.(chromium.page)
    const again = (await processesTagged(start.tag)).find((p) => isH264Helper(p.cmdline))
    assert.equal(again?.pid, helpers.h264.pid, 'the same H.264 helper, not a restart')
  } finally {
    await chromium.close()
  }
}

async function ownChromium(): Promise<ChromiumPage> {
  const browser = await launchViewerBrowser('chromium')
  return { page: await browser.newPage(), close: () => browser.close() }
}
