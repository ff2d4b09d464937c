import puppeteer, { type Browser } from 'puppeteer-core'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../bench/chromium.ts'
import { freePort } from '../src/process/ports.ts'

/**
 * The viewer's browsers, each Debian's own build driven by puppeteer-core
 * (Chromium over CDP, Firefox over WebDriver BiDi), so one test body runs in
 * every engine: `for (const name of VIEWER_BROWSERS) describe(…)`. A new
 * engine goes here, with what it needs to run headless WebRTC.
 */
export type BrowserName = 'chromium' | 'firefox'
export const VIEWER_BROWSERS: readonly BrowserName[] = ['chromium', 'firefox']

export const FIREFOX_PATH = process.env.SMOLDESK_FIREFOX ?? '/usr/bin/firefox-esr'

/** Headless Firefox as a viewer on this machine (see FACTS: loopback ICE, real host addresses). */
export const FIREFOX_PREFS: Record<string, unknown> = {
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.autoplay.default': 0,
  // Sound without a click first, as Chromium's --autoplay-policy flag allows it.
  'media.autoplay.block-webaudio': false,
  // The Clipboard API without a click on the page's paste menu (what a test cannot do).
  'dom.events.testing.asyncClipboard': true,
  'dom.events.asyncClipboard.readText': true,
  'dom.events.asyncClipboard.clipboardItem': true,
  // Touch events on a desktop build (a phone's taps, as the tests send them).
  'dom.w3c_touch_events.enabled': 1,
  // Quiet on a closed network.
  'network.captive-portal-service.enabled': false,
  'browser.safebrowsing.update.enabled': false,
}

/** How a viewer browser is started beyond the defaults. */
export interface ViewerBrowserOptions {
  /** Another way to start the same browser (a test's network namespace: RemoteNetwork.browser(name)). */
  executablePath?: string | undefined
  /** Take self-signed certificates (a test's own identity provider over HTTPS). */
  acceptInsecureCerts?: boolean | undefined
  /**
   * A microphone without hardware, granted without a prompt: Chromium plays
   * this WAV file in a loop; Firefox's fake device is a 1 kHz tone (it takes no file).
   */
  fakeMicrophone?: string | undefined
  /**
   * The viewer machine's sound server (a PULSE_SERVER address): its speakers.
   * Firefox runs an AudioContext only with an output device to play on
   * (without one it stays suspended, and the page asks for a click that
   * cannot help); Chromium headless has a fake output of its own.
   */
  speakers?: string | undefined
}

export async function launchViewerBrowser(
  name: BrowserName,
  pathOrOptions?: string | ViewerBrowserOptions,
): Promise<Browser> {
  const options =
    typeof pathOrOptions === 'string' ? { executablePath: pathOrOptions } : (pathOrOptions ?? {})
  const { executablePath, fakeMicrophone, speakers } = options
  const insecure = options.acceptInsecureCerts ? { acceptInsecureCerts: true } : {}
  const env = speakers === undefined ? process.env : { ...process.env, PULSE_SERVER: speakers }
  if (name === 'firefox') {
    return puppeteer.launch({
      browser: 'firefox',
      env,
      ...insecure,
      executablePath: executablePath ?? FIREFOX_PATH,
      headless: true,
      extraPrefsFirefox: {
        ...FIREFOX_PREFS,
        ...(fakeMicrophone !== undefined && { 'media.navigator.streams.fake': true }),
      },
      // A fixed port, so a wrapper can bridge it (puppeteer's default 0 is picked by Firefox).
      ...(executablePath && { debuggingPort: await freePort() }),
    })
  }
  return puppeteer.launch({
    browser: 'chrome',
    env,
    ...insecure,
    executablePath: executablePath ?? CHROMIUM_PATH,
    headless: true,
    pipe: true,
    // Puppeteer mutes headless Chromium; with speakers, what the page plays is to be heard there.
    ...(speakers !== undefined && { ignoreDefaultArgs: ['--mute-audio'] }),
    args: [
      ...CHROMIUM_ARGS.filter((a) => a !== '--headless'),
      ...(fakeMicrophone !== undefined
        ? [
            '--use-fake-device-for-media-stream',
            '--use-fake-ui-for-media-stream',
            `--use-file-for-fake-audio-capture=${fakeMicrophone}`,
          ]
        : []),
    ],
  })
}

/** Lets pages of this origin use the Clipboard API without a prompt (Firefox: its prefs above do). */
export async function grantClipboard(browser: Browser, origin: string): Promise<void> {
  if ((await browser.version()).toLowerCase().includes('firefox')) return
  await browser
    .defaultBrowserContext()
    .overridePermissions(origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write'])
}

/** What a browser says it is (for the test log and the README's browser table). */
export async function browserVersion(browser: Browser): Promise<string> {
  return (await browser.version()).replace(/^HeadlessChrome\//, 'Chromium ')
}
