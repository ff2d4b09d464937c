import assert from 'node:assert/strict'
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CommandResult, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'puppeteer-core'
import { GnomeDesktop } from '../src/display/embedded/gnome-desktop.ts'
import { MUTTER_HELPER, MutterSession } from '../src/display/gnome/mutter-session.ts'
import { waitForColour } from './browser.ts'
import { launchViewerBrowser } from './browsers.ts'
import {
  eventually,
  type HostProcess,
  printedUrl,
  run,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'
import { clickVideoCentre, pictureBackAfterKill, TerminalProbe, typeWithViewerLayout } from './wayland.ts'
import type { Rgb } from './x11-paint.ts'

const GREEN: Rgb = [30, 200, 60]
const BLUE: Rgb = [40, 90, 220]
const WIDTH = 1280
const HEIGHT = 720
const BTN_LEFT = 272

/**
 * Where xdg-desktop-portal-gnome 43 (Debian 12) puts what its share dialog
 * offers, centred on a 1280x720 monitor (read off its screenshot): the
 * header's Share and Cancel, the screen-cast dialog's monitor row, and the
 * remote-desktop dialog's "Allow remote interaction" switch.
 */
const DIALOG = {
  share: [852, 232],
  cancel: [430, 232],
  monitorRow: [640, 385],
  allowInput: [829, 432],
  /** Two points inside the dialog's light body (the desktop behind it is dark or coloured). */
  body: [
    [400, 400],
    [880, 490],
  ],
} as const

/**
 * The person at the GNOME desktop, answering the portal's share dialog:
 * they see the monitor (one raw frame of it) and click with a mouse of
 * their own (mutter's RemoteDesktop API, not the portal's session).
 */
class DesktopUser {
  readonly #session: GnomeDesktop['session']

  constructor(session: GnomeDesktop['session']) {
    this.#session = session
  }

  /** Whether the portal's dialog is on the screen. */
  async dialogShown(): Promise<boolean> {
    // biome-ignore format: one element per line
    const gst = ['gst-launch-1.0', '-q', 'pipewiresrc', 'path=@NODE@', 'num-buffers=1', 'always-copy=true', '!',
      'videoconvert', '!', 'video/x-raw,format=RGB', '!', 'fdsink', 'fd=1']
    const frame = await run(MUTTER_HELPER, ['cast', 'Meta-0', '--', ...gst], {
      env: { ...process.env, ...this.#session },
    })
    if (frame.stdout.length < WIDTH * HEIGHT * 3) return false
    return DIALOG.body.every(([x, y]) => {
      const at = (y * WIDTH + x) * 3
      return [0, 1, 2].every((c) => (frame.stdout[at + c] ?? 0) > 200)
    })
  }

  async waitForDialog(): Promise<void> {
    await eventually(async () => assert.ok(await this.dialogShown(), 'the share dialog is shown'), 20_000)
  }

  async click(...points: (readonly [number, number])[]): Promise<void> {
    const mouse = await MutterSession.open({ ...this.#session }, 1)
    try {
      await mouse.startInput(await mouse.monitors())
      for (const [x, y] of points) {
        mouse.send(`M ${x} ${y}`)
        await sleep(300)
        mouse.send(`B ${BTN_LEFT} 1`)
        mouse.send(`B ${BTN_LEFT} 0`)
        await mouse.sync()
        await sleep(500)
      }
    } finally {
      mouse.close()
    }
  }
}

/**
 * A headless GNOME shared through the desktop portal (xdg-desktop-portal
 * with its GNOME backend), as SmolDesk shares KDE and any desktop that
 * does not let it in by itself: the desktop asks its user, SmolDesk waits
 * for their answer; a no is a coded error in words; a yes to "screen and
 * input" gives the picture, a click and typed text (the portal's
 * RemoteDesktop), and the picture again after the encoder is killed; a
 * yes to "the screen, remembered" is kept as a restore token (mode 0600)
 * and the next start shares without asking. Nothing is left running.
 */
describe('sharing a GNOME desktop through the desktop portal', () => {
  let gnome: GnomeDesktop
  let probe: TerminalProbe
  let user: DesktopUser
  let browser: Browser
  const hosts: HostProcess[] = []
  const clients: IpcClient[] = []

  async function startHost(
    mode: 'control' | 'view',
    stateDir?: string,
  ): Promise<{ start: HostProcess; client: IpcClient }> {
    const start = await startHostProcess('start', [], {
      DISPLAY: undefined,
      ...gnome.session,
      XDG_CURRENT_DESKTOP: 'GNOME',
      SMOLDESK_PORTAL: mode,
      ...(stateDir && { SMOLDESK_STATE_DIR: stateDir }),
    })
    hosts.push(start)
    const client = await start.client()
    clients.push(client)
    return { start, client }
  }

  async function stopHost(start: HostProcess, client: IpcClient): Promise<void> {
    client.close()
    await start.stop()
    assert.deepEqual(await waitForNoProcesses(start.tag), [], 'nothing of the host is left')
    await eventually(async () => assert.equal(await user.dialogShown(), false, 'no dialog left'), 10_000)
  }

  async function view(start: HostProcess): Promise<Page> {
    const page = await browser.newPage()
    await page.setViewport({ width: 1280, height: 800 })
    await page.goto(await printedUrl(start))
    return page
  }

  before(async () => {
    gnome = await GnomeDesktop.start({ monitors: [{ width: WIDTH, height: HEIGHT }], withApps: false })
    probe = await TerminalProbe.open(gnome.clientEnv(), GREEN)
    user = new DesktopUser(gnome.session)
    browser = await launchViewerBrowser('chromium')
  })

  after(async () => {
    for (const client of clients) client.close()
    await browser?.close()
    for (const start of hosts) await start.stop()
    await probe?.close()
    await gnome?.close()
  })

  it("says in words, with a code, that the desktop's user declined", async () => {
    const { start, client } = await startHost('control')
    // `start` shares the first monitor at once: the desktop asks its user first.
    await user.waitForDialog()
    await user.click(DIALOG.cancel)
    await printedUrl(start)
    assert.match(start.stdout(), /answer its dialog on the desktop/)
    assert.match(
      start.stdout(),
      /Sharing: +nothing yet \(SHARE_DECLINED: the desktop portal: the desktop's user did not allow sharing/,
    )
    // The host runs on, and the next use asks again.
    const asked = client.invoke('get_monitors').then(
      () => undefined,
      (err: unknown) => err as { code?: string; message?: string },
    )
    await user.waitForDialog()
    await user.click(DIALOG.cancel)
    const err = await asked
    assert.equal(err?.code, 'SHARE_DECLINED', String(err?.message))
    assert.equal(await client.invoke('get_display_server'), 'Wayland')
    await stopHost(start, client)
  })

  it('shares the screen, a click and typed text once the user allows screen and input', async () => {
    const { start, client } = await startHost('control')
    await user.waitForDialog()
    await user.click(DIALOG.allowInput, DIALOG.share)
    const page = await view(start)
    await waitForColour(page, GREEN, 20_000)
    const status = await client.invoke<CommandResult<'get_host_status'>>('get_host_status')
    assert.match(status.backend, /desktop portal .*screen and input/)
    const monitors = await client.invoke<CommandResult<'get_monitors'>>('get_monitors')
    assert.deepEqual(
      monitors.map((m) => [m.name, m.x, m.y, m.width, m.height]),
      [['screen-1', 0, 0, WIDTH, HEIGHT]],
    )
    await assert.rejects(client.invoke('get_clipboard_text'), { code: 'UNSUPPORTED_ON_BACKEND' })

    const back = await pictureBackAfterKill(
      start,
      page,
      ['smoldesk-pw-grab', 'smoldesk-pw-grab-vp8', 'gst-launch-1.0'],
      () => probe.setColour(BLUE),
      BLUE,
    )
    console.log(`portal: encoder killed, picture back after ${back.toFixed(0)} ms`)
    assert.ok(back < 2000, `${back.toFixed(0)} ms`)

    await clickVideoCentre(page)
    await eventually(async () => assert.deepEqual(await probe.buttonsPressed(), [0], 'a left click'), 10_000)
    await page.keyboard.type('hi portal')
    // A character typed by the viewer's layout: GNOME finds its key in the desktop's (US) layout.
    await typeWithViewerLayout(page, [['Digit4', '€']])
    await eventually(async () => assert.equal(await probe.typed(), 'hi portal€'), 10_000)
    await page.close()
    await stopHost(start, client)
  })

  it('remembers a screen-only grant, so the next start shares without asking', async () => {
    await probe.setColour(GREEN)
    const first = await startHost('view')
    await user.waitForDialog()
    await user.click(DIALOG.monitorRow, DIALOG.share)
    const page = await view(first.start)
    await waitForColour(page, GREEN, 20_000)
    const tokenFile = join(first.start.stateDir, 'portal-restore-token')
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600, 'the token is for this user only')
    const token = await readFile(tokenFile, 'utf8')
    assert.match(token, /^[\w-]+\n$/)
    await assert.rejects(
      first.client.invoke('send_input_event', { event: { event_type: 'MouseMove', x: 10, y: 10 } }),
      { code: 'UNSUPPORTED_ON_BACKEND' },
    )
    await page.close()
    await stopHost(first.start, first.client)

    // What the state dir keeps between two runs of the same user.
    const kept = await mkdtemp(join(tmpdir(), 'smoldesk-state-'))
    await writeFile(join(kept, 'portal-restore-token'), token, { mode: 0o600 })
    const second = await startHost('view', kept)
    const again = await view(second.start)
    // Nobody clicks: the picture comes, and the dialog never shows.
    await waitForColour(again, GREEN, 20_000)
    assert.equal(await user.dialogShown(), false)
    await again.close()
    await stopHost(second.start, second.client)
  })
})
