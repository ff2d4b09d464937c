import { type Browser, chromium } from 'playwright-core'

/** Debian's Chromium: nothing is ever downloaded. */
export const CHROMIUM_PATH = process.env.SMOLDESK_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Headless, allowed to use loopback ICE candidates (host and viewer share
 * this machine), quiet on a closed network. Playwright gives every launch a
 * fresh profile.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--allow-loopback-in-peer-connection',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
]

/**
 * `sound`: play what pages play on the sound server in PULSE_SERVER (the
 * viewer machine's speakers), instead of the muted output Playwright gives
 * headless browsers (its default --mute-audio).
 */
export function launchChromium(options: { sound?: boolean } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    ...(options.sound && { ignoreDefaultArgs: ['--mute-audio'] }),
  })
}
