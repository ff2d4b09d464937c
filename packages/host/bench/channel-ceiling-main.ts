/*
 * The bare-channel reference of `smoldesk bench transfer` (channel-ceiling.ts)
 * in a process of its own: node-datachannel's threads keep a process alive
 * until its cleanup(), and that cleanup crashed in about half of the runs
 * after a connection had been closed. Here the figure is written, then the
 * process ends without it. Arguments: MiB, direction. Prints MB/s.
 */
import { channelCeiling } from './channel-ceiling.ts'
import { launchChromium } from './chromium.ts'

const mb = Number(process.argv[2])
const direction = process.argv[3] === 'host-to-viewer' ? 'host-to-viewer' : 'viewer-to-host'
const native = await import('node-datachannel')
const browser = await launchChromium()
let result = ''
try {
  result = String(await channelCeiling(native, browser, mb, direction))
} finally {
  await browser.close()
}
process.stdout.write(`${result}\n`, () => process.exit(0))
