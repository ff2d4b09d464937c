import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Browser, Page } from 'puppeteer-core'
import type { SwayIpc } from '../src/display/wlroots/sway-ipc.ts'
import { ManagedProcess } from '../src/process/child.ts'
import { clickButton, inPage, toolbarHidden, videoContentBox, viewerState, waitForColour } from './browser.ts'
import { grantClipboard } from './browsers.ts'
import { eventually, type HostProcess, printedUrl, processesTagged, run } from './helpers.ts'
import type { Rgb } from './x11-paint.ts'

/** Paints a sway output one solid colour (sway's own background client does it). */
export async function paintOutput(ipc: SwayIpc, output: string, colour: Rgb): Promise<void> {
  await ipc.command(`output ${output} background ${hex(colour)} solid_color`)
}

/**
 * wev, a Wayland client that prints every input event it gets: the probe
 * for "the click and the key reached an application". It opens on the
 * focused output and, tiled alone, fills it.
 */
export class InputProbe {
  readonly #proc: ManagedProcess
  readonly lines: string[] = []

  private constructor(proc: ManagedProcess) {
    this.#proc = proc
    createInterface({ input: proc.child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
      this.lines.push(line),
    )
  }

  static async open(env: NodeJS.ProcessEnv): Promise<InputProbe> {
    return new InputProbe(
      await ManagedProcess.spawn({ name: 'wev', command: 'stdbuf', args: ['-oL', 'wev'], env }),
    )
  }

  /** Whether the probe has been shown a surface (it is mapped and gets input). */
  get mapped(): boolean {
    return this.lines.some((l) => l.includes('xdg_surface') || l.includes('wl_keyboard] enter'))
  }

  /** Pointer button presses seen, by evdev code (wev prints each event once per pointer object: one per serial). */
  buttonsPressed(): number[] {
    const bySerial = new Map<string, number>()
    for (const l of this.lines) {
      const m = /wl_pointer\] button: serial: (\d+); .*button: (\d+) .*state: 1/.exec(l)
      if (m) bySerial.set(m[1] ?? '', Number(m[2]))
    }
    return [...bySerial.values()]
  }

  /** The text typed into it: the UTF-8 of each key press (releases print an empty one). */
  typed(): string {
    return this.lines
      .flatMap((l) => {
        const m = /utf8: '(.+)'$/.exec(l)
        return m ? [m[1] ?? ''] : []
      })
      .join('')
  }

  close(): Promise<unknown> {
    return this.#proc.close(1000)
  }
}

/** SGR mouse reports as a terminal sends them (ESC is built, not written, to keep the pattern readable). */
const ESC = String.fromCharCode(0x1b)
const MOUSE_PRESS = new RegExp(`${ESC}\\[<(\\d+);\\d+;\\d+M`, 'g')
const MOUSE_REPORT = new RegExp(`${ESC}\\[<\\d+;\\d+;\\d+[Mm]`, 'g')

/**
 * A full-screen terminal (foot) of one colour on a Wayland desktop, running
 * terminal-probe.mjs: the probe for "the click and the key reached an
 * application" where wev cannot be placed (mutter puts windows where it
 * likes; a full-screen one covers its monitor). Typed text and SGR mouse
 * reports land in a file; the colour can be changed while it runs.
 */
export class TerminalProbe {
  readonly #proc: ManagedProcess
  readonly #dir: string

  private constructor(proc: ManagedProcess, dir: string) {
    this.#proc = proc
    this.#dir = dir
  }

  static async open(env: NodeJS.ProcessEnv, colour: Rgb): Promise<TerminalProbe> {
    const dir = await mkdtemp(join(tmpdir(), 'smoldesk-probe-'))
    await writeFile(join(dir, 'colour'), hex(colour))
    await writeFile(join(dir, 'input'), '')
    const script = join(import.meta.dirname, 'terminal-probe.mjs')
    // biome-ignore format: one option per line
    const args = ['--fullscreen', '-o', `colors.background=${hex(colour).slice(1)}`, '--',
      process.execPath, script, join(dir, 'input'), join(dir, 'colour')]
    const proc = await ManagedProcess.spawn({ name: 'foot probe', command: 'foot', args, env })
    return new TerminalProbe(proc, dir)
  }

