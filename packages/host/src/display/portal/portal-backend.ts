import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import type { CaptureSource } from '../../capture/capture-source.ts'
import type { Clipboard } from '../../clipboard/clipboard.ts'
import type { InputInjector } from '../../input/injector.ts'
import { createLogger } from '../../log.ts'
import type { PortalEnv, PortalMode } from '../../options.ts'
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
import { PortalSession } from './portal-session.ts'

const log = createLogger('display.portal')

/** The portal's restore token, kept between runs (only the screen-only grant persists). */
const TOKEN_FILE = 'portal-restore-token'
/** Monitor names: the portal gives streams, not connectors. */
const NAME_PREFIX = 'screen-'

export interface PortalBackendOptions {
  env: PortalEnv
  mode: PortalMode
  /** Where the restore token is kept (the host's state dir). */
  stateDir: string
}

/**
 * A Wayland desktop shared through the desktop portal
 * (org.freedesktop.portal.ScreenCast and .RemoteDesktop), the way that
 * works on any desktop with a portal backend (GNOME, KDE, wlroots' for the
 * screen only) and the only one into a desktop that keeps its own APIs to
 * itself. The desktop asks its user what to share when the session starts
 * (on first use); the monitors are the streams they chose, captured from
 * PipeWire like GNOME's. In 'control' mode the user is asked again at every
 * start (portals do not persist remote control); in 'view' mode the grant
 * is remembered by a restore token in the state dir. The portal of Debian 12
 * (1.16) has no clipboard, cursor shapes or monitor resizing.
 */
export class PortalBackend implements DisplayBackend {
  readonly kind = 'portal'
  readonly displayServer = 'Wayland'
  readonly x11Display = undefined
  readonly description: string
  readonly #o: PortalBackendOptions
  #injector: Promise<RemoteDesktopInjector> | undefined
  #layout: LayoutBox = { x: 0, y: 0, width: 1, height: 1 }
  #closing: Promise<void> | undefined

  constructor(options: PortalBackendOptions) {
    this.#o = options
    this.description = `the desktop portal (${options.env.WAYLAND_DISPLAY}, ${options.mode === 'view' ? 'view only' : 'screen and input'})`
  }

  async monitors(): Promise<MonitorInfo[]> {
    const { streams } = await this.#granted()
    const monitors = streams.map((s, index) => ({
      index,
      name: `${NAME_PREFIX}${index + 1}`,
      x: s.x,
      y: s.y,
      width: s.width,
      height: s.height,
      // The portal does not say; the stream gives what the compositor draws.
      refresh_rate: 60,
      scale_factor: 1,
      is_primary: index === 0,
    }))
    this.#layout = layoutBox(monitors) ?? this.#layout
    return monitors
  }

  /** The portal tells nothing of layout changes: the streams are what was granted. */
  async watchMonitors(): Promise<boolean> {
    return false
  }

  captureSource(): CaptureSource {
    return new PipeWireCaptureSource('the desktop portal', { ...this.#o.env }, (output, program) => {
      const node = this.#nodeOf(output)
      const [executable = '', ...args] = program.map((arg) => arg.replaceAll('@NODE@', String(node)))
      return { executable, args }
    })
  }

