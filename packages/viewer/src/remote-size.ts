import { createLogger } from './log.ts'

const log = createLogger('remote-size')

/** A window being dragged to a new size fires many events: the host is asked once it rests this long. */
export const RESIZE_DEBOUNCE_MS = 300

/** An element's size in device pixels, even (4:2:0 video wants even sizes): one video pixel per screen pixel. */
export function deviceSize(
  cssWidth: number,
  cssHeight: number,
  ratio: number,
): { width: number; height: number } {
  const even = (n: number) => Math.max(2, Math.round(n) - (Math.round(n) % 2))
  return { width: even(cssWidth * ratio), height: even(cssHeight * ratio) }
}

/**
 * Asks the host to give the remote monitor the size of the viewer's
 * stage, in device pixels (CSS pixels × devicePixelRatio, so a 2× screen
 * gets a sharp picture), when it settles after a change; the host clamps
 * and coalesces. Framework-free: the page turns it on and off.
 */
export class RemoteSizeFollower {
  readonly #element: HTMLElement
  readonly #ask: (size: { width: number; height: number }) => Promise<void>
  #observer: ResizeObserver | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #last: string | undefined

  constructor(element: HTMLElement, ask: (size: { width: number; height: number }) => Promise<void>) {
    this.#element = element
    this.#ask = ask
  }

  get following(): boolean {
    return this.#observer !== undefined
  }

  /** Starts following (asks at once for the current size); idempotent. */
  start(): void {
    if (this.#observer) return
    this.#last = undefined
    this.#observer = new ResizeObserver(() => this.#schedule())
    this.#observer.observe(this.#element)
    window.addEventListener('resize', this.#onWindow)
    this.#schedule(0)
  }

  /** Stops following; the host gives the monitor its size back when this viewer leaves. Idempotent. */
  stop(): void {
    this.#observer?.disconnect()
    this.#observer = undefined
    window.removeEventListener('resize', this.#onWindow)
    clearTimeout(this.#timer)
  }

  // devicePixelRatio changes (a move to another screen, browser zoom) fire a window resize.
  readonly #onWindow = () => this.#schedule()

  #schedule(delayMs = RESIZE_DEBOUNCE_MS): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      const box = this.#element.getBoundingClientRect()
      if (box.width < 1 || box.height < 1) return
      const size = deviceSize(box.width, box.height, window.devicePixelRatio || 1)
      const key = `${size.width}x${size.height}`
      if (key === this.#last) return
      this.#last = key
      this.#ask(size).catch((err: unknown) => {
        this.#last = undefined
        log.warn({ err: String(err), ...size }, 'the host did not take this window size')
      })
    }, delayMs)
  }
}
