import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, type BrowserContext, chromium } from 'playwright-core'
import { CHROMIUM_ARGS } from '../bench/chromium.ts'
import type { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { close, SCREENSHOTS, toolbarHidden, videoContentBox, waitForColour } from './browser.ts'
import { eventually, type HostProcess, printedUrl, run, typingTerminal } from './helpers.ts'
import { RemoteNetwork } from './netns.ts'
import { openScene, type Scene } from './scene.ts'
import type { Painter, Rgb } from './x11-paint.ts'
import { xPointer } from './x11-state.ts'

const GREEN: Rgb = [30, 200, 60]
const ORANGE: Rgb = [240, 140, 20]
const PASSWORD = 'a long walk on the beach'

declare const window: { smoldesk?: { state: string; detail: string } }
declare const navigator: { clipboard: { writeText(text: string): Promise<void> } }
declare class DataTransfer {
  items: { add(file: unknown): void }
}
declare class File {
  constructor(parts: unknown[], name: string)
}

/** The colour in the middle of each monitor thumbnail on the control page (run in the page). */
const THUMBNAIL_COLOURS = `(async () => {
  const out = []
  for (const img of document.querySelectorAll('.monitors img')) {
    await img.decode()
    const canvas = document.createElement('canvas')
    canvas.width = img.naturalWidth
    canvas.height = img.naturalHeight
    const ctx = canvas.getContext('2d')
    ctx.drawImage(img, 0, 0)
    const d = ctx.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data
    out.push([d[0], d[1], d[2]])
  }
  return out
})()`

/**
 * The whole story, the way two people live it: the host opens its control
 * page, starts sharing, sets a password and approval, and hands out the
 * link; a viewer on another machine (a network namespace) joins with the
 * password and waits; the host approves on its page; the viewer sees the
 * desktop, switches monitor, types into a terminal, pastes, drops a file the
 * host accepts on its page; the viewer's network dies and comes back.
 */
describe('whole flow: host control page and viewer, across a network', () => {
  let net: RemoteNetwork
  let scene: Scene
  let desktop: VirtualDesktop
  let painter: Painter
  let start: HostProcess
  let hostBrowser: Browser
  let viewerBrowser: Browser
  let viewerContext: BrowserContext
  let downloads: string
  let scratch: string
  const xclip = (args: string[]) =>
    run('xclip', ['-selection', 'clipboard', ...args], {
      env: { DISPLAY: desktop.display },
      timeoutMs: 10_000,
    })

  before(async () => {
    await mkdir(SCREENSHOTS, { recursive: true })
    net = await RemoteNetwork.create()
    scratch = await mkdtemp(join(tmpdir(), 'smoldesk-flow-'))
    downloads = join(scratch, 'downloads')
    // Another machine reaches the host over HTTPS, as a deployment would: the password may then travel,
    // and the page is a secure context (the Clipboard API exists only there).
    const [cert, key] = [join(scratch, 'cert.pem'), join(scratch, 'key.pem')]
    // biome-ignore format: openssl's options in pairs
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', key, '-out', cert, '-subj', '/CN=smoldesk-host', '-addext', `subjectAltName=IP:${net.hostIp}`,
    ])
    scene = await openScene({
      monitors: [
        { width: 1280, height: 720 },
        { width: 800, height: 600 },
      ],
      colours: [GREEN, ORANGE],
      hostArgs: ['--tls-cert', cert, '--tls-key', key, '--listen', net.hostIp, '--download-dir', downloads],
      // The host's own browser, for its control page; the viewer's runs in the other namespace.
      playwright: true,
    })
    ;({ desktop, painter, host: start, playwright: hostBrowser } = scene)
    viewerBrowser = await chromium.launch({ executablePath: net.chromium, args: CHROMIUM_ARGS })
  })

  after(async () => {
    await net?.mend()
    await viewerBrowser?.close()
    await scene?.close()
    await net?.close()
    await rm(scratch, { recursive: true, force: true })
  })

  it('goes from the host page to a viewer controlling the desktop, and survives a network drop', async () => {
    // The host: its control page, from the address `smoldesk start` printed.
    const controlUrl = await printedUrl(start, 'Host control')
    const host = await hostBrowser.newPage({ viewport: { width: 1100, height: 1300 } })
    await host.goto(controlUrl)
    const says = (pattern: RegExp, timeoutMs = 10_000) =>
      eventually(
        async () => assert.match((await host.getByRole('status').textContent()) ?? '', pattern),
        timeoutMs,
      )
    await says(/Sharing monitor 1/, 15_000)
    await host.getByRole('button', { name: 'Stop sharing' }).click()
    await says(/Not sharing/)
    await host.getByRole('button', { name: 'Share monitor 1' }).click()
    await says(/Sharing monitor 1/)
    await host.getByLabel('New room password (empty: none)').fill(PASSWORD)
    await host.getByRole('button', { name: 'Set password' }).click()
    await host.getByText('Room password: set').waitFor()
    await host.getByLabel('Let viewers without a link ask to join').click() // checked once the host confirms
    await host.getByText('may ask to join').waitFor()
    await eventually(async () => {
      const thumbnails = await host.locator('.monitors img').count()
      assert.equal(thumbnails, 2, 'a live thumbnail of each monitor')
    }, 10_000)
    // Each thumbnail shows its own monitor: the middle of the picture has that monitor's colour.
    await eventually(async () => {
      const colours = (await host.evaluate(THUMBNAIL_COLOURS)) as Rgb[]
      assert.equal(colours.length, 2)
      assert.ok(close(colours[0] ?? [0, 0, 0], GREEN), `monitor 1 thumbnail: ${colours[0]}`)
      assert.ok(close(colours[1] ?? [0, 0, 0], ORANGE), `monitor 2 thumbnail: ${colours[1]}`)
    }, 10_000)
    await host.screenshot({ path: join(SCREENSHOTS, 'host-control.png'), fullPage: true })
    const shareLink = await host.getByLabel(/^Share link/).inputValue()
    assert.match(shareLink, new RegExp(`^https://${net.hostIp.replaceAll('.', '\\.')}:\\d+/\\?room=`))

    // The viewer, on the other machine: the room code only (no token), so the host must approve.
    viewerContext = await viewerBrowser.newContext({
      viewport: { width: 1280, height: 800 },
      ignoreHTTPSErrors: true, // the test's self-signed certificate
    })
    const origin = new URL(shareLink).origin
    await viewerContext.grantPermissions(['clipboard-read', 'clipboard-write'], { origin })
    const viewer = await viewerContext.newPage()
    await viewer.goto(shareLink.replace(/#.*$/, ''))
    await viewer.getByLabel('Room password').fill(PASSWORD, { timeout: 15_000 })
    await viewer.getByRole('button', { name: 'Join' }).click()
    await viewer
      .getByRole('heading', { name: 'Waiting for the host to let you in…' })
      .waitFor({ timeout: 10_000 })
    await host.getByRole('button', { name: 'Approve', exact: true }).click({ timeout: 10_000 })
    await waitForColour(viewer, GREEN, 15_000)
    await says(/1 viewer\(s\) connected/)

    // Switch monitor from the viewer's toolbar.
    await viewer.mouse.move(600, 10)
    await viewer.getByLabel('Monitor').selectOption({ index: 1 })
    await waitForColour(viewer, ORANGE, 5000)
    await says(/Sharing monitor 2/)

    // Type into a terminal on that monitor: its shell writes what it reads to a file.
    const typed = join(scratch, 'typed.txt')
    const xterm = await typingTerminal(desktop.display, '40x5+1300+20', typed)
    try {
      await toolbarHidden(viewer)
      const box = await videoContentBox(viewer)
      const s = box.width / 800
      await viewer.mouse.click(box.x + 100 * s, box.y + 40 * s) // on the terminal (monitor 2 at +20,+20)
      await viewer.keyboard.type('hello from the viewer')
      await viewer.keyboard.press('Enter')
      await eventually(
        async () => assert.equal(await readFile(typed, 'utf8').catch(() => ''), 'hello from the viewer\n'),
        10_000,
      )
    } finally {
      xterm.kill()
    }

    // Copy in the browser, paste on the host: the X clipboard has it.
    const text = `copied on the viewer ${randomBytes(4).toString('hex')}`
    await viewer.evaluate((t) => navigator.clipboard.writeText(t), text)
    await viewer.mouse.move(600, 10)
    await viewer.getByRole('button', { name: 'Send my clipboard' }).click()
    await eventually(async () => assert.equal((await xclip(['-o'])).stdout.toString('utf8'), text), 10_000)

    // Drop a file on the viewer; the host accepts it on its page.
    const bytes = randomBytes(3 * 1024 * 1024)
    const dataTransfer = await viewer.evaluateHandle((b64) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
      const dt = new DataTransfer()
      dt.items.add(new File([data], 'notes.bin'))
      return dt
    }, bytes.toString('base64'))
    await viewer.dispatchEvent('main', 'drop', { dataTransfer })
    const row = host.locator('.transfers li', { hasText: 'notes.bin' })
    await row.getByRole('button', { name: 'Accept' }).click({ timeout: 10_000 })
    await eventually(async () => assert.match((await row.textContent()) ?? '', /completed/), 15_000)
    const saved = await readFile(join(downloads, 'notes.bin'))
    assert.equal(sha(saved), sha(bytes))
    assert.deepEqual(await readdir(downloads), ['notes.bin'], 'no temporary file left')
    await viewer.screenshot({ path: join(SCREENSHOTS, 'viewer-flow.png') })

    // The viewer turns its input off: its pointer no longer moves the host's.
    const x = await X11Connection.open(desktop.display)
    try {
      await viewer.mouse.move(600, 10)
      await viewer.getByRole('button', { name: 'Input on' }).click()
      const before = await xPointer(x)
      const area = await videoContentBox(viewer)
      await viewer.mouse.move(area.x + area.width * 0.8, area.y + area.height * 0.8, { steps: 5 })
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepEqual(await xPointer(x).then((p) => [p.rootX, p.rootY]), [before.rootX, before.rootY])
      await viewer.mouse.move(600, 10)
      await viewer.getByRole('button', { name: 'Input off' }).click()
    } finally {
      x.close()
    }

    // The host demotes the viewer on its page and promotes it again: the viewer's page follows.
    await host.getByRole('button', { name: 'Make view only' }).click()
    await viewer.getByText('View only', { exact: true }).waitFor({ timeout: 10_000 })
    await host.getByRole('button', { name: 'Give control' }).click()
    await viewer.getByText('View only', { exact: true }).waitFor({ state: 'detached', timeout: 10_000 })

    // The host page's other parts: the QR code, the log, and its own signing key.
    assert.ok(await host.getByRole('img', { name: 'QR code of the share link' }).isVisible())
    assert.ok((await host.locator('.log li').count()) > 0, 'recent log lines')
    await host.getByLabel('Signing key (at least 32 characters)').fill('short')
    await host.getByRole('button', { name: 'Set signing key' }).click()
    await host.getByText('SECURITY_KEY_TOO_SHORT', { exact: false }).waitFor()
    await host.getByLabel('Signing key (at least 32 characters)').fill(randomBytes(24).toString('hex'))
    await host.getByRole('button', { name: 'Set signing key' }).click()
    await host.getByText('Signing key: yours').waitFor({ timeout: 10_000 })
    await eventually(async () =>
      assert.notEqual(
        await host.getByLabel(/^Share link/).inputValue(),
        shareLink,
        'a link signed with the new key',
      ),
    )

    // The viewer's network dies (every packet, both ways) and comes back.
    await net.cut()
    await painter.fill({ x: 1280, y: 0, width: 800, height: 600 }, GREEN)
    await eventually(
      async () => assert.equal(await viewer.evaluate(() => window.smoldesk?.state), 'reconnecting'),
      20_000,
    )
    await viewer.screenshot({ path: join(SCREENSHOTS, 'viewer-reconnecting.png') })
    await net.mend()
    const mended = performance.now()
    await waitForColour(viewer, GREEN, 20_000)
    console.log(`flow: picture back ${(performance.now() - mended).toFixed(0)} ms after the network`)

    // Finally the host shows the viewer the door.
    await eventually(async () =>
      assert.equal(await viewer.evaluate(() => window.smoldesk?.state), 'connected'),
    )
    await says(/1 viewer\(s\) connected/)
    // The row of the viewer that is connected now ("disconnected" would match a bare 'connected': a
    // row the viewer left behind, if its signaling had to join afresh after the drop).
    await host
      .locator('.viewers li', { hasText: /· connected ·/ })
      .getByRole('button', { name: 'Kick' })
      .click()
    await viewer
      .getByRole('heading', { name: 'The host removed you from the session' })
      .waitFor({ timeout: 10_000 })
      .catch(async (err: unknown) => {
        const rows = await host.locator('.viewers li').allTextContents()
        const state = await viewer.evaluate(() => `${window.smoldesk?.state}: ${window.smoldesk?.detail}`)
        throw new Error(
          `the viewer was not told it was removed (${String(err)}); host's viewers: ${JSON.stringify(rows)}; viewer: ${state}`,
        )
      })
    await says(/0 viewer\(s\) connected/)
  })
})

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}
