import { CLIPBOARD_MAX_BYTES } from '../clipboard/clipboard.ts'
import { createLogger } from '../log.ts'
import { HOST_DEFAULTS, type HostOptions } from '../options.ts'
import type { DisplayBackend } from './backend.ts'
import { X11Backend } from './x11/x11-backend.ts'

const log = createLogger('display')

/**
 * The display backend the host shares, chosen at start: an explicit X
 * display (`--display`) wins; otherwise the X display from $DISPLAY. With
 * none, an X11 backend without a display answers NO_DISPLAY to every use,
 * so the host still runs (IPC, signaling) and says why there is no picture.
 */
export async function openDisplayBackend(options: HostOptions): Promise<DisplayBackend> {
  const display = options.display ?? process.env.DISPLAY ?? undefined
  const backend = new X11Backend({
    display,
    captureHelper: options.captureHelper ?? HOST_DEFAULTS.captureHelper,
    clipboardMaxBytes: options.clipboardMaxBytes ?? CLIPBOARD_MAX_BYTES,
  })
  log.info({ backend: backend.description }, 'display backend chosen')
  return backend
}
