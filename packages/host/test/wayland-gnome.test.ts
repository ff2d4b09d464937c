import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CommandResult, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'puppeteer-core'
import { GnomeDesktop } from '../src/display/embedded/gnome-desktop.ts'
import { GnomeBackend } from '../src/display/gnome/gnome-backend.ts'
import { MutterSession } from '../src/display/gnome/mutter-session.ts'
import { evdevCode } from '../src/display/wlroots/wl-keymap.ts'
import { clickButton, copyCanvasImage, inPage, viewerState } from './browser.ts'
import { launchViewerBrowser } from './browsers.ts'
import {
  eventually,
  type HostProcess,
  run,
  solidPng,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'
import { pausedForOtherCodecs } from './paused-encoder.ts'
import { assertSourceShrinks, HELPER_CODECS } from './smaller-picture.ts'
import {
  clickVideoCentre,
  clipboardBothWays,
  pictureBackAfterKill,
  TerminalProbe,
  typeWithViewerLayout,
  viewAndSwitchMonitor,
} from './wayland.ts'
import type { Rgb } from './x11-paint.ts'

const GREEN: Rgb = [30, 200, 60]
const ORANGE: Rgb = [240, 140, 20]
const BLUE: Rgb = [40, 90, 220]

declare const document: { querySelector(s: string): unknown }
declare const window: {
  smoldesk?: { clipboard: { remote?: { content: { kind: string; png?: Uint8Array } } } }
}
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

/** mutter's own shortcut for "move the window to the monitor on the right" (Super+Shift+Right). */
async function moveFocusedWindowRight(session: GnomeDesktop['session']): Promise<void> {
  const keys = await MutterSession.open({ ...session }, 1)
  try {
    await keys.startInput(await keys.monitors())
    const combo = ['MetaLeft', 'ShiftLeft', 'ArrowRight'].map((code) => evdevCode(code) ?? 0)
    for (const key of combo) keys.send(`K ${key} 1`)
    for (const key of combo.reverse()) keys.send(`K ${key} 0`)
    await keys.sync()
    await sleep(500)
  } finally {
    keys.close()
  }
}

/** Lays mutter's monitors out anew, left to right at the given x (what GNOME's display settings do). */
async function applyLayout(
  session: GnomeDesktop['session'],
  layout: readonly (readonly [string, number, boolean])[],
): Promise<void> {
  const env = { ...process.env, ...session }
  const call = (method: string, ...args: string[]) =>
    run(
      'gdbus',
      [
        'call',
        '--session',
        '-d',
        DISPLAY_CONFIG,
        '-o',
        DISPLAY_CONFIG_PATH,
        '-m',
        `${DISPLAY_CONFIG}.${method}`,
        ...args,
      ],
      { env },
    )
  const state = (await call('GetCurrentState')).stdout.toString()
  const serial = /^\(uint32 (\d+)/.exec(state)?.[1]
  assert.ok(serial, state)
  // Each connector's current mode id, from its ('id', w, h, hz, scale, [scales], {'is-current': <true>}) entry.
  const current = (connector: string) => {
    const at = state.indexOf(`('${connector}',`)
    return /\('([^']+)', \d+, \d+, [\d.]+, [\d.]+, \[[^\]]*\], \{[^}]*'is-current': <true>/.exec(
      state.slice(at),
    )?.[1]
  }
  const monitors = layout.map(
    ([connector, x, primary]) =>
      `(${x}, 0, 1.0, 0, ${primary}, [('${connector}', '${current(connector)}', @a{sv} {})])`,
  )
  const applied = await call('ApplyMonitorsConfig', serial, '1', `[${monitors.join(', ')}]`, '@a{sv} {}')
  assert.equal(applied.code, 0, applied.stderr)
}

const DISPLAY_CONFIG = 'org.gnome.Mutter.DisplayConfig'
const DISPLAY_CONFIG_PATH = '/org/gnome/Mutter/DisplayConfig'

/**
 * A headless GNOME (mutter, with its own session bus, PipeWire and
 * WirePlumber) with two monitors of different sizes, shared by the real
 * `smoldesk start`, which finds GNOME from the session's environment as on
 * a user's own GNOME: the monitors, the colour of the one asked for, a
 * switch without reconnecting, the clipboard both ways, the picture back
 * after the encoder is killed, a click and typed text (a non-ASCII
 * character too) in a Wayland client, and nothing left running afterwards.
 * Each monitor holds a full-screen terminal of one colour that records the
 * input it gets.
 */
