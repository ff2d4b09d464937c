import assert from 'node:assert/strict'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'puppeteer-core'
import { inPage, receiverDiagnosis, toolbarHidden, videoContentBox, waitForColour } from './browser.ts'
import { VIEWER_BROWSERS } from './browsers.ts'
import { eventually, typingTerminal } from './helpers.ts'
import { NETWORK_PROFILES, type NetworkProfile, RemoteNetwork } from './netns.ts'
import { pathDecisions } from './path-log.ts'
import { openScene, type Scene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'

/*
 * The viewer on another machine behind a shaped link (smoldesk-link in a
 * namespace between two veth cables: this kernel has no tc netem), issue
 * 18's profiles one after the other on the same connection, in Chromium
 * (H.264) and in Firefox (VP8, through ffmpeg). On each, a
 * square that changes colour four times a second must keep changing in the
 * page (no change painted goes unseen for 1 s after the first 3 s), and text typed in the page
 * must arrive in a terminal on the desktop. The content is light (a solid
 * square): this is about delay, jitter and loss; what a narrow link does
 * to hard content is congestion.test.ts's.
 */

const GREY: Rgb = [90, 90, 90]
const RED: Rgb = [220, 40, 40]
const BLUE: Rgb = [40, 80, 220]
const SQUARE = { x: 0, y: 0, width: 200, height: 200 }
const FLIP_MS = 250

declare const window: {
  smoldesk?: { connection: { peerConnectionsCreated: number } }
  __changes?: number[]
  __presented?: [number, number][]
}
interface PageCanvas {
  width: number
  height: number
  getContext(
    kind: '2d',
    o: { willReadFrequently: boolean },
  ): {
    drawImage(v: unknown, ...n: number[]): void
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> }
  } | null
}
declare const document: {
  querySelector(s: 'video'): {
    videoWidth: number
    videoHeight: number
    getVideoPlaybackQuality(): { totalVideoFrames: number }
  } | null
  createElement(tag: 'canvas'): PageCanvas
}

/**
 * In the page: the times (this machine's clock, ms) at which the square's
 * colour was seen to change, and every 250 ms how many frames the <video>
 * had presented (a stretch without change then tells frames that kept coming
 * with an old picture in them from frames that stopped).
 */
function watchSquare(page: Page): Promise<void> {
  return inPage(
    page,
    ([fx, fy]) => {
      const canvas = document.createElement('canvas')
      canvas.width = 1
      canvas.height = 1
      const ctx = canvas.getContext('2d', { willReadFrequently: true })
      const changes: number[] = []
      const presented: [number, number][] = []
      window.__changes = changes
      window.__presented = presented
      let last = -1
      let tick = 0
      setInterval(() => {
        const video = document.querySelector('video')
        if (!ctx || !video || video.videoWidth === 0) return
        if (tick++ % 12 === 0) {
          presented.push([
            performance.timeOrigin + performance.now(),
            video.getVideoPlaybackQuality().totalVideoFrames,
          ])
        }
        ctx.drawImage(video, fx * video.videoWidth, fy * video.videoHeight, 1, 1, 0, 0, 1, 1)
        const d = ctx.getImageData(0, 0, 1, 1).data
        const red = (d[0] ?? 0) > (d[2] ?? 0) ? 1 : 0
        if (red !== last) changes.push(performance.timeOrigin + performance.now())
        last = red
      }, 20)
    },
    [(SQUARE.x + SQUARE.width / 2) / 640, (SQUARE.y + SQUARE.height / 2) / 480] as const,
  )
}

const changesSeen = (page: Page) => inPage(page, () => window.__changes ?? [], undefined)
const framesPresented = (page: Page) => inPage(page, () => window.__presented ?? [], undefined)
const connections = (page: Page) =>
  inPage(page, () => window.smoldesk?.connection.peerConnectionsCreated ?? 0, undefined)
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The longest stretch in [from, to] without a change seen (from `from` to the first, between them, the last to `to`). */
function longestGap(changes: number[], from: number, to: number): number {
  let longest = 0
  let previous = from
  for (const t of [...changes.filter((c) => c >= from && c <= to), to]) {
    longest = Math.max(longest, t - previous)
    previous = t
  }
  return longest
}

/**
 * The longest the picture stood still while the desktop changed: for each
 * paint in [from, to] (when the test asked the X server for it), how long until the page
 * next saw the square change. A test process that was itself held up and
 * painted nothing for a while is no freeze of the viewer's; a viewer that
 * showed nothing new while paints kept coming is.
 */
