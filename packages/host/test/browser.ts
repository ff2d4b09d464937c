import assert from 'node:assert/strict'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Browser, Page as PlaywrightPage } from 'playwright-core'
import type { Page as PuppeteerPage } from 'puppeteer-core'
import { launchChromium as launchBrowser } from '../bench/chromium.ts'
import { eventually, REPO_ROOT } from './helpers.ts'
import type { Rgb } from './x11-paint.ts'

// The functions passed to page.evaluate run in the browser; these are the DOM pieces they touch
// (the Node test code is type-checked without the DOM library).
interface PageCanvas {
  width: number
  height: number
  getContext(kind: '2d'): {
    drawImage(source: unknown, x: number, y: number): void
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> }
  } | null
}
declare const document: {
  querySelector(selector: 'video'): {
    videoWidth: number
    videoHeight: number
    getBoundingClientRect(): { left: number; top: number; width: number; height: number }
  } | null
  querySelector(selector: string): unknown
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; click(): void }>
  createElement(tag: 'canvas'): PageCanvas
}
declare const window: {
  smoldesk?: {
    state: string
    detail?: string
    connection: {
      peerConnectionsCreated: number
      peerConnection?: {
        connectionState: string
        getStats(): Promise<Map<string, Record<string, unknown>>>
      }
    }
    stats?: { codec: string; width: number }
  }
  __restoreSend?: () => void
}
/** The page's data channels, as far as silencing one goes. */
declare const RTCDataChannel: { prototype: { label: string; send(data: unknown): void } }

/** A page of either driver: Playwright (the Chromium-only tests) or Puppeteer (Chromium and Firefox). */
export type Page = PlaywrightPage | PuppeteerPage

/** Runs a function in the page with one argument, whichever driver holds it. */
export function inPage<R, A>(page: Page, fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> {
  // Both drivers serialize `arg` the same way; only their typings differ.
  return (page as { evaluate(f: unknown, a: unknown): Promise<R> }).evaluate(fn, arg)
}

/**
 * Until the returned function is called, the page's data channel `label`
 * sends nothing (what a lossy link at its worst does to an unordered,
 * never-retransmitted channel); every other channel sends as before.
 */
export async function silenceChannel(page: Page, label: string): Promise<() => Promise<void>> {
  await inPage(
    page,
    (name) => {
      const send = RTCDataChannel.prototype.send
      window.__restoreSend = () => {
        RTCDataChannel.prototype.send = send
      }
      RTCDataChannel.prototype.send = function (this: { label: string }, data: unknown) {
        if (this.label !== name) send.call(this, data)
      }
    },
    label,
  )
  return () => inPage(page, () => window.__restoreSend?.(), undefined)
}

/** Screenshots of the main screens: test artefacts (the README shows copies from docs/screenshots). */
export const SCREENSHOTS = join(REPO_ROOT, 'test-artifacts/screenshots')

export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await launchBrowser()
  return { browser, close: () => browser.close() }
}

/** The colour of the decoded video at a point given as fractions of its width and height. */
export function videoPixel(page: Page, fx: number, fy: number): Promise<Rgb | undefined> {
  return inPage(
    page,
    ([x, y]) => {
      const video = document.querySelector('video')
      if (!video || video.videoWidth === 0) return undefined
      const canvas = document.createElement('canvas')
      canvas.width = video.videoWidth
      canvas.height = video.videoHeight
      const ctx = canvas.getContext('2d')
      if (!ctx) return undefined
      ctx.drawImage(video, 0, 0)
      const d = ctx.getImageData(Math.floor(x * canvas.width), Math.floor(y * canvas.height), 1, 1).data
      return [d[0] ?? 0, d[1] ?? 0, d[2] ?? 0] as const
    },
    [fx, fy] as const,
  )
}

/**
 * Where the picture is on the page, in CSS pixels: the video element's box
 * less the letterbox bars of object-fit: contain (the viewer's "Fit" view).
 */
export function videoContentBox(
  page: Page,
): Promise<{ x: number; y: number; width: number; height: number }> {
  return inPage(
    page,
    () => {
      const video = document.querySelector('video')
      if (!video || video.videoWidth === 0) return { x: 0, y: 0, width: 1, height: 1 }
      const rect = video.getBoundingClientRect()
      const scale = Math.min(rect.width / video.videoWidth, rect.height / video.videoHeight)
      const width = video.videoWidth * scale
      const height = video.videoHeight * scale
      return {
        x: rect.left + (rect.width - width) / 2,
        y: rect.top + (rect.height - height) / 2,
        width,
        height,
      }
    },
    undefined,
  )
}

/**
 * The viewer's toolbar overlays the top of the picture until it hides
 * itself (a few seconds after connecting): wait for that before pointing at
 * the top of the remote screen.
 */
export async function toolbarHidden(page: Page): Promise<void> {
  const deadline = performance.now() + 10_000
  while (
    !(await inPage(page, () => document.querySelector('nav.toolbar.toolbar-hidden') !== null, undefined))
  ) {
    if (performance.now() > deadline) throw new Error('the toolbar did not hide within 10 s')
    await sleep(50)
  }
  await sleep(200) // its slide-out transition
}

export function close(a: Rgb, b: Rgb, tolerance = 40): boolean {
  return a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= tolerance)
}

