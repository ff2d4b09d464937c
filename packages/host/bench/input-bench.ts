import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { XTestInjector } from '../src/display/x11/xtest-injector.ts'
import { ManagedProcess } from '../src/process/child.ts'
import { startBenchHost, waitFor } from './bench-host.ts'
import { launchChromium } from './chromium.ts'
import { percentile, round1 } from './stats.ts'

const CLICK_APP = resolve(import.meta.dirname, 'click-app.ts')

export interface InputBenchResult {
  bench: 'input'
  /** One XTEST event plus the round trip that confirms the server applied it, µs. */
  inject_us_median: number
  /** Many events sent back to back, per event, µs (the cost when events stream). */
  inject_us_amortized: number
  click_to_photon_ms_median: number
  click_to_photon_ms_p95: number
  clicks: number
  width: number
  height: number
  fps: number
}

/*
 * Page side (passed as source: this file is checked without the DOM): the
 * time of the pointerdown the viewer sends, and the first animation frame
 * whose video shows the clicked window's new colour.
 */
const CLICK_PROBE = `(() => {
  const video = document.querySelector('video')
  const canvas = new OffscreenCanvas(1, 1)
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  const luma = () => {
    // Inside the clicked window but off the click point: the captured cursor is drawn there.
    ctx.drawImage(video, video.videoWidth / 2, video.videoHeight / 2 - 64, 1, 1, 0, 0, 1, 1)
    const d = ctx.getImageData(0, 0, 1, 1).data
    return 0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2]
  }
  const state = { pending: undefined, results: [] }
  video.addEventListener('pointerdown', (ev) => {
    state.pending = { at: ev.timeStamp, before: luma() }
  }, { capture: true })
  const frame = (ts) => {
    if (state.pending && Math.abs(luma() - state.pending.before) > 100) {
      state.results.push(ts - state.pending.at)
      state.pending = undefined
    }
    requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
  window.__clickProbe = state
})()`

/**
 * Injection cost and click-to-photon at 1080p60: the viewer clicks, a
 * 256×256 X window under the pointer flips colour, and the viewer times how long until
 * its video shows the flip.
 */
export async function benchInput(options: {
  clicks: number
  log: (line: string) => void
}): Promise<InputBenchResult> {
  const size = { width: 1920, height: 1080 }
  const fps = 60
  const desktop = await VirtualDesktop.start({ monitors: [size], withApps: false })
  const app = await ManagedProcess.spawn({
    name: 'click app',
    command: process.execPath,
    // A 256-pixel square under the pointer, like a button lighting up (not a full-screen flash).
    args: [
      CLICK_APP,
      desktop.display,
      String(size.width / 2 - 128),
      String(size.height / 2 - 128),
      '256',
      '256',
    ],
  })
  const browser = await launchChromium()
  try {
    options.log('injection cost…')
    const injector = await XTestInjector.open(desktop.display)
    const single: number[] = []
    for (let i = 0; i < 500; i++) {
      const started = performance.now()
      injector.move(100 + (i % 200), 100)
      await injector.flush()
      single.push((performance.now() - started) * 1000)
    }
    const burst = 5000
    const started = performance.now()
    for (let i = 0; i < burst; i++) injector.move(100 + (i % 200), 200)
    await injector.flush()
    const amortized = ((performance.now() - started) * 1000) / burst
    injector.close()

    options.log('click-to-photon at 1920x1080@60…')
    const host = await startBenchHost(browser, desktop.display, size, { fps })
    try {
      const { page } = host
      await page.evaluate(CLICK_PROBE)
      const box = await waitFor(
        'the video box',
        async () => (await page.locator('video').boundingBox()) ?? undefined,
      )
      const centre = { x: box.x + box.width / 2, y: box.y + box.height / 2 }
      await page.mouse.move(centre.x, centre.y)
      for (let i = 0; i < options.clicks; i++) {
        const before = Number(await page.evaluate('window.__clickProbe.results.length'))
        await page.mouse.down()
        await page.mouse.up()
        await waitFor(
          'the click to show',
          async () =>
            Number(await page.evaluate('window.__clickProbe.results.length')) > before ? true : undefined,
          3000,
        )
        await sleep(120)
      }
      const results = (await page.evaluate('window.__clickProbe.results')) as number[]
      return {
        bench: 'input',
        inject_us_median: round1(percentile(single, 50)),
        inject_us_amortized: round1(amortized),
        click_to_photon_ms_median: round1(percentile(results, 50)),
        click_to_photon_ms_p95: round1(percentile(results, 95)),
        clicks: results.length,
        ...size,
        fps,
      }
    } finally {
      await host.close()
    }
  } finally {
    await browser.close()
    await app.close()
    await desktop.close()
  }
}