  setColour(colour: Rgb): Promise<void> {
    return writeFile(join(this.#dir, 'colour'), hex(colour))
  }

  async #input(): Promise<string> {
    return readFile(join(this.#dir, 'input'), 'utf8')
  }

  /** Mouse button presses reported (SGR: ESC [ < button ; x ; y M), by button (0 left, 1 middle, 2 right). */
  async buttonsPressed(): Promise<number[]> {
    return [...(await this.#input()).matchAll(MOUSE_PRESS)].map((m) => Number(m[1]))
  }

  /** What was typed, mouse reports left out. */
  async typed(): Promise<string> {
    return (await this.#input()).replace(MOUSE_REPORT, '')
  }

  async close(): Promise<void> {
    await this.#proc.close(1000)
    await rm(this.#dir, { recursive: true, force: true })
  }
}

function hex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`
}

declare const window: { smoldesk?: { clipboard: { remote?: { content: { text?: string } } } } }
declare const navigator: { clipboard: { writeText(text: string): Promise<void> } }

/**
 * Opens the viewer from `start`'s printed link, waits for the first
 * monitor's colour, switches to the second monitor and checks its colour
 * arrived on the same peer connection. Returns the page.
 */
export async function viewAndSwitchMonitor(
  start: HostProcess,
  browser: Browser,
  first: Rgb,
  second: Rgb,
): Promise<Page> {
  const link = await printedUrl(start)
  await grantClipboard(browser, new URL(link).origin)
  const page = await browser.newPage()
  await page.setViewport({ width: 1280, height: 800 })
  await page.goto(link)
  await waitForColour(page, first, 20_000)
  const before = await eventually(async () => {
    const s = await viewerState(page)
    assert.equal(s.state, 'connected')
    return s
  })
  // The monitor picker appears once the host's monitor list has arrived (just after connecting).
  await page.waitForSelector('select[aria-label="Monitor"]', { timeout: 10_000 })
  await page.select('select[aria-label="Monitor"]', '1')
  await waitForColour(page, second, 10_000)
  const after = await viewerState(page)
  assert.equal(after.pcs, before.pcs, 'no new peer connection')
  assert.equal(after.state, 'connected')
  return page
}

/** Text copied on the Wayland desktop (wl-copy) reaches the page, and the page's reaches the desktop (wl-paste). */
export async function clipboardBothWays(page: Page, env: NodeJS.ProcessEnv, label: string): Promise<void> {
  const fromHost = `copied on ${label} ${randomBytes(3).toString('hex')}`
  const copy = await run('wl-copy', [fromHost], { env })
  assert.equal(copy.code, 0)
  await eventually(async () => {
    const r = await inPage(page, () => window.smoldesk?.clipboard.remote, undefined)
    assert.equal(r?.content.text, fromHost)
  }, 10_000)
  const fromViewer = `copied in the viewer for ${label} ${randomBytes(3).toString('hex')} ü`
  await inPage(page, (t) => navigator.clipboard.writeText(t), fromViewer)
  await clickButton(page, 'nav', 'Send my clipboard')
  await eventually(async () => {
    const pasted = await run('wl-paste', ['--no-newline'], { env })
    assert.equal(pasted.stdout.toString(), fromViewer)
  }, 10_000)
}

/**
 * Kills every process of `start` running one of `programs` (the viewer's
 * codec may not be the one the host started with, and each codec may have
 * its own program), repaints with `paint`, and returns how long the new
 * colour took to show, checking the viewer did not reconnect.
 */
export async function pictureBackAfterKill(
  start: HostProcess,
  page: Page,
  programs: readonly string[],
  paint: () => Promise<void>,
  colour: Rgb,
): Promise<number> {
  const pcs = (await viewerState(page)).pcs
  const runs = (cmdline: string) => programs.some((p) => basename(cmdline.split(' ')[0] ?? '') === p)
  const all = await processesTagged(start.tag)
  const victims = all.filter((p) => runs(p.cmdline))
  assert.ok(
    victims.length > 0,
    `one of ${programs.join(', ')} runs (running: ${all.map((p) => basename(p.cmdline.split(' ')[0] ?? '')).join(', ')})`,
  )
  const killed = performance.now()
  for (const victim of victims) process.kill(victim.pid, 'SIGKILL')
  await paint()
  await waitForColour(page, colour, 5000)
  const back = performance.now() - killed
  assert.equal((await viewerState(page)).pcs, pcs, 'no reconnect')
  return back
}

declare const document: { querySelector(s: string): unknown }
declare const KeyboardEvent: new (type: string, init: Record<string, unknown>) => object

/** A left click in the middle of the video, once the pointer's move has hidden the toolbar. */
export async function clickVideoCentre(page: Page): Promise<void> {
  const box = await videoContentBox(page)
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
  await toolbarHidden(page)
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
}

/**
 * Keys typed with the viewer's own layout: each [code, character] as a
 * keydown and keyup on the video whose `key` is that character (what a
 * French or German keyboard sends), whatever the test browser's layout is.
 */
export async function typeWithViewerLayout(
  page: Page,
  keys: readonly (readonly [string, string])[],
): Promise<void> {
  const events = keys.flatMap(([code, key]) => [
    ['keydown', code, key],
    ['keyup', code, key],
  ])
  await inPage(
    page,
    (list) => {
      const video = document.querySelector('video') as { dispatchEvent(e: unknown): void }
      for (const [type, code, key] of list)
        video.dispatchEvent(new KeyboardEvent(type ?? '', { code, key, bubbles: true, cancelable: true }))
    },
    events,
  )
}
