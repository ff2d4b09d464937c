import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import { collectOutput } from '../../process/child.ts'

const THUMBNAIL_TIMEOUT_MS = 5000
/** A 640 px wide JPEG at -q:v 5 is far below this; more means something is wrong. */
const MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
/** A thumbnail this fresh is served again rather than grabbed again (the control page polls). */
const THUMBNAIL_MAX_AGE_MS = 1000

/**
 * Small JPEG pictures of monitors for the control page's monitor picker: one
 * ffmpeg x11grab frame of exactly the monitor's rectangle, scaled down.
 * Every value on ffmpeg's command line comes from RandR or is a checked
 * number, never from a request's text.
 */
export class Thumbnails {
  readonly #cache = new Map<string, { at: number; jpeg: Promise<Buffer> }>()

  get(display: string, monitor: MonitorInfo, width: number): Promise<Buffer> {
    const key = `${display}|${monitor.x},${monitor.y},${monitor.width}x${monitor.height}|${width}`
    const cached = this.#cache.get(key)
    if (cached && performance.now() - cached.at < THUMBNAIL_MAX_AGE_MS) return cached.jpeg
    const jpeg = grab(display, monitor, width)
    this.#cache.set(key, { at: performance.now(), jpeg })
    jpeg.catch(() => this.#cache.delete(key))
    return jpeg
  }
}

/** One JPEG from ffmpeg's stdout: no temporary file to leave behind if the host stops meanwhile. */
async function grab(display: string, monitor: MonitorInfo, width: number): Promise<Buffer> {
  // biome-ignore format: one ffmpeg option per line
  const args = [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'x11grab', '-draw_mouse', '0', '-framerate', '1',
    '-video_size', `${monitor.width}x${monitor.height}`,
    '-i', `${display}+${monitor.x},${monitor.y}`,
    '-frames:v', '1', '-vf', `scale=${width}:-2`, '-q:v', '5',
    '-f', 'image2pipe', '-c:v', 'mjpeg', 'pipe:1',
  ]
  const out = await collectOutput({
    name: 'ffmpeg thumbnail',
    command: 'ffmpeg',
    args,
    timeoutMs: THUMBNAIL_TIMEOUT_MS,
    maxBytes: MAX_THUMBNAIL_BYTES,
  })
  if (out.code !== 0 || out.stdout.length === 0 || out.overflow) {
    throw new SmolDeskError(
      'DISPLAY_ERROR',
      `could not grab monitor ${monitor.index}: ${out.stderr.trim().slice(0, 300) || `ffmpeg exited with ${out.code ?? out.signal}`}`,
    )
  }
  return out.stdout
}