for (const name of ['chromium', 'firefox'] as const) {
  describe(`sharing a GNOME desktop, viewed in ${name}`, () => {
    let gnome: GnomeDesktop
    let left: TerminalProbe
    let right: TerminalProbe
    let start: HostProcess
    let client: IpcClient
    let browser: Browser
    let page: Page
    const env = () => gnome.clientEnv()

    before(async () => {
      gnome = await GnomeDesktop.start({
        monitors: [
          { width: 1280, height: 720 },
          { width: 800, height: 600 },
        ],
        withApps: false,
      })
      // mutter opens windows on the primary monitor: the orange one is moved right, the green one stays.
      right = await TerminalProbe.open(env(), ORANGE)
      await sleep(1000)
      await moveFocusedWindowRight(gnome.session)
      left = await TerminalProbe.open(env(), GREEN)
      start = await startHostProcess('start', [], {
        DISPLAY: undefined,
        ...gnome.session,
        XDG_CURRENT_DESKTOP: 'GNOME',
      })
      client = await start.client()
      browser = await launchViewerBrowser(name)
    })

    after(async () => {
      client?.close()
      await browser?.close()
      await start?.stop()
      await left?.close()
      await right?.close()
      await gnome?.close()
    })

    it('lists the monitors and says it shares Wayland through GNOME', async () => {
      assert.equal(await client.invoke('get_display_server'), 'Wayland')
      const monitors = await client.invoke<CommandResult<'get_monitors'>>('get_monitors')
      assert.deepEqual(
        monitors.map((m) => [m.name, m.x, m.y, m.width, m.height, m.is_primary]),
        [
          ['Meta-0', 0, 0, 1280, 720, true],
          ['Meta-1', 1280, 0, 800, 600, false],
        ],
      )
      const status = await client.invoke<CommandResult<'get_host_status'>>('get_host_status')
      assert.match(status.backend, /^GNOME \(mutter/)
      const thumb = await client.invoke<CommandResult<'get_monitor_thumbnail'>>('get_monitor_thumbnail', {
        monitorIndex: 1,
        width: 200,
      })
      assert.equal(Buffer.from(thumb.data, 'base64').readUInt16BE(0), 0xffd8, 'a JPEG of the monitor')
    })

    it('shows the monitor asked for, and switches monitor on the same connection', async () => {
      page = await viewAndSwitchMonitor(start, browser, GREEN, ORANGE)
    })

    it('shares the clipboard both ways', async () => {
      await clipboardBothWays(page, env(), `GNOME for ${name}`)
    })

    it('shares a copied PNG image both ways', async () => {
      // Copied on the desktop: the page gets the very bytes.
      const file = join(tmpdir(), `smoldesk-gnome-${name}-${process.pid}.png`)
      const image = await solidPng(file, '0x14a0a0', 48, 32)
      await rm(file, { force: true })
      assert.equal((await run('wl-copy', ['--type', 'image/png'], { env: env(), input: image })).code, 0)
      await eventually(async () => {
        const png = await inPage(
          page,
          () => {
            const got = window.smoldesk?.clipboard.remote?.content
            return got?.kind === 'image' ? Array.from(got.png ?? []) : undefined
          },
          undefined,
        )
        assert.ok(png, 'an image arrived')
        assert.equal(sha(Uint8Array.from(png)), sha(image))
      }, 10_000)
      if (name === 'firefox') return // headless Firefox's own clipboard holds text only (see viewer-browsers)
      // Copied in the page (a canvas): the desktop gets a 40x20 PNG (browsers re-encode clipboard images).
      await copyCanvasImage(page, [200, 30, 90], 40, 20)
      await clickButton(page, 'nav', 'Send my clipboard')
      await eventually(async () => {
        const pasted = (await run('wl-paste', ['--type', 'image/png'], { env: env() })).stdout
        assert.equal(pasted.subarray(1, 4).toString(), 'PNG')
        assert.deepEqual([pasted.readUInt32BE(16), pasted.readUInt32BE(20)], [40, 20], 'IHDR width, height')
      }, 10_000)
    })

    // Before the click: the pointer, drawn into the picture, then sits where the colour is read.
    it('brings the picture back within 2 s after the encoder is killed, on the same connection', async () => {
      const back = await pictureBackAfterKill(
        start,
        page,
        // SmolDesk's consumer for either browser: H.264 (Chromium) and VP8 (Firefox).
        ['smoldesk-pw-grab', 'smoldesk-pw-grab-vp8'],
        () => right.setColour(BLUE),
        BLUE,
      )
      console.log(`GNOME (${name}): encoder killed, picture back after ${back.toFixed(0)} ms`)
      assert.ok(back < 2000, `${back.toFixed(0)} ms`)
    })

    if (name === 'firefox')
      it('converts and encodes nothing for H.264 while Firefox alone watches, and shows a Chromium that comes the monitor as it is now', async () => {
        // mutter still sends the paused consumer each picture: it keeps the newest, as it came, and
        // orange at the end is that one (before the pause it showed blue). The consumers
        // themselves are picked, not the smoldesk-mutter processes that open their casts.
        await pausedForOtherCodecs(start, page, {
          label: 'GNOME',
          h264: /^\S*\/smoldesk-pw-grab /,
          vp8: /^\S*\/smoldesk-pw-grab-vp8 /,
          paint: async (colour) => {
            await left.setColour(colour)
            await right.setColour(colour)
          },
          colours: [GREEN, ORANGE, GREEN, ORANGE, GREEN, ORANGE, GREEN, ORANGE],
        })
      })

    it('brings a click and typed text, non-ASCII included, to a Wayland client', async () => {
      await clickVideoCentre(page)
      await eventually(
        async () => assert.deepEqual(await right.buttonsPressed(), [0], 'a left click'),
        10_000,
      )
      await page.keyboard.type('hi gnome')
      // A character typed by the viewer's layout: mutter finds its key in the desktop's (US) layout.
      await typeWithViewerLayout(page, [['Digit4', '€']])
      await eventually(async () => assert.equal(await right.typed(), 'hi gnome€'), 10_000)
    })

    it('follows a layout change made on the desktop (DisplayConfig), on the same connection', async () => {
      const pcs = (await viewerState(page)).pcs
      // The two monitors swap places: what was the second monitor is now the first.
      await applyLayout(gnome.session, [
        ['Meta-1', 0, true],
        ['Meta-0', 800, false],
      ])
      await eventually(async () => {
        const monitors = await client.invoke<CommandResult<'get_monitors'>>('get_monitors')
        assert.deepEqual(
          monitors.map((m) => [m.name, m.x, m.width]),
          [
            ['Meta-1', 0, 800],
            ['Meta-0', 800, 1280],
          ],
        )
      }, 10_000)
      // The viewer watched monitor 1, 800x600 before: that is now the 1280x720 one (mutter keeps
      // windows where they were in the layout, so which colour it shows is mutter's choice).
      await eventually(async () => {
        const width = await inPage(
          page,
          () => (document.querySelector('video') as { videoWidth: number }).videoWidth,
          undefined,
        )
        assert.equal(width, 1280)
      }, 10_000)
      assert.equal((await viewerState(page)).pcs, pcs, 'no reconnect')
    })

    it('leaves no process behind when it stops', async () => {
      await start.stop()
      assert.deepEqual(await waitForNoProcesses(start.tag), [])
    })
  })
}

for (const helper of HELPER_CODECS) {
  describe(`the PipeWire capture helper on GNOME: a smaller picture when asked (${helper[0]})`, () => {
    it('encodes 1/2 of the monitor from a keyframe on, keeps showing changes, and the whole monitor again', async () => {
      const gnome = await GnomeDesktop.start({ monitors: [{ width: 640, height: 480 }], withApps: false })
      const backend = new GnomeBackend({ env: gnome.session, clipboardMaxBytes: 1 << 20 })
      let probe: TerminalProbe | undefined
      try {
        const terminal = await TerminalProbe.open(gnome.clientEnv(), BLUE)
        probe = terminal
        const [monitor] = await backend.monitors()
        assert.ok(monitor, 'a monitor')
        await assertSourceShrinks(
          backend.captureSource(),
          monitor.name,
          helper,
          { program: 'smoldesk-pw-grab', env: gnome.clientEnv() },
          BLUE,
          (colour) => terminal.setColour(colour),
          ORANGE,
        )
      } finally {
        await probe?.close()
        await backend.close()
        await gnome.close()
      }
    })
  })
}
