import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'

const log = createLogger('display.resize')

/** The smallest monitor a viewer may ask for (a phone held upright is about 360 CSS px wide). */
export const MIN_RESIZE = { width: 320, height: 240 } as const
/** The largest: 4K. Past it a software encoder on a small host makes no frames worth having. */
export const MAX_RESIZE = { width: 3840, height: 2160 } as const
/** A viewer's window changes size in bursts: the monitor follows at most this often. */
export const RESIZE_INTERVAL_MS = 500

/** What a display backend offers for resizing (X11: xrandr on the dummy driver's outputs). */
export interface ResizeBackend {
  /** Whether this monitor takes any size (a virtual output); a real screen does not. */
  canResize(monitor: MonitorInfo): boolean
  /** The largest screen (all monitors together) the display takes. */
  maxScreen(): Promise<{ width: number; height: number }>
  setSize(monitors: readonly MonitorInfo[], index: number, width: number, height: number): Promise<void>
}

export interface ResizeServiceOptions {
  backend: () => ResizeBackend | undefined
  monitors: () => Promise<MonitorInfo[]>
  /** The monitor viewers watch: the one a resize applies to. */
  target: () => number | undefined
  /** The host's consent (on for SmolDesk's own embedded desktop, the host's choice otherwise). */
  allowed: () => boolean
  /** Before a monitor changes size (the stream stops: its rectangle may not fit the new screen)… */
  beforeChange?: () => Promise<void>
  /** …and after, whether the change worked or not (the stream takes the new layout; viewers hear of it). */
  afterChange?: () => void
}

/** What a viewer's resize would do now. */
export type ResizeState = 'allowed' | 'not-allowed' | 'unsupported'

interface Pending {
  viewerId: string
  width: number
  height: number
  done: { resolve: (size: { width: number; height: number }) => void; reject: (err: unknown) => void }
}

/**
 * The remote screen fits the viewer's window: a viewer asks for its
 * window's size in device pixels and the watched monitor takes it (one
 * video pixel per device pixel, as neko, Selkies and KasmVNC do). Sizes are
 * clamped to what the display takes, a burst of requests is coalesced into
 * one change per RESIZE_INTERVAL_MS (the latest wins), and each monitor
 * goes back to its own size when the last viewer that resized it leaves.
 */
export class ResizeService {
  readonly #o: ResizeServiceOptions
  /** Each changed monitor's size before the first resize, by output name. */
  readonly #original = new Map<string, { width: number; height: number }>()
  readonly #resizedBy = new Set<string>()
  #pending: Pending | undefined
  #timer: NodeJS.Timeout | undefined
  #lastAppliedAt = 0
  #applying: Promise<void> = Promise.resolve()
  /** Whether the watched monitor takes any size, as last seen. */
  #supported: boolean | undefined
  #closed = false

  constructor(options: ResizeServiceOptions) {
    this.#o = options
  }

  async state(): Promise<ResizeState> {
    const backend = this.#o.backend()
    if (!backend) return 'unsupported'
    // Mid-change (xrandr at work, the encoder restarting) the monitor may be missing for a moment:
    // the last answer seen stands until the layout can be read again.
    const index = this.#o.target()
    const monitors = await this.#o.monitors().catch(() => undefined)
    const monitor = index === undefined ? undefined : monitors?.[index]
    if (monitor) this.#supported = backend.canResize(monitor)
    if (!this.#supported) return 'unsupported'
    return this.#o.allowed() ? 'allowed' : 'not-allowed'
  }

  /** A viewer asks for this size; resolves with the size given (clamped), or at once when a newer request replaces it. */
  async request(viewerId: string, width: number, height: number): Promise<{ width: number; height: number }> {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
      throw new SmolDeskError('INVALID_ARGS', `${width}x${height} is not a screen size`)
    const state = await this.state()
    if (state === 'unsupported')
      throw new SmolDeskError(
        'UNAVAILABLE',
        'this display cannot take the size of your window (not a virtual monitor)',
      )
    if (state === 'not-allowed')
      throw new SmolDeskError('FORBIDDEN', 'the host does not let viewers resize its screen')
    return new Promise((resolve, reject) => {
      const previous = this.#pending
      this.#pending = { viewerId, width, height, done: { resolve, reject } }
      // Superseded: its answer is the newer one's business.
      previous?.done.resolve({ width: previous.width, height: previous.height })
      if (!this.#timer) {
        const wait = Math.max(0, this.#lastAppliedAt + RESIZE_INTERVAL_MS - Date.now())
        this.#timer = setTimeout(() => {
          this.#timer = undefined
          this.#applying = this.#applying.then(() => this.#applyPending())
        }, wait)
      }
    })
  }

