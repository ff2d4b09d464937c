import { type CursorImage, type DisplayServer, type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import type { CaptureSource } from '../capture/capture-source.ts'
import type { Clipboard } from '../clipboard/clipboard.ts'
import type { InputInjector } from '../input/injector.ts'
import { collectOutput } from '../process/child.ts'
import type { ResizeBackend } from './resize-service.ts'

/** The display servers SmolDesk can share; each has its folder under display/. */
export type BackendKind = 'x11' | 'wlroots' | 'gnome' | 'portal'

/** The pointer's shape, followed so viewers draw it themselves (no waiting for the video). */
export interface CursorSource {
  readonly current: CursorImage | undefined
  onChange(listener: (cursor: CursorImage) => void): () => void
  close(): void
  readonly closed: boolean
}

/**
 * One display server, as every capability of the host sees it: its monitors
 * and their changes, how a monitor is grabbed, input, clipboard, cursor,
 * resizing and pictures for the monitor picker. The Host takes one, chosen
 * by a probe at start (openDisplayBackend), and never asks which it is;
 * what a backend cannot do it answers with UNSUPPORTED_ON_BACKEND naming
 * itself. Parts are opened on first use and reopened when their connection
 * dropped; `close()` is idempotent and closes them all.
 */
export interface DisplayBackend {
  readonly kind: BackendKind
  /** Words for people: "X11 :1", "sway (wayland-1)", "GNOME (mutter)". */
  readonly description: string
  readonly displayServer: DisplayServer
  /** The X display when the backend is X11 (status, the embedded desktop's clients); undefined on Wayland. */
  readonly x11Display: string | undefined
  monitors(): Promise<MonitorInfo[]>
  /** Calls back whenever the monitor layout may have changed; resolves to whether changes can be seen at all. */
  watchMonitors(onChange: () => void): Promise<boolean>
  /** A new capture source, one per encoder. */
  captureSource(): CaptureSource
  injector(): Promise<InputInjector>
  /** The clipboard; `onChange` listeners are the host's (set once when opened). */
  clipboard(onChange: Parameters<Clipboard['onChange']>[0]): Promise<Clipboard>
  /** The pointer's shape, or undefined where the display server does not tell (it is in the video then). */
  cursor(): Promise<CursorSource | undefined>
  /** Resizing monitors to a viewer's window, where the display takes arbitrary sizes. */
  resizer(): ResizeBackend | undefined
  /** A small JPEG of one monitor, `width` pixels wide. */
  snapshot(monitor: MonitorInfo, width: number): Promise<Buffer>
  close(): Promise<void>
}

/** What a backend answers for a capability its display server lacks. */
export function unsupportedOn(backend: Pick<DisplayBackend, 'description'>, what: string): SmolDeskError {
  return new SmolDeskError('UNSUPPORTED_ON_BACKEND', `${what} is not available on ${backend.description}`)
}

/** Keeps a lazily opened part; a failed or closed one is opened again on the next use. */
export function reopenIfClosed<T extends { closed?: boolean }>(
  current: Promise<T> | undefined,
  open: () => Promise<T>,
): Promise<T> {
  if (current) {
    return current.then(
      (value) => (value.closed ? open() : value),
      () => open(),
    )
  }
  return open()
}

/** Closes whatever a lazily opened part became (nothing if it never opened). */
export async function closeOpened(part: Promise<{ close(): unknown }> | undefined): Promise<void> {
  const opened = await part?.catch(() => undefined)
  await opened?.close()
}

/** The layout's bounding box, which absolute pointer positions are relative to. */
export interface LayoutBox {
  x: number
  y: number
  width: number
  height: number
}

/** The bounding box of a monitor layout; undefined for no monitors. */
export function layoutBox(monitors: readonly MonitorInfo[]): LayoutBox | undefined {
  if (monitors.length === 0) return undefined
  const x = Math.min(...monitors.map((m) => m.x))
  const y = Math.min(...monitors.map((m) => m.y))
  const right = Math.max(...monitors.map((m) => m.x + m.width))
  const bottom = Math.max(...monitors.map((m) => m.y + m.height))
  return { x, y, width: right - x, height: bottom - y }
}

const PICTURE_TIMEOUT_MS = 5000
const MAX_PICTURE_BYTES = 4 * 1024 * 1024

/** A monitor picture one process writes to stdout (bounded, given `input`); DISPLAY_ERROR when it fails. */
export async function pictureFrom(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: Buffer,
): Promise<Buffer> {
  const out = await collectOutput({
    name: command,
    command,
    args,
    env,
    timeoutMs: PICTURE_TIMEOUT_MS,
    maxBytes: MAX_PICTURE_BYTES,
    ...(input && { input }),
  })
  if (out.code !== 0 || out.stdout.length === 0 || out.overflow) {
    const why = out.stderr.trim().split('\n').slice(-2).join(' ') || `exit ${out.code}`
    throw new SmolDeskError('DISPLAY_ERROR', `${command} could not take the picture: ${why}`)
  }
  return out.stdout
}
