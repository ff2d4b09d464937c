import type { IpcClient } from '@smoldesk/protocol'
import type { Browser as PlaywrightBrowser } from 'playwright-core'
import type { Browser } from 'puppeteer-core'
import { type DesktopBackend, VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import type { MonitorLayout } from '../src/display/embedded/xorg-config.ts'
import { launchChromium } from './browser.ts'
import { type BrowserName, launchViewerBrowser } from './browsers.ts'
import { type HostProcess, printedUrl, startHostProcess } from './helpers.ts'
import { Painter, type Panel, type Rgb } from './x11-paint.ts'

export interface SceneOptions {
  /** Left to right, as `--monitors` lays them out. */
  monitors: readonly MonitorLayout[]
  /** Each monitor's colour, in the same order (what a test then looks for in the video). */
  colours?: readonly Rgb[]
  backend?: DesktopBackend
  /** X extensions the desktop starts without (to test what copes without them). */
  disableExtensions?: readonly string[]
  /** `smoldesk start` (default) or `smoldesk host`, with these arguments after `--display`. */
  command?: 'start' | 'host'
  hostArgs?: readonly string[]
  hostEnv?: NodeJS.ProcessEnv
  /** A viewer browser, and how to start it (a network namespace's wrapper: RemoteNetwork.browser). */
  browser?: BrowserName
  browserPath?: string
  /** The viewer browser's microphone: this WAV (Chromium), a 1 kHz tone (Firefox). */
  fakeMicrophone?: string
  /** The viewer machine's sound server (its speakers), as launchViewerBrowser takes it. */
  speakers?: string
  /** Headless Chromium under Playwright as well (the suites written for its page API). */
  playwright?: boolean
  /** The viewer browser takes self-signed certificates (a test's identity provider). */
  acceptInsecureCerts?: boolean
}

/** What a browser test stands on: a desktop, its painted monitors, the real host, a viewer browser. */
export interface Scene {
  readonly desktop: VirtualDesktop
  readonly painter: Painter
  /** The painted window of each coloured monitor, in monitor order (recolour one to see a change). */
  readonly panels: readonly Panel[]
  readonly host: HostProcess
  /** The viewer browser, if the scene has one (else this throws). */
  readonly browser: Browser
  /** The Playwright Chromium, if the scene has one (else this throws). */
  readonly playwright: PlaywrightBrowser
  /** The viewer link `smoldesk start` printed (room and token). */
  url(): Promise<string>
  /** An IPC client of the host, opened on first use and closed with the scene. */
  client(): Promise<IpcClient>
  /** Closes everything in reverse order of opening; idempotent, and safe after a failed open. */
  close(): Promise<void>
}

export async function openScene(options: SceneOptions): Promise<Scene> {
  const closers: (() => Promise<void> | void)[] = []
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      for (const closer of closers.reverse()) await Promise.resolve(closer()).catch(() => {})
    })()
    return closing
  }
  try {
    const desktop = await VirtualDesktop.start({
      monitors: options.monitors,
      withApps: false,
      ...(options.backend && { backend: options.backend }),
      ...(options.disableExtensions && { disableExtensions: options.disableExtensions }),
    })
    closers.push(() => desktop.close())
    const painter = await Painter.open(desktop.display)
    closers.push(() => painter.close())
    const panels: Panel[] = []
    let x = 0
    for (const [i, m] of options.monitors.entries()) {
      const colour = options.colours?.[i]
      if (colour) panels.push(await painter.fill({ x, y: 0, width: m.width, height: m.height }, colour))
      x += m.width
    }
    const host = await startHostProcess(
      options.command ?? 'start',
      ['--display', desktop.display, ...(options.hostArgs ?? [])],
      options.hostEnv,
    )
    closers.push(() => host.stop().then(() => {}))
    let client: Promise<IpcClient> | undefined
    closers.push(async () => (await client?.catch(() => undefined))?.close())
    const browser = options.browser
      ? await launchViewerBrowser(options.browser, {
          executablePath: options.browserPath,
          fakeMicrophone: options.fakeMicrophone,
          speakers: options.speakers,
          acceptInsecureCerts: options.acceptInsecureCerts,
        })
      : undefined
    if (browser) closers.push(() => browser.close())
    const playwright = options.playwright ? await launchChromium() : undefined
    if (playwright) closers.push(() => playwright.close())
    return {
      desktop,
      painter,
      panels,
      host,
      get browser() {
        if (!browser) throw new Error('this scene has no browser (SceneOptions.browser)')
        return browser
      },
      get playwright() {
        if (!playwright) throw new Error('this scene has no Playwright browser (SceneOptions.playwright)')
        return playwright.browser
      },
      url: () => printedUrl(host),
      client: () => {
        client ??= host.client()
        return client
      },
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
