import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import { runToCompletion } from '../process/child.ts'

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

async function grab(display: string, monitor: MonitorInfo, width: number): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'smoldesk-thumb-'))
  const out = join(dir, 'monitor.jpg')
  try {
    // biome-ignore format: one ffmpeg option per line
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-f', 'x11grab', '-draw_mouse', '0', '-framerate', '1',
      '-video_size', `${monitor.width}x${monitor.height}`,
      '-i', `${display}+${monitor.x},${monitor.y}`,
      '-frames:v', '1', '-vf', `scale=${width}:-2`, '-q:v', '5',
      '-y', out,
    ]
    const result = await runToCompletion({
      name: 'ffmpeg thumbnail',
      command: 'ffmpeg',
      args,
      timeoutMs: 5000,
    })
    if (result.code !== 0 || result.timedOut) {
      throw new SmolDeskError(
        'DISPLAY_ERROR',
        `could not grab monitor ${monitor.index}: ${result.timedOut ? 'timed out' : result.stderr.trim().slice(0, 300)}`,
      )
    }
    return await readFile(out)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
