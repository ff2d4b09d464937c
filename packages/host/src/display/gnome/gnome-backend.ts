import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import type { CaptureSource } from '../../capture/capture-source.ts'
import type { Clipboard, ClipboardChange } from '../../clipboard/clipboard.ts'
import type { InputInjector } from '../../input/injector.ts'
import { createLogger } from '../../log.ts'
import {
  type CursorSource,
  type DisplayBackend,
  type LayoutBox,
  layoutBox,
  pictureFrom,
  reopenIfClosed,
  unsupportedOn,
} from '../backend.ts'
import { PipeWireCaptureSource } from '../remote-desktop/pipewire-capture.ts'
import { RemoteDesktopInjector } from '../remote-desktop/remote-desktop-input.ts'
import type { ResizeBackend } from '../resize-service.ts'
import { GnomeClipboard } from './gnome-clipboard.ts'
import { MUTTER_HELPER, MutterSession } from './mutter-session.ts'

const log = createLogger('display.gnome')

export interface GnomeBackendOptions {
  /** WAYLAND_DISPLAY, XDG_RUNTIME_DIR (PipeWire's socket) and DBUS_SESSION_BUS_ADDRESS (mutter's APIs). */
  env: { WAYLAND_DISPLAY: string; XDG_RUNTIME_DIR: string; DBUS_SESSION_BUS_ADDRESS: string }
  clipboardMaxBytes: number
}

/**
 * GNOME on Wayland, through mutter's own remote-desktop APIs on the session
 * bus (what gnome-remote-desktop uses): monitors from DisplayConfig,
 * capture of a monitor's ScreenCast stream (PipeWire, frames on change)
 * into GStreamer's encoders, input and clipboard through a RemoteDesktop
 * session. No consent prompt: these APIs are for the session's own
 * services, which is what SmolDesk is when it runs in that session. The
 * pointer is drawn into the video; monitors are not resized.
 */
export class GnomeBackend implements DisplayBackend {
  readonly kind = 'gnome'
  readonly displayServer = 'Wayland'
  readonly x11Display = undefined
  readonly description: string
  readonly #o: GnomeBackendOptions
  #session: Promise<MutterSession> | undefined
  #injector: Promise<RemoteDesktopInjector> | undefined
  #clipboard: Promise<GnomeClipboard> | undefined
  /** Whether the remote-desktop session runs (input or clipboard asked for it). */
  #inputStarted: Promise<void> | undefined
  #layout: LayoutBox = { x: 0, y: 0, width: 1, height: 1 }
  readonly #watchers = new Set<() => void>()
  #closing: Promise<void> | undefined

  constructor(options: GnomeBackendOptions) {
    this.#o = options
    this.description = `GNOME (mutter, ${options.env.WAYLAND_DISPLAY})`
  }

  async monitors(): Promise<MonitorInfo[]> {
    const monitors = await (await this.#connection()).monitors()
    this.#layout = layoutBox(monitors) ?? this.#layout
    return monitors
  }

  async watchMonitors(onChange: () => void): Promise<boolean> {
    await this.#connection()
    this.#watchers.add(onChange)
    return true
  }

  captureSource(): CaptureSource {
    // mutter records the monitor for each encoder; the recording ends with the process.
    return new PipeWireCaptureSource('GNOME', this.#o.env, (output, program) => ({
      executable: MUTTER_HELPER,
      args: ['cast', output, '--', ...program],
    }))
  }

  async injector(): Promise<InputInjector> {
    this.#injector = reopenIfClosed(this.#injector, async () => {
      const session = await this.#remoteDesktop()
      return new RemoteDesktopInjector(session, () => this.#layout)
    })
    return this.#injector
  }

  async clipboard(onChange: (change: ClipboardChange) => void): Promise<Clipboard> {
    this.#clipboard = reopenIfClosed(this.#clipboard, async () => {
      const session = await this.#remoteDesktop()
      const clipboard = new GnomeClipboard(session, this.#o.clipboardMaxBytes)
      clipboard.onChange(onChange)
      return clipboard
    })
    return this.#clipboard
  }

  async cursor(): Promise<CursorSource | undefined> {
    return undefined
  }

  resizer(): ResizeBackend | undefined {
    return undefined
  }

  /** One frame of the monitor's stream, scaled and made a JPEG by GStreamer. */
  async snapshot(monitor: MonitorInfo, width: number): Promise<Buffer> {
    if (!/^[\w.-]+$/.test(monitor.name)) throw unsupportedOn(this, `monitor ${monitor.name}`)
    const w = Math.max(2, Math.min(monitor.width, Math.round(width)) & ~1)
    const h = Math.max(2, Math.round((monitor.height * w) / monitor.width) & ~1)
    // biome-ignore format: one element per line
    const gst = ['gst-launch-1.0', '-q',
      'pipewiresrc', 'path=@NODE@', 'num-buffers=1', 'always-copy=true', '!',
      'videoconvert', '!', 'videoscale', '!', `video/x-raw,width=${w},height=${h}`, '!',
      'jpegenc', 'quality=80', '!', 'fdsink', 'fd=1']
    return pictureFrom(MUTTER_HELPER, ['cast', monitor.name, '--', ...gst], {
      ...process.env,
      ...this.#o.env,
    })
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#watchers.clear()
      const session = await this.#session?.catch(() => undefined)
      session?.close()
    })()
    return this.#closing
  }

  /** The helper, opened on first use and again after it ended. */
  #connection(): Promise<MutterSession> {
    if (this.#closing)
      return Promise.reject(new SmolDeskError('DISPLAY_ERROR', `${this.description} is closed`))
    this.#session = reopenIfClosed(this.#session, async () => {
      this.#inputStarted = undefined
      const session = await MutterSession.open(this.#o.env, this.#o.clipboardMaxBytes)
      session.on('changed', () => this.#onLayoutChanged())
      session.on('closed', () => {
        this.#inputStarted = undefined
      })
      return session
    })
    return this.#session
  }

  /** The helper with its remote-desktop session running (streams for the monitors of now). */
  async #remoteDesktop(): Promise<MutterSession> {
    const session = await this.#connection()
    this.#inputStarted ??= this.monitors().then((monitors) => session.startInput(monitors))
    try {
      await this.#inputStarted
    } catch (err) {
      this.#inputStarted = undefined
      throw err
    }
    return session
  }

  #onLayoutChanged(): void {
    for (const watcher of this.#watchers) watcher()
    if (!this.#inputStarted) return
    // Absolute positions go through a stream per monitor: the session follows the new layout.
    void this.#connection()
      .then(async (session) => {
        const started = this.monitors().then((monitors) => session.startInput(monitors))
        this.#inputStarted = started
        await started
      })
      .catch((err: unknown) =>
        log.warn({ err: String(err) }, 'input session could not follow the new layout'),
      )
  }
}