  /** A viewer left: once no viewer that resized is left, every monitor gets its own size back. */
  async viewerGone(viewerId: string): Promise<void> {
    if (!this.#resizedBy.delete(viewerId) || this.#resizedBy.size > 0) return
    this.#applying = this.#applying.then(() => this.#restore())
    await this.#applying
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    this.#pending?.done.reject(new SmolDeskError('UNAVAILABLE', 'the host is stopping'))
    this.#pending = undefined
    this.#resizedBy.clear()
    this.#applying = this.#applying.then(() => this.#restore())
    await this.#applying
  }

  async #applyPending(): Promise<void> {
    const job = this.#pending
    this.#pending = undefined
    if (!job || this.#closed) return
    try {
      const backend = this.#o.backend()
      const index = this.#o.target()
      if (!backend || index === undefined) throw new SmolDeskError('UNAVAILABLE', 'nothing is being shared')
      const monitors = await this.#o.monitors()
      const monitor = monitors[index]
      if (!monitor) throw new SmolDeskError('MONITOR_NOT_FOUND', `monitor ${index} is gone`)
      const size = await this.#clamp(backend, monitors, monitor, job)
      if (size.width !== monitor.width || size.height !== monitor.height) {
        if (!this.#original.has(monitor.name))
          this.#original.set(monitor.name, { width: monitor.width, height: monitor.height })
        await this.#change(() => backend.setSize(monitors, index, size.width, size.height))
        log.info({ viewer: job.viewerId, monitor: monitor.name, ...size }, 'monitor resized for a viewer')
      }
      this.#resizedBy.add(job.viewerId)
      job.done.resolve(size)
    } catch (err) {
      job.done.reject(err)
    } finally {
      this.#lastAppliedAt = Date.now()
    }
  }

  /** Even sizes (4:2:0 video), between MIN_RESIZE and MAX_RESIZE, and within the screen beside the other monitors. */
  async #clamp(
    backend: ResizeBackend,
    monitors: readonly MonitorInfo[],
    monitor: MonitorInfo,
    job: { width: number; height: number },
  ): Promise<{ width: number; height: number }> {
    const max = await backend.maxScreen()
    const others = monitors.filter((m) => m.index !== monitor.index).reduce((sum, m) => sum + m.width, 0)
    const even = (n: number) => n - (n % 2)
    return {
      width: even(Math.min(Math.max(job.width, MIN_RESIZE.width), max.width - others, MAX_RESIZE.width)),
      height: even(Math.min(Math.max(job.height, MIN_RESIZE.height), max.height, MAX_RESIZE.height)),
    }
  }

  async #change(apply: () => Promise<void>): Promise<void> {
    await this.#o.beforeChange?.()
    try {
      await apply()
    } finally {
      this.#o.afterChange?.()
    }
  }

  async #restore(): Promise<void> {
    const backend = this.#o.backend()
    if (!backend || this.#original.size === 0) return
    for (const [name, size] of this.#original) {
      try {
        const monitors = await this.#o.monitors()
        const monitor = monitors.find((m) => m.name === name)
        if (monitor && (monitor.width !== size.width || monitor.height !== size.height)) {
          await this.#change(() => backend.setSize(monitors, monitor.index, size.width, size.height))
          log.info({ monitor: name, ...size }, 'monitor back to its own size')
        }
      } catch (err) {
        log.warn({ monitor: name, err: String(err) }, 'could not give a monitor its own size back')
      }
    }
    this.#original.clear()
  }
}