function longestUnseen(
  paints: number[],
  changes: number[],
  from: number,
  to: number,
): { ms: number; at: number } {
  let longest = { ms: 0, at: from }
  for (const p of paints) {
    if (p < from || p > to) continue
    const seen = Math.min(changes.find((c) => c > p) ?? to, to)
    if (seen - p > longest.ms) longest = { ms: seen - p, at: p }
  }
  return longest
}

/** Frames the <video> presented per second between `from` and `to` (from the page's 250 ms samples). */
function presentedRate(samples: [number, number][], from: number, to: number): string {
  const inside = samples.filter(([t]) => t >= from - 250 && t <= to + 250)
  const first = inside[0]
  const last = inside.at(-1)
  if (!first || !last || last[0] <= first[0]) return 'unknown'
  return `${((last[1] - first[1]) / ((last[0] - first[0]) / 1000)).toFixed(1)} frames/s`
}

for (const name of VIEWER_BROWSERS) {
  describe(`over shaped links (${name}): wifi, internet and bad, on one connection`, () => {
    let net: RemoteNetwork
    let scene: Scene
    let page: Page
    let flipper: NodeJS.Timeout | undefined
    const paints: number[] = []
    const typed = join(tmpdir(), `smoldesk-typed-${name}-${process.pid}.txt`)
    let terminal: Awaited<ReturnType<typeof typingTerminal>> | undefined

    before(async () => {
      net = await RemoteNetwork.create({ shaped: true })
      scene = await openScene({
        monitors: [{ width: 640, height: 480 }],
        colours: [GREY],
        hostArgs: ['--listen', net.hostIp],
        browser: name,
        browserPath: net.browser(name),
        // The path estimate's decisions (debug), for a failure to say what the host saw.
        hostEnv: { SMOLDESK_LOG_LEVEL: 'debug' },
      })
      terminal = await typingTerminal(scene.desktop.display, '30x4+330+300', typed)
      page = await scene.browser.newPage()
      await page.goto(await scene.url())
      await waitForColour(page, GREY, 20_000)
      const box = await videoContentBox(page)
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
      await toolbarHidden(page)
      let red = false
      flipper = setInterval(() => {
        red = !red
        // When it was asked for, not when the answer came back: the server cannot have had it
        // earlier, and our own loop answering late must not shorten a freeze.
        const at = now()
        void scene.painter
          .fill(SQUARE, red ? RED : BLUE)
          .then(() => paints.push(at))
          .catch(() => {})
      }, FLIP_MS)
      await watchSquare(page)
    })

    after(async () => {
      clearInterval(flipper)
      terminal?.kill()
      await scene?.close()
      await net?.close()
      await rm(typed, { force: true })
    })

    for (const profile of ['wifi', 'internet', 'bad'] as NetworkProfile[]) {
      it(`keeps the picture moving and the typing arriving over ${profile}`, async () => {
        const connectionsBefore = await connections(page)
        await net.shape(NETWORK_PROFILES[profile])
        const from = now()
        await sleep(8000)
        const to = now()
        const changes = await changesSeen(page)
        const unseen = longestUnseen(paints, changes, from + 3000, to)
        const gap = unseen.ms
        const stillFor = longestGap(changes, from + 3000, to)
        const paintGap = longestGap(paints, from + 3000, to)
        // What the receiver said right after (lost packets, NACKs, keyframe requests), for a failure to explain itself.
        const receiver =
          gap < 1000
            ? ''
            : `${await receiverDiagnosis(page).catch((err: unknown) => String(err))}; while the change went unseen ` +
              `the <video> presented ${presentedRate(await framesPresented(page), unseen.at, unseen.at + gap)}; ` +
              pathDecisions(scene.host.stderr(), Math.round(from))
        const box = await videoContentBox(page)
        const s = box.width / 640
        await page.mouse.click(box.x + 400 * s, box.y + 330 * s) // on the terminal
        const text = `typed over ${profile}`
        await page.keyboard.type(text)
        await page.keyboard.press('Enter')
        await eventually(async () => {
          const got = await readFile(typed, 'utf8').catch(() => '')
          assert.ok(got.endsWith(`${text}\n`), `the terminal got ${JSON.stringify(got)}`)
        }, 15_000)
        const figures =
          `longest a change went unseen after 3 s: ${gap.toFixed(0)} ms ` +
          `(longest without a change seen ${stillFor.toFixed(0)} ms, without a paint ${paintGap.toFixed(0)} ms)`
        process.stdout.write(`${name} ${profile}: ${figures}\n`)
        assert.ok(
          gap < 1000,
          `the picture stood still over ${profile}: ${figures}; the receiver: ${receiver}`,
        )
        assert.equal(await connections(page), connectionsBefore, 'the same connection')
      })
    }
  })
}
