import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import type { CaptureSource } from '../../capture/capture-source.ts'
import type { Clipboard, ClipboardChange } from '../../clipboard/clipboard.ts'
import type { InputInjector } from '../../input/injector.ts'
import { type CursorSource, closeOpened, type DisplayBackend, reopenIfClosed } from '../backend.ts'
import type { ResizeBackend } from '../resize-service.ts'
import { X11Connection } from './connection.ts'
import { CursorWatcher } from './cursor-watcher.ts'
import { listX11Monitors } from './monitors.ts'
import { watchRandr } from './randr.ts'
import { X11CaptureSource } from './x11-capture.ts'
import { X11Clipboard } from './x11-clipboard.ts'
import { x11ResizeBackend } from './x11-resize-backend.ts'
import { Thumbnails } from './x11-thumbnail.ts'
import { XTestInjector } from './xtest-injector.ts'

export interface X11BackendOptions {
  /** The X display (`:1`); undefined when none was found: every part then answers NO_DISPLAY. */
  display: string | undefined
  /** Capture with SmolDesk's helper where it applies (HostOptions.captureHelper). */
  captureHelper: boolean
  clipboardMaxBytes: number
}

/**
 * An X display: RandR monitors, XShm/ffmpeg capture, XTEST input with the
 * server's keymap, the X selections, XFixes cursor shapes, xrandr resizing
 * of the dummy driver's outputs. One persistent connection for queries,
 * opened on first use and reopened if the server dropped it; input,
 * clipboard and cursor each keep their own (their events must not wait
 * behind each other).
 */
export class X11Backend implements DisplayBackend {
  readonly kind = 'x11'
  readonly displayServer = 'X11'
  readonly x11Display: string | undefined
  readonly description: string
  readonly #o: X11BackendOptions
  readonly #thumbnails = new Thumbnails()
  #conn: Promise<X11Connection> | undefined
  #injector: Promise<XTestInjector> | undefined
  #clipboard: Promise<X11Clipboard> | undefined
  #cursor: Promise<CursorWatcher> | undefined
  #closing: Promise<void> | undefined

  constructor(options: X11BackendOptions) {
    this.#o = options
    this.x11Display = options.display
    this.description = options.display ? `X11 ${options.display}` : 'no display'
  }

  async monitors(): Promise<MonitorInfo[]> {
    return listX11Monitors(await this.#connection())
  }

  async watchMonitors(onChange: () => void): Promise<boolean> {
    return watchRandr(await this.#connection(), onChange)
  }

  captureSource(): CaptureSource {
    return new X11CaptureSource(() => this.#require('to capture'), this.#o.captureHelper)
  }

  async injector(): Promise<InputInjector> {
    const display = this.#require('for input')
    this.#injector = reopenIfClosed(this.#injector, () => XTestInjector.open(display))
    return this.#injector
  }

  async clipboard(onChange: (change: ClipboardChange) => void): Promise<Clipboard> {
    const display = this.#require('for the clipboard')
    this.#clipboard = reopenIfClosed(this.#clipboard, async () => {
      const clipboard = await X11Clipboard.open(display, this.#o.clipboardMaxBytes)
      clipboard.onChange(onChange)
      return clipboard
    })
    return this.#clipboard
  }

  async cursor(): Promise<CursorSource | undefined> {
    const display = this.#require('for the cursor')
    this.#cursor = reopenIfClosed(this.#cursor, () => CursorWatcher.open(display))
    return this.#cursor
  }

  resizer(): ResizeBackend | undefined {
    return this.#o.display ? x11ResizeBackend(this.#o.display) : undefined
  }

  async snapshot(monitor: MonitorInfo, width: number): Promise<Buffer> {
    return this.#thumbnails.get(this.#require('to take a picture of'), monitor, width)
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await closeOpened(this.#injector)
      await closeOpened(this.#cursor)
      await closeOpened(this.#clipboard)
      await closeOpened(this.#conn)
    })()
    return this.#closing
  }

  /** The X display every part talks to, or NO_DISPLAY naming what needed it. */
  #require(what: string): string {
    if (!this.#o.display)
      throw new SmolDeskError('NO_DISPLAY', `no X display ${what}: set DISPLAY or pass --display :N`)
    return this.#o.display
  }

  async #connection(): Promise<X11Connection> {
    const display = this.#require('to query')
    this.#conn = reopenIfClosed(this.#conn, () => X11Connection.open(display))
    return this.#conn
  }
}
