import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import type { CommandResult, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'puppeteer-core'
import { MAX_VIRTUAL_HEIGHT, MAX_VIRTUAL_WIDTH } from '../src/display/embedded/xorg-config.ts'
import { MAX_RESIZE } from '../src/display/resize-service.ts'
import { inPage, waitForColour } from './browser.ts'
import { VIEWER_BROWSERS } from './browsers.ts'
import { eventually, type HostProcess, printedUrl } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'

const TEAL: Rgb = [20, 160, 160]

declare const window: {
  smoldesk?: {
    state: string
    remoteSize?: { following: boolean }
    session: {
      state?: { resize: string }
      request(r: { type: 'resize'; width: number; height: number }): Promise<void>
    }
  }
}
declare const document: {
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null; click(): void }>
  querySelector(s: string): {
    getBoundingClientRect(): { width: number; height: number }
    videoWidth: number
    videoHeight: number
  }
}

/** The stage's size in device pixels, as the page would ask for it. */
const stageDevicePixels = (page: Page) =>
  inPage(
    page,
    () => {
      const box = document.querySelector('.stage').getBoundingClientRect()
      const r = (globalThis as unknown as { devicePixelRatio: number }).devicePixelRatio
      const even = (n: number) => Math.round(n) - (Math.round(n) % 2)
      return { width: even(box.width * r), height: even(box.height * r) }
    },
    undefined,
  )

const videoSize = (page: Page) =>
  inPage(
    page,
    () => {
      const v = document.querySelector('video')
      return { width: v.videoWidth, height: v.videoHeight }
    },
    undefined,
  )

/** The session request, answered by the host: its error code, or 'ok'. */
const askResize = (page: Page, width: number, height: number) =>
  inPage(
    page,
    ([w, h]) =>
      window.smoldesk?.session.request({ type: 'resize', width: w, height: h }).then(
        () => 'ok',
        (err: { code?: string; message?: string }) =>
          err.code === 'DISPLAY_ERROR' ? `${err.code}: ${err.message}` : (err.code ?? String(err)),
      ),
    [width, height] as const,
  )

