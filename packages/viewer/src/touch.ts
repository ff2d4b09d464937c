import { encodeButton, encodeScroll } from '@smoldesk/protocol'
import type { SendInput } from './input.ts'

/** Thresholds a finger must cross, in CSS pixels and milliseconds. */
export const TOUCH = {
  tapMaxMovePx: 10,
  tapMaxMs: 300,
  longPressMs: 500,
} as const

type Point = { x: number; y: number }

/**
 * direct: the finger is the pointer (tap where you want to click).
 * trackpad: the screen is a laptop touchpad; a finger's travel moves the
 * pointer from where it is, a tap clicks there (precise on a small screen).
 */
export type TouchMode = 'direct' | 'trackpad'
/** Trackpad mode: pointer travel per finger travel, in video pixels per CSS pixel of the view. */
const TRACKPAD_SPEED = 1.6

/**
 * Touch gestures on the video, turned into the same input frames a mouse
 * makes: tap = left click, long press = right click, one-finger drag =
 * left-button drag (direct) or pointer motion (trackpad), two-finger drag =
 * scroll (or pan, when the view is zoomed in), pinch = zoom of the view
 * about the fingers (local only). Framework-free; `toVideo` maps client to
 * video pixels.
 */
export class TouchGestures {
  readonly #element: HTMLElement
  readonly #send: SendInput
  readonly #toVideo: (p: Point) => Point | undefined
  readonly #next: () => number
  readonly #o: {
    move: (x: number, y: number) => void
    videoSize: () => { width: number; height: number }
    mode: () => TouchMode
    zoomed: () => boolean
    onZoom: (factor: number, at: Point) => void
    onPan: (dx: number, dy: number) => void
  }
  /** Trackpad mode's pointer, in video pixels (where the host's pointer is, as far as we moved it). */
  #pointer: Point | undefined
  #last: Point | undefined
  /** The finger went further than a tap may (trackpad): lifting it is no click. */
  #travelled = false
  #start: { at: Point; time: number } | undefined
  #dragging = false
  #longPress: ReturnType<typeof setTimeout> | undefined
  #longPressed = false
  #pair: { centre: Point; distance: number } | undefined

  constructor(options: {
    element: HTMLElement
    send: SendInput
    /** Absolute pointer motion (PointerMotion: unordered, and its resting place reliably). */
    move: (x: number, y: number) => void
    toVideo: (p: Point) => Point | undefined
    nextSeq: () => number
    videoSize: () => { width: number; height: number }
    mode: () => TouchMode
    zoomed: () => boolean
    onZoom: (factor: number, at: Point) => void
    onPan: (dx: number, dy: number) => void
  }) {
    this.#element = options.element
    this.#send = options.send
    this.#toVideo = options.toVideo
    this.#next = options.nextSeq
    this.#o = options
  }

  /** Trackpad mode: where the pointer is, in video pixels (starts in the middle). */
  get trackpadPointer(): Point {
    if (!this.#pointer) {
      const size = this.#o.videoSize()
      this.#pointer = { x: size.width / 2, y: size.height / 2 }
    }
    return this.#pointer
  }

  attach(): () => void {
    const el = this.#element
    el.style.touchAction = 'none' // the page must not pan or zoom itself
    const start = (ev: TouchEvent) => this.#onStart(ev)
    const move = (ev: TouchEvent) => this.#onMove(ev)
    const end = (ev: TouchEvent) => this.#onEnd(ev)
    el.addEventListener('touchstart', start, { passive: false })
    el.addEventListener('touchmove', move, { passive: false })
    el.addEventListener('touchend', end, { passive: false })
    el.addEventListener('touchcancel', end, { passive: false })
    return () => {
      el.removeEventListener('touchstart', start)
      el.removeEventListener('touchmove', move)
      el.removeEventListener('touchend', end)
      el.removeEventListener('touchcancel', end)
    }
  }

  #onStart(ev: TouchEvent): void {
    ev.preventDefault()
    clearTimeout(this.#longPress)
    if (ev.touches.length === 1) {
      const t = ev.touches[0]
      if (!t) return
      const at = { x: t.clientX, y: t.clientY }
      this.#start = { at, time: performance.now() }
      this.#last = at
      this.#travelled = false
      this.#dragging = false
      this.#longPressed = false
      this.#longPress = setTimeout(() => {
        this.#longPressed = true
        this.#click(at, 'Right')
      }, TOUCH.longPressMs)
    } else if (ev.touches.length === 2) {
      this.#endDrag()
      this.#start = undefined
      this.#pair = this.#measure(ev)
    }
  }

  #onMove(ev: TouchEvent): void {
    ev.preventDefault()
    if (ev.touches.length === 2 && this.#pair) {
      const now = this.#measure(ev)
      if (!now) return
      // Two fingers: the centre's travel scrolls (fingers up = content down, like a touchpad), the spread zooms.
      const dy = this.#pair.centre.y - now.centre.y
      const dx = this.#pair.centre.x - now.centre.x
      if (this.#pair.distance > 0 && Math.abs(now.distance / this.#pair.distance - 1) > 0.02) {
        this.#o.onZoom(now.distance / this.#pair.distance, now.centre)
        this.#pair = now
        return
      }
      // Zoomed in, two fingers move the view; otherwise they scroll the remote.
      if (this.#o.zoomed()) this.#o.onPan(-dx, -dy)
      else if (dx !== 0 || dy !== 0) this.#send(encodeScroll(this.#next(), dx, dy), false)
      this.#pair = { centre: now.centre, distance: this.#pair.distance }
      return
    }
    const t = ev.touches[0]
    if (ev.touches.length !== 1 || !t || !this.#start) return
    const at = { x: t.clientX, y: t.clientY }
    const moved = Math.hypot(at.x - this.#start.at.x, at.y - this.#start.at.y)
    if (this.#o.mode() === 'trackpad') {
      this.#trackpadMove(at, moved)
      return
    }
    if (!this.#dragging && moved > TOUCH.tapMaxMovePx && !this.#longPressed) {
      clearTimeout(this.#longPress)
      this.#dragging = true
      const origin = this.#toVideo(this.#start.at)
      if (origin) this.#send(encodeButton(this.#next(), 'Left', true, origin.x, origin.y), false)
    }
    const v = this.#toVideo(at)
    if (this.#dragging && v) this.#o.move(v.x, v.y)
  }

  #onEnd(ev: TouchEvent): void {
    ev.preventDefault()
    clearTimeout(this.#longPress)
    if (ev.touches.length > 0) return
    this.#pair = undefined
    const start = this.#start
    this.#start = undefined
    if (this.#dragging) {
      this.#endDrag(ev.changedTouches[0])
      return
    }
    if (start && !this.#longPressed && !this.#travelled && performance.now() - start.time <= TOUCH.tapMaxMs)
      this.#click(start.at, 'Left')
  }

  /** Trackpad: the finger's travel since the last event moves the pointer (no button is pressed). */
  #trackpadMove(at: Point, moved: number): void {
    const last = this.#last ?? at
    this.#last = at
    if (moved > TOUCH.tapMaxMovePx) {
      clearTimeout(this.#longPress)
      this.#travelled = true
    }
    const rect = this.#element.getBoundingClientRect()
    const size = this.#o.videoSize()
    if (rect.width === 0 || size.width === 0) return
    const perCss = (size.width / rect.width) * TRACKPAD_SPEED
    const p = this.trackpadPointer
    p.x = Math.min(size.width - 1, Math.max(0, p.x + (at.x - last.x) * perCss))
    p.y = Math.min(size.height - 1, Math.max(0, p.y + (at.y - last.y) * perCss))
    this.#o.move(p.x, p.y)
  }

  #endDrag(touch?: Touch): void {
    if (!this.#dragging) return
    this.#dragging = false
    const v = touch ? this.#toVideo({ x: touch.clientX, y: touch.clientY }) : undefined
    this.#send(encodeButton(this.#next(), 'Left', false, v?.x ?? 0, v?.y ?? 0), false)
  }

  #click(at: Point, button: 'Left' | 'Right'): void {
    // Trackpad taps click where the pointer is, not under the finger.
    const v = this.#o.mode() === 'trackpad' ? this.trackpadPointer : this.#toVideo(at)
    if (!v) return
    this.#send(encodeButton(this.#next(), button, true, v.x, v.y), false)
    this.#send(encodeButton(this.#next(), button, false, v.x, v.y), false)
  }

  #measure(ev: TouchEvent): { centre: Point; distance: number } | undefined {
    const [a, b] = [ev.touches[0], ev.touches[1]]
    if (!a || !b) return undefined
    return {
      centre: { x: (a.clientX + b.clientX) / 2, y: (a.clientY + b.clientY) / 2 },
      distance: Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY),
    }
  }
}
