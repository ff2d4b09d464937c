import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import type { CaptureSource } from '../../capture/capture-source.ts'
import type { Clipboard, ClipboardChange } from '../../clipboard/clipboard.ts'
import type { InputInjector } from '../../input/injector.ts'
import { createLogger } from '../../log.ts'
import {
  type CursorSource,
  closeOpened,
  type DisplayBackend,
  type LayoutBox,
  layoutBox,
  pictureFrom,
  reopenIfClosed,
} from '../backend.ts'
import { MAX_RESIZE, type ResizeBackend } from '../resize-service.ts'
import { SwayIpc } from './sway-ipc.ts'
import { WlClipboard } from './wl-clipboard.ts'
import { WlrootsInjector } from './wl-input.ts'
import { WlrootsCaptureSource } from './wlroots-capture.ts'

const log = createLogger('display.wlroots')

/** sway 1.7 sends no event when outputs change: the layout is read this often while someone watches. */
const LAYOUT_POLL_MS = 1000

export interface WlrootsBackendOptions {
  /** WAYLAND_DISPLAY, XDG_RUNTIME_DIR and SWAYSOCK of the compositor. */
  env: { WAYLAND_DISPLAY: string; XDG_RUNTIME_DIR: string; SWAYSOCK: string }
  clipboardMaxBytes: number
}

/**
 * A wlroots compositor (sway): outputs from sway's IPC, capture with
 * wf-recorder (wlr-screencopy, frames on damage), input through SmolDesk's
 * virtual pointer + keyboard helper, the clipboard through wl-clipboard
 * (wlr-data-control), snapshots with grim, and resizing of headless outputs
 * (they take any mode). The pointer is drawn into the video by the
 * compositor; there is no cursor-shape protocol for a client to follow.
 */
export class WlrootsBackend implements DisplayBackend {
  readonly kind = 'wlroots'
  readonly displayServer = 'Wayland'
  readonly x11Display = undefined
  readonly description: string
  readonly #o: WlrootsBackendOptions
  #ipc: Promise<SwayIpc> | undefined
  #injector: Promise<WlrootsInjector> | undefined
  #clipboard: Promise<WlClipboard> | undefined
  #layout: LayoutBox = { x: 0, y: 0, width: 1, height: 1 }
  readonly #pollers = new Set<NodeJS.Timeout>()
  #closing: Promise<void> | undefined

  constructor(options: WlrootsBackendOptions) {
    this.#o = options
    this.description = `sway (${options.env.WAYLAND_DISPLAY})`
  }

  async monitors(): Promise<MonitorInfo[]> {
    const monitors = await (await this.#connection()).monitors()
    this.#layout = layoutBox(monitors) ?? this.#layout
    return monitors
  }

  async watchMonitors(onChange: () => void): Promise<boolean> {
    let last = JSON.stringify(await this.monitors())
    const timer = setInterval(() => {
      this.monitors()
        .then((now) => {
          const text = JSON.stringify(now)
          if (text !== last) {
            last = text
            onChange()
          }
        })
        .catch((err: unknown) => log.debug({ err: String(err) }, 'outputs unreadable'))
    }, LAYOUT_POLL_MS)
    timer.unref()
    this.#pollers.add(timer)
    return true
  }

  captureSource(): CaptureSource {
    return new WlrootsCaptureSource(this.#o.env)
  }

  async injector(): Promise<InputInjector> {
    this.#injector = reopenIfClosed(this.#injector, async () => {
      await this.monitors() // the layout box absolute positions are relative to
      return WlrootsInjector.open(this.#o.env, () => this.#layout)
    })
    return this.#injector
  }

  async clipboard(onChange: (change: ClipboardChange) => void): Promise<Clipboard> {
    this.#clipboard = reopenIfClosed(this.#clipboard, async () => {
      const clipboard = await WlClipboard.open(this.#o.env, this.#o.clipboardMaxBytes)
      clipboard.onChange(onChange)
      return clipboard
    })
    return this.#clipboard
  }

  async cursor(): Promise<CursorSource | undefined> {
    return undefined
  }

  resizer(): ResizeBackend | undefined {
    return {
      // Headless outputs (SmolDesk's own sway, a VNC-style setup) take any mode; a real screen does not.
      canResize: (monitor) => monitor.name.startsWith('HEADLESS-'),
      maxScreen: async () => ({ width: MAX_RESIZE.width * 2, height: MAX_RESIZE.height }),
      setSize: async (monitors, index, width, height) => {
        const monitor = monitors[index]
        if (!monitor) throw new SmolDeskError('MONITOR_NOT_FOUND', `monitor ${index} does not exist`)
        const ipc = await this.#connection()
        // Checked integers and sway's own output names: nothing else reaches the commands.
        const w = Math.round(width)
        await ipc.command(`output ${monitor.name} resolution ${w}x${Math.round(height)}`)
        // sway keeps every output where it was put: the ones to the right move along, as on X11.
        const delta = w - monitor.width
        for (const other of monitors) {
          if (other === monitor || delta === 0 || other.x < monitor.x + monitor.width) continue
          await ipc.command(`output ${other.name} position ${other.x + delta} ${other.y}`)
        }
      },
    }
  }

  /** grim takes the output as PNG (Debian's grim is built without JPEG); ffmpeg makes the JPEG. */
  async snapshot(monitor: MonitorInfo, width: number): Promise<Buffer> {
    const scale = Math.min(1, width / monitor.width)
    const env = { ...process.env, ...this.#o.env }
    const png = await pictureFrom('grim', ['-o', monitor.name, '-s', scale.toFixed(4), '-t', 'png', '-'], env)
    // biome-ignore format: one ffmpeg option per line
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'png_pipe', '-i', 'pipe:0',
      '-frames:v', '1', '-q:v', '5', '-f', 'image2pipe', '-c:v', 'mjpeg', 'pipe:1']
    return pictureFrom('ffmpeg', args, env, png)
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#pollers) clearInterval(timer)
      this.#pollers.clear()
      await closeOpened(this.#injector)
      await closeOpened(this.#clipboard)
      await closeOpened(this.#ipc)
    })()
    return this.#closing
  }

  #connection(): Promise<SwayIpc> {
    this.#ipc = reopenIfClosed(this.#ipc, () => SwayIpc.open(this.#o.env.SWAYSOCK))
    return this.#ipc
  }
}
