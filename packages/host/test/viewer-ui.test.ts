import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { CommandResult, EventPayload, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'playwright-core'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { launchChromium, viewerState, waitForColour } from './browser.ts'
import { eventually, type HostProcess, REPO_ROOT, startHostProcess } from './helpers.ts'
import { Painter, type Rgb } from './x11-paint.ts'

const RED: Rgb = [220, 40, 40]
const BLUE: Rgb = [40, 70, 220]
const PASSWORD = 'plum tree at noon'
/** Screenshots of the main screens: test artefacts, and the README's pictures (docs/screenshots). */
export const SCREENSHOTS = join(REPO_ROOT, 'test-artifacts/screenshots')

declare const window: {
  devicePixelRatio: number
  smoldesk?: {
    detail: string
    session: { request(r: { type: 'select-monitor'; monitor_index: number }): Promise<void> }
  }
}
declare const document: {
  querySelector(s: string): { videoWidth: number; getBoundingClientRect(): { width: number } } | null
}

/**
 * The viewer as a person uses it, in Chromium against `smoldesk start` on a
 * two-monitor Xorg desktop with a room password and host approval: the
 * landing page, the password and approval states in words, the toolbar's
 * monitor and quality switches (carried out by the host), view modes,
 * stats, a view-only viewer's locked toolbar, and disconnecting.
 */
describe('viewer page: landing, joining, toolbar', () => {
  let desktop: VirtualDesktop
  let painter: Painter
  let start: HostProcess
  let client: IpcClient
  let browser: Browser
  let closeBrowser: () => Promise<void>
  let linkUrl: string
  let viewer: Page
  const started: EventPayload<'capture-started'>[] = []

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })

  before(async () => {
    await mkdir(SCREENSHOTS, { recursive: true })
    desktop = await VirtualDesktop.start({
      monitors: [
        { width: 1280, height: 720 },
        { width: 800, height: 600 },
      ],
      withApps: false,
    })
    painter = await Painter.open(desktop.display)
    await painter.fill({ x: 0, y: 0, width: 1280, height: 720 }, RED)
    await painter.fill({ x: 1280, y: 0, width: 800, height: 600 }, BLUE)
    start = await startHostProcess('start', [
      '--display',
      desktop.display,
      '--password',
      PASSWORD,
      '--approval',
    ])
    await eventually(async () => assert.match(start.stdout(), /Open the viewer/), 15_000)
    linkUrl = /Open the viewer: +(\S+)/.exec(start.stdout())?.[1] ?? ''
    client = await start.client()
    await client.listen<EventPayload<'capture-started'>>('capture-started', (e) => started.push(e.payload))
    ;({ browser, close: closeBrowser } = await launchChromium())
  })

  after(async () => {
    client?.close()
    await closeBrowser?.()
    await start?.stop()
    painter?.close()
    await desktop?.close()
  })

  it('leads from the landing page through the password to the desktop', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(new URL('/', linkUrl).href)
    await page.getByRole('heading', { name: 'SmolDesk' }).waitFor()
    await shot(page, 'viewer-landing')
    await page.getByLabel('Room code or link').fill('not a link!')
    await page.getByRole('button', { name: 'Connect' }).click()
    await page.getByText('neither a room code nor a SmolDesk link').waitFor()
    // The whole shared link pasted in: room and token both come along.
    await page.getByLabel('Room code or link').fill(linkUrl)
    await page.getByRole('button', { name: 'Connect' }).click()
    await page.getByRole('heading', { name: 'Wrong or missing room password' }).waitFor({ timeout: 10_000 })
    assert.ok(await page.getByText('UNAUTHORIZED', { exact: true }).isVisible(), 'the coded reason is shown')
    await shot(page, 'viewer-password')
    await page.getByLabel('Room password').fill('wrong')
    await page.getByRole('button', { name: 'Join' }).click()
    await eventually(
      async () => assert.match(await page.evaluate(() => window.smoldesk?.detail ?? ''), /^UNAUTHORIZED/),
      10_000,
    )
    await page.getByLabel('Room password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Join' }).click()
    await waitForColour(page, RED, 15_000)
    viewer = page
  })

  it('shows a viewer without a token that it waits for the host, who lets it in', async () => {
    const room = new URL(linkUrl).searchParams.get('room')
    const page = await browser.newPage({ viewport: { width: 1024, height: 700 } })
    await page.goto(new URL(`/?room=${room}`, linkUrl).href)
    await page.getByLabel('Room password').fill(PASSWORD, { timeout: 10_000 })
    await page.getByRole('button', { name: 'Join' }).click()
    await page
      .getByRole('heading', { name: 'Waiting for the host to let you in…' })
      .waitFor({ timeout: 10_000 })
    await shot(page, 'viewer-waiting-for-approval')
    const pending = await eventually(async () => {
      const list = await client.invoke<CommandResult<'list_viewers'>>('list_viewers')
      const found = list.find((v) => v.state === 'pending')
      assert.ok(found)
      return found
    }, 10_000)
    await client.invoke('approve_viewer', { peerId: pending.peer_id, role: 'view-only' })
    await waitForColour(page, RED, 15_000)
    await page.getByText('View only').waitFor()
    // A watcher cannot switch what everyone sees: its toolbar says so, and the host refuses if asked anyway.
    assert.equal(await page.getByLabel('Monitor').isDisabled(), true)
    const refused = await page.evaluate(() =>
      window.smoldesk?.session.request({ type: 'select-monitor', monitor_index: 1 }).then(
        () => 'switched',
        (err: { code?: string }) => err.code,
      ),
    )
    assert.equal(refused, 'FORBIDDEN')
    await page.close()
  })

  it('switches monitor and quality from the toolbar, on the same connection', async () => {
    const page = viewer
    const before = started.length
    await page.mouse.move(600, 10) // the top edge brings the toolbar back
    await page.getByLabel('Monitor').selectOption({ index: 1 })
    await waitForColour(page, BLUE, 5000)
    await eventually(async () => assert.equal(started.at(-1)?.monitor_index, 1))
    await page.getByLabel('Quality preset').selectOption('sharp')
    await eventually(async () => {
      const last = started.at(-1)
      assert.deepEqual([last?.fps, last?.quality, last?.latency_mode], [30, 92, 'Quality'])
    })
    assert.ok(started.length >= before + 2)
    await eventually(async () => assert.equal(await page.getByLabel('Quality preset').inputValue(), 'sharp'))
    assert.equal((await viewerState(page)).pcs, 1, 'no new peer connection for either switch')
    await waitForColour(page, BLUE, 5000)
  })

  it('shows the picture 1:1 (one video pixel per device pixel), and the stats with a latency estimate', async () => {
    const page = viewer
    await page.getByLabel('View', { exact: true }).selectOption('actual')
    await eventually(async () => {
      const sizes = await page.evaluate(() => {
        const video = document.querySelector('video')
        return [video?.videoWidth, (video?.getBoundingClientRect().width ?? 0) * window.devicePixelRatio]
      })
      assert.deepEqual(sizes, [800, 800])
    })
    await page.getByRole('button', { name: 'Stats' }).click()
    const overlay = page.getByLabel('Connection statistics')
    await eventually(
      async () => assert.match((await overlay.textContent()) ?? '', /latency \(est\.\)\s*≈ \d+ ms/),
      10_000,
    )
    await shot(page, 'viewer-connected')
    // Settings survive a reload (and so a reconnect).
    await page.reload()
    await page.getByLabel('Room password').fill(PASSWORD, { timeout: 10_000 })
    await page.getByRole('button', { name: 'Join' }).click()
    await waitForColour(page, BLUE, 15_000)
    assert.equal(await page.getByLabel('View', { exact: true }).inputValue(), 'actual')
    await overlay.waitFor({ timeout: 5000 }) // the setting came back; the numbers come with the first sample
  })

  it('disconnects on request and offers to connect again', async () => {
    const page = viewer
    await page.mouse.move(600, 10)
    await page.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('heading', { name: 'You disconnected' }).waitFor()
    await page.getByRole('button', { name: 'Connect again' }).waitFor()
    await eventually(async () => {
      const list = await client.invoke<CommandResult<'list_viewers'>>('list_viewers')
      assert.equal(list.length, 0, 'the host let the viewer go')
    }, 10_000)
  })
})