/** Waits until the video shows `colour` at the centre; returns the milliseconds it took. */
export async function waitForColour(page: Page, colour: Rgb, timeoutMs = 10_000): Promise<number> {
  const started = performance.now()
  let last: Rgb | undefined
  while (performance.now() - started < timeoutMs) {
    last = await videoPixel(page, 0.5, 0.5)
    if (last && close(last, colour)) return performance.now() - started
    await sleep(20)
  }
  throw new Error(
    `video never showed rgb(${colour.join(',')}) within ${timeoutMs} ms; last: ${last?.join(',')}; ` +
      `the page's receiver: ${await receiverDiagnosis(page).catch((err: unknown) => String(err))}`,
  )
}

/**
 * What the page's video receiver says about itself, twice a second apart: it tells
 * packets that stopped arriving from packets that arrive but are not decoded, and
 * whether the page asked for keyframes (what a failed colour wait needs to say).
 */
export function receiverDiagnosis(page: Page): Promise<string> {
  return inPage(
    page,
    async () => {
      const pc = window.smoldesk?.connection.peerConnection
      if (!pc) return 'no media connection'
      const keys = [
        'packetsReceived',
        'packetsLost',
        'framesReceived',
        'framesDecoded',
        'keyFramesDecoded',
        'framesDropped',
        'pliCount',
        'nackCount',
        'firCount',
      ]
      const sample = async () => {
        const stats = [...(await pc.getStats()).values()]
        const inbound = stats.find((r) => r.type === 'inbound-rtp' && r.kind === 'video')
        if (!inbound) return 'no inbound video'
        return keys.map((k) => `${k}=${String(inbound[k] ?? '-')}`).join(' ')
      }
      const first = await sample()
      await new Promise((resolve) => setTimeout(resolve, 1000))
      return `${pc.connectionState}; ${first} → 1 s later: ${await sample()}`
    },
    undefined,
  )
}

/** What the viewer page reports about itself (window.smoldesk). */
export function viewerState(
  page: Page,
): Promise<{ state: string; pcs: number; codec: string; width: number }> {
  return inPage(
    page,
    () => {
      const s = window.smoldesk
      return {
        state: s?.state ?? 'none',
        pcs: s?.connection.peerConnectionsCreated ?? 0,
        codec: s?.stats?.codec ?? '',
        width: s?.stats?.width ?? 0,
      }
    },
    undefined,
  )
}

/** Opens a viewer page on a room with a password and types the password into its form. */
export async function openWithPassword(
  browser: Browser,
  url: string,
  password: string,
): Promise<PlaywrightPage> {
  const page = await browser.newPage()
  await page.goto(url)
  await eventually(
    async () => assert.match(await page.evaluate(() => window.smoldesk?.detail ?? ''), /^UNAUTHORIZED/),
    10_000,
  )
  await page.getByLabel('Room password').fill(password)
  await page.getByRole('button', { name: 'Join' }).click()
  return page
}

/** In the page: a Blob of `size` random bytes, kept as window.__upload; returns its SHA-256 (hex). */
export function makeUpload(page: Page, size: number): Promise<string> {
  return inPage(
    page,
    async (n) => {
      const scope = globalThis as unknown as { __upload?: unknown; Blob: new (parts: unknown[]) => unknown }
      const bytes = new Uint8Array(n)
      for (let at = 0; at < n; at += 65_536)
        crypto.getRandomValues(bytes.subarray(at, Math.min(n, at + 65_536)))
      scope.__upload = new scope.Blob([bytes])
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
      return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
    },
    size,
  )
}

/** Clicks the button with this text inside the element matching `scope` (puppeteer has no text locator in BiDi). */
export async function clickButton(page: Page, scope: string, text: string): Promise<void> {
  await eventually(async () => {
    const clicked = await inPage(
      page,
      ([where, label]) => {
        for (const button of Array.from(document.querySelectorAll(`${where} button`))) {
          if (button.textContent?.trim() === label) {
            button.click()
            return true
          }
        }
        return false
      },
      [scope, text] as const,
    )
    assert.ok(clicked, `a "${text}" button in ${scope}`)
  }, 10_000)
}

/** The page's own clipboard gets a PNG of one colour (a canvas drawn in the page), as a user's copied image. */
export function copyCanvasImage(page: Page, [r, g, b]: Rgb, width: number, height: number): Promise<void> {
  return inPage(
    page,
    async ([fill, w, h]) => {
      interface PageCanvas {
        width: number
        height: number
        getContext(
          kind: '2d',
        ): { fillStyle: string; fillRect(x: number, y: number, w: number, h: number): void } | null
        toBlob(done: (blob: unknown) => void, type: string): void
      }
      const doc = (globalThis as unknown as { document: { createElement(t: 'canvas'): PageCanvas } }).document
      const nav = (
        globalThis as unknown as { navigator: { clipboard: { write(items: unknown[]): Promise<void> } } }
      ).navigator
      const Item = (
        globalThis as unknown as { ClipboardItem: new (items: Record<string, unknown>) => unknown }
      ).ClipboardItem
      const canvas = doc.createElement('canvas')
      canvas.width = w
      canvas.height = h
      const ctx = canvas.getContext('2d')
      if (ctx) {
        ctx.fillStyle = fill
        ctx.fillRect(0, 0, w, h)
      }
      const blob = await new Promise<unknown>((resolve) => canvas.toBlob(resolve, 'image/png'))
      await nav.clipboard.write([new Item({ 'image/png': blob })])
    },
    [`rgb(${r}, ${g}, ${b})`, width, height] as const,
  )
}
