import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CommandResult, type EventPayload, type IpcClient, MOTION_CHANNEL } from '@smoldesk/protocol'
import type { Browser, Page } from 'playwright-core'
import type { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { SCREENSHOTS, silenceChannel, videoContentBox, viewerState, waitForColour } from './browser.ts'
import { eventually, run } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'
import { recordInput, xPointer } from './x11-state.ts'

/*
 * Size (over 350 lines): one suite, the viewer page, on one scene set up once (it
 * costs seconds); each case is a flow a user would notice, and splitting the
 * file would set the scene up again for each part.
 */

const RED: Rgb = [220, 40, 40]
const BLUE: Rgb = [40, 70, 220]
const PASSWORD = 'plum tree at noon'

declare const window: {
  devicePixelRatio: number
  smoldesk?: {
    detail: string
    state: string
    connection: { restartMedia(): void }
    session: {
      state?: { rejoin_token?: string }
      request(r: { type: 'select-monitor'; monitor_index: number }): Promise<void>
    }
  }
}
declare const document: {
  querySelector(
    s: string,
  ): { videoWidth: number; getBoundingClientRect(): { width: number }; style: { transform: string } } | null
}

/** Brings the auto-hidden toolbar back as a user does: the pointer near the top edge. */
async function revealToolbar(page: Page): Promise<void> {
  await page.mouse.move(200, 5)
  await eventually(async () =>
    assert.equal(await page.evaluate("document.querySelector('nav.toolbar.toolbar-hidden') === null"), true),
  )
}

/** Where keyboard focus is, and whether it shows (run in the page). */
const A11Y_FOCUS = `(() => {
  const el = document.activeElement
  const bar = el && el.closest('.toolbar')
  return {
    inToolbar: Boolean(bar),
    toolbarShown: Boolean(bar) && !bar.classList.contains('toolbar-hidden'),
    outline: el ? getComputedStyle(el).outlineStyle : 'none',
  }
})()`

/**
 * Every control has a name a screen reader can say, and every visible text
 * has a contrast of at least 4.5:1 against what is behind it (WCAG AA).
 * Returns what is wrong, in words (run in the page).
 */
const A11Y_AUDIT = `(() => {
  const problems = []
  let controls = 0
  let texts = 0
  for (const el of document.querySelectorAll('button, select, input, textarea')) {
    controls++
    const labelled = el.getAttribute('aria-label') || (el.labels && el.labels.length > 0) || el.textContent.trim()
    if (!labelled) problems.push('no name: ' + el.outerHTML.slice(0, 80))
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number)
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 }
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
  }
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor)
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c
    }
    return [17, 17, 17]
  }
  for (const el of document.querySelectorAll('button, select, label, p, h1, h2, dt, dd, span')) {
    if (!el.textContent.trim() || el.getClientRects().length === 0) continue
    if (el.closest('.toolbar-hidden')) continue
    texts++
    const fg = lum(rgb(getComputedStyle(el).color))
    const bg = lum(background(el))
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)
    if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ': ' + el.textContent.trim().slice(0, 40))
  }
  return { controls, texts, problems }
})()`

/**
 * The viewer as a person uses it, in Chromium against `smoldesk start` on a
 * two-monitor Xorg desktop with a room password and host approval: the
 * landing page, the password and approval states in words, the toolbar's
 * monitor and quality switches (carried out by the host), view modes,
 * stats, a view-only viewer's locked toolbar, and disconnecting.
 */
describe('viewer page: landing, joining, toolbar', () => {
  let scene: Scene
  let desktop: VirtualDesktop
  let client: IpcClient
  let browser: Browser
  let linkUrl: string
  let viewer: Page
  const started: EventPayload<'capture-started'>[] = []

  /** The viewer waiting for the host's approval (waits until there is one). */
  const pendingViewer = () =>
    eventually(async () => {
      const list = await client.invoke<CommandResult<'list_viewers'>>('list_viewers')
      const found = list.find((v) => v.state === 'pending')
      assert.ok(found, 'nobody waits for approval')
      return found
    }, 10_000)
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })

  before(async () => {
    await mkdir(SCREENSHOTS, { recursive: true })
    scene = await openScene({
      monitors: [
        { width: 1280, height: 720 },
        { width: 800, height: 600 },
      ],
      colours: [RED, BLUE],
      hostArgs: ['--password', PASSWORD, '--approval'],
      playwright: true,
    })
    ;({ desktop, playwright: browser } = scene)
    linkUrl = await scene.url()
    client = await scene.client()
    await client.listen<EventPayload<'capture-started'>>('capture-started', (e) => started.push(e.payload))
  })
  after(() => scene?.close())

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
    const pending = await pendingViewer()
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
    // After a drop the page joins again with the token the host gave it: no second approval.
    const asked = (await client.invoke<CommandResult<'list_viewers'>>('list_viewers')).length
    const restarted = performance.now()
    await page.evaluate(() => window.smoldesk?.connection.restartMedia())
    await eventually(
      async () => assert.equal(await page.evaluate(() => window.smoldesk?.state), 'connected'),
      15_000,
    )
    await waitForColour(page, RED, 10_000)
    console.log(
      `rejoin: picture back ${(performance.now() - restarted).toFixed(0)} ms after asking for new media`,
    )
    const after = await client.invoke<CommandResult<'list_viewers'>>('list_viewers')
    assert.equal(after.length, asked)
    assert.ok(
      after.every((v) => v.state !== 'pending'),
      'nobody waits for approval',
    )
    assert.ok(
      after.some((v) => v.role === 'view-only' && v.state === 'connected'),
      'back with its role',
    )
    // Kicked is out: the rejoin token it holds no longer admits it (in this approval room it may
    // only ask again, and the host decides).
    const rejoin = await page.evaluate(() => window.smoldesk?.session.state?.rejoin_token ?? '')
    assert.ok(rejoin)
    const me = after.find((v) => v.role === 'view-only')
    await client.invoke('kick_viewer', { peerId: me?.peer_id ?? '' })
    await page
      .getByRole('heading', { name: 'The host removed you from the session' })
      .waitFor({ timeout: 10_000 })
    await page.close()
    const again = await browser.newPage()
    await again.goto(new URL(`/?room=${room}#token=${rejoin}`, linkUrl).href)
    await again.getByLabel('Room password').fill(PASSWORD, { timeout: 10_000 })
    await again.getByRole('button', { name: 'Join' }).click()
    await again
      .getByRole('heading', { name: 'Waiting for the host to let you in…' })
      .waitFor({ timeout: 10_000 })
    const askedAgain = await pendingViewer() // the revoked token did not let it in: it waits for approval
    await client.invoke('deny_viewer', { peerId: askedAgain.peer_id })
    await again.close()
  })

  it('says in words, with the code, when the host is offline or turns the viewer away', async () => {
    const page = await browser.newPage()
    await page.goto(new URL('/?room=NOSUCHROOM', linkUrl).href)
    await page
      .getByRole('heading', { name: 'The host is offline (no such room)' })
      .waitFor({ timeout: 10_000 })
    await page.getByText('ROOM_NOT_FOUND', { exact: true }).waitFor()
    const room = new URL(linkUrl).searchParams.get('room')
    await page.goto(new URL(`/?room=${room}`, linkUrl).href)
    await page.getByLabel('Room password').fill(PASSWORD, { timeout: 10_000 })
    await page.getByRole('button', { name: 'Join' }).click()
    const pending = await pendingViewer()
    await client.invoke('deny_viewer', { peerId: pending.peer_id })
    await page.getByRole('heading', { name: 'The host did not let you in' }).waitFor({ timeout: 10_000 })
    await page.getByText('JOIN_DENIED', { exact: true }).waitFor()
    await shot(page, 'viewer-denied')
    // Relay only, and this host offers no TURN server: nothing to connect with, said at once.
    await page.goto(`${linkUrl.replace('#', '&relay=1#')}`)
    await page.getByLabel('Room password').fill(PASSWORD, { timeout: 10_000 })
    await page.getByRole('button', { name: 'Join' }).click()
    await page.getByRole('heading', { name: 'No network path to the host' }).waitFor({ timeout: 15_000 })
    await page.getByText(/relay \(TURN\) server is unreachable/).waitFor()
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
    // The toolbar may have hidden meanwhile (a slow machine): the pointer at the top brings it back.
    await revealToolbar(page)
    await page.getByRole('button', { name: 'Fullscreen' }).click()
    await eventually(async () =>
      assert.equal(await page.evaluate('Boolean(document.fullscreenElement)'), true),
    )
    await page.evaluate('document.exitFullscreen()')
    await revealToolbar(page)
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

  it('is usable from the keyboard: labelled controls, a visible focus ring, readable contrast', async () => {
    const page = viewer
    // Keys go to the remote while it has focus (Tab too); Ctrl+Alt+Shift brings focus back to the controls.
    const box = await videoContentBox(page)
    await page.mouse.click(box.x + 30, box.y + 30) // off-centre: the host's cursor must not cover the probe point later
    await page.keyboard.down('Control')
    await page.keyboard.down('Alt')
    await page.keyboard.down('Shift')
    await page.keyboard.up('Shift')
    await page.keyboard.up('Alt')
    await page.keyboard.up('Control')
    await page.keyboard.press('Tab') // and on through the controls with Tab
    await eventually(async () => {
      const focus = (await page.evaluate(A11Y_FOCUS)) as {
        inToolbar: boolean
        toolbarShown: boolean
        outline: string
      }
      assert.equal(focus.inToolbar, true, 'Tab reaches the toolbar')
      assert.equal(focus.toolbarShown, true, 'a focused toolbar shows itself')
      assert.notEqual(focus.outline, 'none', 'the focus is visible')
    })
    const audit = (await page.evaluate(A11Y_AUDIT)) as { controls: number; texts: number; problems: string[] }
    assert.ok(
      audit.controls >= 15 && audit.texts >= 15,
      `audited ${audit.controls} controls, ${audit.texts} texts`,
    )
    assert.deepEqual(audit.problems, [])
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

  it('on a phone: trackpad mode, pinch zoom and pan, and the on-screen keyboard, into the X server', async () => {
    const x = await X11Connection.open(desktop.display)
    const dir = await mkdtemp(join(tmpdir(), 'smoldesk-phone-'))
    const typed = join(dir, 'typed.txt')
    const context = await browser.newContext({
      viewport: { width: 412, height: 800 },
      hasTouch: true,
      isMobile: true,
    })
    const xterm = spawn('xterm', ['-geometry', '30x4+1300+20', '-e', 'sh', '-c', `cat > ${typed}`], {
      env: { ...process.env, DISPLAY: desktop.display, LANG: 'C.UTF-8' },
      stdio: 'ignore',
    })
    try {
      const phone = await context.newPage()
      await phone.goto(linkUrl)
      await phone.getByLabel('Room password').fill(PASSWORD, { timeout: 10_000 })
      await phone.getByRole('button', { name: 'Join' }).click()
      await waitForColour(phone, BLUE, 15_000)
      await phone.getByLabel('Touch mode').selectOption('trackpad')
      await shot(phone, 'viewer-phone')
      await phone.getByRole('button', { name: 'Menu' }).waitFor({ timeout: 10_000 }) // the toolbar hid itself
      const cdp = await context.newCDPSession(phone)
      const touch = (type: 'touchStart' | 'touchMove' | 'touchEnd', points: { x: number; y: number }[]) =>
        cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map((p, id) => ({ ...p, id })) })
      const drag = async (from: { x: number; y: number }[], dx: number, dy: number) => {
        await touch('touchStart', from)
        for (let i = 1; i <= 10; i++)
          await touch(
            'touchMove',
            from.map((p) => ({ x: p.x + (dx * i) / 10, y: p.y + (dy * i) / 10 })),
          )
        await touch('touchEnd', [])
      }

      // Trackpad: a finger's travel moves the pointer from where it is; a tap clicks there. The
      // page's motion channel sends nothing meanwhile (a lossy link at its worst): where the pointer
      // came to rest still reaches the host, on the reliable channel.
      await run('xdotool', ['mousemove', '1500', '300'], { env: { DISPLAY: desktop.display } })
      const restoreMotion = await silenceChannel(phone, MOTION_CHANNEL)
      await drag([{ x: 150, y: 450 }], 40, 0)
      // Where the pointer comes to rest: the drag's last motions may still be on their way.
      const moved = await eventually(async () => {
        const p = await xPointer(x)
        assert.ok(p.rootX > 1280 && p.rootY > 0, `pointer on monitor 2, not ${p.rootX},${p.rootY}`)
        await new Promise((resolve) => setTimeout(resolve, 150))
        const later = await xPointer(x)
        assert.deepEqual([later.rootX, later.rootY], [p.rootX, p.rootY], 'the pointer has settled')
        return p
      })
      // 40 CSS px on a 412 px wide view of an 800 px monitor, at trackpad speed 1.6: about 124 px from the middle.
      assert.ok(Math.abs(moved.rootX - (1280 + 400 + 124)) <= 12, `pointer x ${moved.rootX}`)
      assert.ok(Math.abs(moved.rootY - 300) <= 3, `pointer y ${moved.rootY}`)
      await restoreMotion()
      const recorder = await recordInput(
        desktop.display,
        { x: 1280, y: 200, width: 800, height: 400 },
        'buttons',
      )
      try {
        await phone.touchscreen.tap(60, 600) // anywhere: the click lands at the pointer
        await eventually(async () =>
          assert.deepEqual(recorder.seen.slice(0, 2), [
            `+1@${moved.rootX - 1280},100`,
            `-1@${moved.rootX - 1280},100`,
          ]),
        )
      } finally {
        recorder.close()
      }

      // Pinch: the view zooms about the fingers (locally); zoomed in, two fingers pan it.
      const transform = () => phone.evaluate(() => document.querySelector('video')?.style.transform ?? '')
      await touch('touchStart', [
        { x: 180, y: 400 },
        { x: 230, y: 400 },
      ])
      for (let i = 1; i <= 10; i++)
        await touch('touchMove', [
          { x: 180 - 6 * i, y: 400 },
          { x: 230 + 6 * i, y: 400 },
        ])
      await touch('touchEnd', [])
      const zoomed = await transform()
      const scale = Number(/scale\(([\d.]+)\)/.exec(zoomed)?.[1] ?? 1)
      assert.ok(scale > 1.5, `zoomed in: ${zoomed}`)
      await drag(
        [
          { x: 150, y: 400 },
          { x: 200, y: 400 },
        ],
        60,
        0,
      )
      assert.notEqual(await transform(), zoomed, 'two fingers panned the zoomed view')

      // The on-screen keyboard: what the phone's keyboard types reaches the terminal under the pointer.
      await run('xdotool', ['mousemove', '1400', '60'], { env: { DISPLAY: desktop.display } })
      await phone.getByRole('button', { name: 'Menu' }).tap()
      await phone.getByRole('button', { name: 'Keyboard', exact: true }).tap()
      await phone.keyboard.type('hi phone')
      await phone.keyboard.press('Enter')
      await eventually(
        async () => assert.equal(await readFile(typed, 'utf8').catch(() => ''), 'hi phone\n'),
        10_000,
      )
    } finally {
      xterm.kill()
      await context.close()
      x.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