for (const name of VIEWER_BROWSERS) {
  describe(`the remote screen fits the window: ${name}`, () => {
    let scene: Scene
    let start: HostProcess
    let client: IpcClient
    let browser: Browser
    const monitors = async () => client.invoke<CommandResult<'get_monitors'>>('get_monitors')

    before(async () => {
      // A display that is not `start`'s own: resizing waits for the host's consent.
      scene = await openScene({
        monitors: [
          { width: 1280, height: 720 },
          { width: 640, height: 480 },
        ],
        hostEnv: { SMOLDESK_LOG_LEVEL: 'info' },
        browser: name,
      })
      // All of the framebuffer the monitors may grow into.
      await scene.painter.fill({ x: 0, y: 0, width: 3840, height: 2160 }, TEAL)
      ;({ host: start, browser } = scene)
      client = await scene.client()
    })

    // A resize that went wrong shows only a size: say what the host did.
    afterEach((t) => {
      if ('passed' in t && !t.passed) {
        const lines = start
          .stderr()
          .split('\n')
          .filter((l) => /resize|own size|capture|encoder|hub|left|disconnect/.test(l))
        console.error(`${t.name} failed; host log:\n${lines.slice(-30).join('\n')}`)
      }
    })

    after(() => scene?.close())

    it('leaves a display alone until the host allows it, then gives the monitor the window size', async () => {
      const page = await browser.newPage()
      await page.setViewport({ width: 1000, height: 640, deviceScaleFactor: 1 })
      await page.goto(await printedUrl(start))
      await waitForColour(page, TEAL, 20_000)
      await eventually(async () =>
        assert.equal(
          await inPage(page, () => window.smoldesk?.session.state?.resize, undefined),
          'not-allowed',
        ),
      )
      assert.equal(await askResize(page, 900, 600), 'FORBIDDEN')
      assert.equal((await monitors())[0]?.width, 1280, 'no consent, no change')

      assert.deepEqual(await client.invoke('set_viewer_resize', { allowed: true }), { allowed: true })
      const want = await stageDevicePixels(page)
      await eventually(async () => {
        const [first, second] = await monitors()
        assert.deepEqual([first?.width, first?.height], [want.width, want.height])
        assert.deepEqual([second?.x, second?.width], [want.width, 640], 'the other monitor moved along')
      }, 15_000)
      // The stream follows: one video pixel per device pixel.
      await eventually(async () => assert.deepEqual(await videoSize(page), want), 15_000)

      // A 2× screen: twice the pixels, for sharp text.
      await page.setViewport({ width: 700, height: 500, deviceScaleFactor: 2 })
      const hidpi = await stageDevicePixels(page)
      assert.ok(hidpi.width > 1300, `device pixels at 2×: ${hidpi.width}`)
      await eventually(async () => assert.deepEqual(await videoSize(page), hidpi), 15_000)
      assert.equal((await monitors())[0]?.width, hidpi.width)

      // Leaving (the page goes elsewhere, as when its tab is closed) gives the monitor its own size back.
      await page.goto('about:blank')
      await page.close()
      await eventually(async () => {
        const [first, second] = await monitors()
        assert.deepEqual([first?.width, first?.height, second?.x], [1280, 720, 1280])
      }, 15_000)
    })

    it('refuses, clamps and coalesces what no window would ask for, and keeps the screen usable', async () => {
      const page = await browser.newPage()
      await page.setViewport({ width: 800, height: 600, deviceScaleFactor: 1 })
      await page.goto(await printedUrl(start))
      await waitForColour(page, TEAL, 20_000)
      await eventually(async () =>
        assert.equal(await inPage(page, () => window.smoldesk?.session.state?.resize, undefined), 'allowed'),
      )
      // This page stops following its own window (the toolbar's Resize remote), so the requests
      // below are the only ones the host gets.
      await inPage(
        page,
        () => {
          for (const b of Array.from(document.querySelectorAll('nav button')))
            if (b.textContent === 'Resize remote') b.click()
        },
        undefined,
      )
      await eventually(async () =>
        assert.equal(
          await inPage(page, () => window.smoldesk?.remoteSize?.following ?? false, undefined),
          false,
        ),
      )
      assert.equal(await askResize(page, 0, 0), 'INVALID_ARGS')
      // Far too big: 4K at most (within the display's Virtual size beside the other monitor).
      assert.equal(await askResize(page, 100_000, 100_000), 'ok')
      await eventually(async () => {
        const [first] = await monitors()
        assert.deepEqual(
          [first?.width, first?.height],
          [
            Math.min(MAX_RESIZE.width, MAX_VIRTUAL_WIDTH - 640),
            Math.min(MAX_RESIZE.height, MAX_VIRTUAL_HEIGHT),
          ],
        )
      }, 15_000)
      // A flood: 300 resizes at once (faster than any window drag), then the size that should win.
      const flood = await inPage(
        page,
        async () => {
          const asked: Promise<void>[] = []
          for (let i = 0; i < 300; i++)
            asked.push(
              window.smoldesk?.session.request({ type: 'resize', width: 700 + (i % 50) * 2, height: 500 }) ??
                Promise.resolve(),
            )
          asked.push(
            window.smoldesk?.session.request({ type: 'resize', width: 1024, height: 768 }) ??
              Promise.resolve(),
          )
          const results = await Promise.allSettled(asked)
          return { sent: asked.length, refused: results.filter((r) => r.status === 'rejected').length }
        },
        undefined,
      )
      assert.equal(flood.sent, 301)
      assert.equal(flood.refused, 0)
      await eventually(async () => {
        const [first] = await monitors()
        assert.deepEqual([first?.width, first?.height], [1024, 768], 'the last request wins')
      }, 15_000)
      const resized = start
        .stdout()
        .split('\n')
        .filter((l) => l.includes('monitor resized for a viewer')).length
      assert.ok(resized <= 3, `${resized} mode changes for the whole burst`)
      await waitForColour(page, TEAL, 10_000)
      await page.close()
    })

    it('never lets a view-only viewer resize', async () => {
      const { url } = await client.invoke<CommandResult<'create_viewer_token'>>('create_viewer_token', {
        role: 'view-only',
      })
      assert.ok(url)
      const watcher = await browser.newPage()
      try {
        await watcher.goto(url)
        await waitForColour(watcher, TEAL, 20_000)
        await eventually(async () =>
          assert.equal(
            await inPage(watcher, () => window.smoldesk?.session.state?.resize, undefined),
            'not-allowed',
          ),
        )
        const before = (await monitors())[0]
        assert.equal(await askResize(watcher, 900, 500), 'FORBIDDEN')
        assert.deepEqual((await monitors())[0], before)
      } finally {
        await watcher.close()
      }
    })
  })
}
