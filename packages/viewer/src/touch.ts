import { encodeButton, encodeMove, encodeScroll } from '@smoldesk/protocol'
import type { SendInput } from './input.ts'

/** Thresholds a finger must cross, in CSS pixels and milliseconds. */
export const TOUCH = {
  tapMaxMovePx: 10,
  tapMaxMs: 300,
  longPressMs: 500,
} as const

type Point = { x: number; y: number }

/**
 * Direct-touch gestures on the video, turned into the same input frames a
 * mouse makes: tap = left click, long press = right click, one-finger drag
 * = left-button drag, two-finger drag = scroll, pinch = zoom of the view
 * (local only). Framework-free; `toVideo` maps client to video pixels.
 */
export class TouchGestures {
  readonly #element: HTMLElement
  readonly #send: SendInput
  readonly #toVideo: (p: Point) => Point | undefined
  readonly #next: () => number
  readonly #onZoom: (factor: number) => void
  #start: { at: Point; time: number } | undefined
  #dragging = false
  #longPress: ReturnType<typeof setTimeout> | undefined
  #longPressed = false
  #pair: { centre: Point; distance: number } | undefined

  constructor(options: {
    element: HTMLElement
    send: SendInput
    toVideo: (p: Point) => Point | undefined
    nextSeq: () => number
    onZoom: (factor: number) => void
  }) {
    this.#element = options.element
    this.#send = options.send
    this.#toVideo = options.toVideo
    this.#next = options.nextSeq
    this.#onZoom = options.onZoom
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
      if (dx !== 0 || dy !== 0) this.#send(encodeScroll(this.#next(), dx, dy), false)
      if (this.#pair.distance > 0 && Math.abs(now.distance / this.#pair.distance - 1) > 0.02) {
        this.#onZoom(now.distance / this.#pair.distance)
      }
      this.#pair = now
      return
    }
    const t = ev.touches[0]
    if (ev.touches.length !== 1 || !t || !this.#start) return
    const at = { x: t.clientX, y: t.clientY }
    const moved = Math.hypot(at.x - this.#start.at.x, at.y - this.#start.at.y)
    if (!this.#dragging && moved > TOUCH.tapMaxMovePx && !this.#longPressed) {
      clearTimeout(this.#longPress)
      this.#dragging = true
      const origin = this.#toVideo(this.#start.at)
      if (origin) this.#send(encodeButton(this.#next(), 'Left', true, origin.x, origin.y), false)
    }
    const v = this.#toVideo(at)
    if (this.#dragging && v) this.#send(encodeMove(this.#next(), v.x, v.y), true)
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
    if (start && !this.#longPressed && performance.now() - start.time <= TOUCH.tapMaxMs)
      this.#click(start.at, 'Left')
  }

  #endDrag(touch?: Touch): void {
    if (!this.#dragging) return
    this.#dragging = false
    const v = touch ? this.#toVideo({ x: touch.clientX, y: touch.clientY }) : undefined
    this.#send(encodeButton(this.#next(), 'Left', false, v?.x ?? 0, v?.y ?? 0), false)
  }

  #click(at: Point, button: 'Left' | 'Right'): void {
    const v = this.#toVideo(at)
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