  async injector(): Promise<InputInjector> {
    this.#injector = reopenIfClosed(this.#injector, async () => {
      const session = await this.#granted()
      if (!session.input) {
        throw unsupportedOn(
          this,
          this.#o.mode === 'view'
            ? 'input (it shares the screen only: SMOLDESK_PORTAL=view)'
            : 'input (the desktop granted the screen only)',
        )
      }
      await this.monitors()
      return new RemoteDesktopInjector(session, () => this.#layout)
    })
    return this.#injector
  }

  async clipboard(): Promise<Clipboard> {
    throw unsupportedOn(this, 'the clipboard (the portal has no clipboard interface before version 1.18)')
  }

  async cursor(): Promise<CursorSource | undefined> {
    return undefined
  }

  resizer(): ResizeBackend | undefined {
    return undefined
  }

  /** One frame of the monitor's stream, scaled and made a JPEG by GStreamer. */
  async snapshot(monitor: MonitorInfo, width: number): Promise<Buffer> {
    await this.#granted()
    const node = this.#nodeOf(monitor.name)
    const w = Math.max(2, Math.min(monitor.width, Math.round(width)) & ~1)
    const h = Math.max(2, Math.round((monitor.height * w) / monitor.width) & ~1)
    // biome-ignore format: one element per line
    const gst = ['-q',
      'pipewiresrc', `path=${node}`, 'num-buffers=1', 'always-copy=true', '!',
      'videoconvert', '!', 'videoscale', '!', `video/x-raw,width=${w},height=${h}`, '!',
      'jpegenc', 'quality=80', '!', 'fdsink', 'fd=1']
    return pictureFrom('gst-launch-1.0', gst, { ...process.env, ...this.#o.env })
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#current?.close()
      // A question still before the user ends with its helper (the portal takes its dialog away).
      this.#stop.abort()
      await this.#asking?.catch(() => undefined)
    })()
    return this.#closing
  }

  #nodeOf(output: string): number {
    const index = output.startsWith(NAME_PREFIX) ? Number(output.slice(NAME_PREFIX.length)) - 1 : -1
    const session = this.#current
    if (session?.closed) {
      throw new SmolDeskError(
        'DISPLAY_ERROR',
        'the desktop portal ended the screen share (its user may have stopped it)',
      )
    }
    const stream = session?.streams[index]
    if (!stream)
      throw new SmolDeskError('MONITOR_NOT_FOUND', `the desktop portal shares no monitor called ${output}`)
    return stream.node
  }

  /** The session granted last (capture runs after monitors() opened it). */
  #current: PortalSession | undefined
  /** The question before the desktop's user, while it stands: every caller waits for the one answer. */
  #asking: Promise<PortalSession> | undefined
  readonly #stop = new AbortController()

  /**
   * The granted session: asked for on first use, and again after it ended
   * or was declined — by the next use, not by those that waited for the
   * answer (a no is theirs too: one question, one answer).
   */
  #granted(): Promise<PortalSession> {
    if (this.#closing)
      return Promise.reject(new SmolDeskError('DISPLAY_ERROR', `${this.description} is closed`))
    if (this.#current && !this.#current.closed) return Promise.resolve(this.#current)
    this.#asking ??= this.#ask().finally(() => {
      this.#asking = undefined
    })
    return this.#asking
  }

  async #ask(): Promise<PortalSession> {
    const restoreToken = this.#o.mode === 'view' ? await this.#readToken() : undefined
    log.info(
      { mode: this.#o.mode, restoring: restoreToken !== undefined },
      'asking the desktop portal to share',
    )
    const session = await PortalSession.open(
      { ...this.#o.env },
      {
        input: this.#o.mode === 'control',
        restoreToken,
        signal: this.#stop.signal,
      },
    )
    if (this.#closing) {
      session.close()
      throw new SmolDeskError('DISPLAY_ERROR', `${this.description} is closed`)
    }
    this.#current = session
    if (session.restoreToken && session.restoreToken !== restoreToken)
      await this.#writeToken(session.restoreToken)
    session.once('closed', () => log.info('the desktop portal ended the session'))
    return session
  }

  async #readToken(): Promise<string | undefined> {
    const text = await readFile(join(this.#o.stateDir, TOKEN_FILE), 'utf8').catch(() => '')
    const token = text.trim()
    // A token is the portal's own word (a UUID on GNOME): anything else is not passed on.
    return /^[\w-]{1,200}$/.test(token) ? token : undefined
  }

  async #writeToken(token: string): Promise<void> {
    try {
      await mkdir(this.#o.stateDir, { recursive: true, mode: 0o700 })
      const file = join(this.#o.stateDir, TOKEN_FILE)
      // A token restores a screen share without asking: readable by this user only.
      await writeFile(file, `${token}\n`, { mode: 0o600 })
      await chmod(file, 0o600)
    } catch (err) {
      log.warn({ err: String(err) }, 'the portal restore token could not be kept; the desktop will ask again')
    }
  }
}
