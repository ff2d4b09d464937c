import {
  type CursorImage,
  encodeButton,
  encodeKey,
  encodeRelativeMove,
  encodeRelease,
  encodeScroll,
  encodeText,
} from '@smoldesk/protocol'
import { PointerMotion } from './pointer-motion.ts'
import { type SpecialKey, specialKeyFrames } from './special-keys.ts'
import { TouchGestures, type TouchMode } from './touch.ts'

const BUTTONS = ['Left', 'Middle', 'Right', 'Back', 'Forward'] as const
/** DOM wheel deltaMode → pixels per unit (0 pixels, 1 lines, 2 pages). */
const WHEEL_UNIT_PX = [1, 40, 800]

export type SendInput = (frame: Uint8Array, motion: boolean) => void

/** What the page decides: the touch mode, the view's local zoom and pan, where keyboard focus goes back to. */
export interface PageHooks {
  mode: () => TouchMode
  zoomed: () => boolean
  /** Ctrl+Alt+Shift was pressed: keyboard focus leaves the remote screen for the page's controls. */
  onLeave?: () => void
  /** Pinch: zoom by factor about a point in client coordinates. */
  onZoom: (factor: number, at: { x: number; y: number }) => void
  /** Two-finger drag on a zoomed view: pan by CSS pixels. */
  onPan: (dx: number, dy: number) => void
  /** The picture's whole size, where the host may send it smaller (the session state says). */
  fullSize?: () => { width: number; height: number } | undefined
}

/**
 * Captures mouse, wheel and keyboard on the video element and sends them in
 * the binary input format. Coordinates are in the whole picture's pixels,
 * so the host can map them onto the monitor whatever size the video is
 * shown at, and whatever size it is sent at: a narrow path can make the
 * video half its size (the host's congestion control), and the ratio of
 * the two is taken from the video's current size, so a pointer stays where
 * it is across the switch.
 */
export class InputCapture {
  readonly #video: HTMLVideoElement
  readonly #send: SendInput
  readonly #page: PageHooks | undefined
  #seq = 0
  readonly #motion: PointerMotion

  constructor(video: HTMLVideoElement, send: SendInput, page?: PageHooks) {
    this.#video = video
    this.#send = send
    this.#page = page
    this.#motion = new PointerMotion(send, () => this.#next())
  }

  /** Starts listening; returns the function that stops it. */
  attach(): () => void {
    const video = this.#video
    video.tabIndex = 0
    const listeners: [string, (ev: Event) => void, AddEventListenerOptions?][] = [
      ['pointermove', (ev) => this.#onMove(ev as PointerEvent)],
      ['pointerdown', (ev) => this.#onButton(ev as PointerEvent, true)],
      ['pointerup', (ev) => this.#onButton(ev as PointerEvent, false)],
      ['wheel', (ev) => this.#onWheel(ev as WheelEvent), { passive: false }],
      ['contextmenu', (ev) => ev.preventDefault()],
      ['keydown', (ev) => this.#onKey(ev as KeyboardEvent, true)],
      ['keyup', (ev) => this.#onKey(ev as KeyboardEvent, false)],
      // Leaving the page must not leave a key or button held on the host.
      ['blur', () => this.#send(encodeRelease(this.#next()), false)],
    ]
    for (const [type, listener, options] of listeners) video.addEventListener(type, listener, options)
    const detachTouch = new TouchGestures({
      element: video,
      send: this.#send,
      move: (x, y) => this.#motion.move(x, y),
      toVideo: (p) => this.#toVideo(p),
      nextSeq: () => this.#next(),
      videoSize: () => this.#screenSize(),
      mode: () => this.#page?.mode() ?? 'direct',
      zoomed: () => this.#page?.zoomed() ?? false,
      onZoom: (factor, at) => this.#page?.onZoom(factor, at),
      onPan: (dx, dy) => this.#page?.onPan(dx, dy),
    }).attach()
    return () => {
      for (const [type, listener] of listeners) video.removeEventListener(type, listener)
      detachTouch()
      this.#motion.close()
    }
  }

  /** Shows the host's pointer shape as the local cursor over the video: it moves with no delay. */
  setCursor(cursor: CursorImage): void {
    const canvas = document.createElement('canvas')
    canvas.width = cursor.width
    canvas.height = cursor.height
    const ctx = canvas.getContext('2d')
    if (!ctx) return
    ctx.putImageData(new ImageData(new Uint8ClampedArray(cursor.rgba), cursor.width, cursor.height), 0, 0)
    this.#video.style.cursor = `url(${canvas.toDataURL('image/png')}) ${cursor.xhot} ${cursor.yhot}, auto`
  }

  /** Sends one of the allow-listed combinations (see special-keys.ts). */
  sendSpecial(name: SpecialKey): void {
    for (const frame of specialKeyFrames(name, () => this.#next())) this.#send(frame, false)
  }

  #next(): number {
    this.#seq = (this.#seq + 1) >>> 0
    return this.#seq
  }

  /** Presses and releases one key by DOM code (the on-screen keyboard's Backspace, Enter…). */
  tapKey(code: string): void {
    this.#send(encodeKey(this.#next(), code, true, []), false)
    this.#send(encodeKey(this.#next(), code, false, []), false)
  }

  /** Lets go of everything held on the host (input turned off, page hidden). */
  releaseAll(): void {
    this.#send(encodeRelease(this.#next()), false)
  }

  /** Types text as-is on the host (the on-screen keyboard, whatever the host's layout). */
  sendText(text: string): void {
    if (text) this.#send(encodeText(this.#next(), text), false)
  }

  /** The whole picture's size: the host's word, else the video's own. */
  #screenSize(): { width: number; height: number } {
    return this.#page?.fullSize?.() ?? { width: this.#video.videoWidth, height: this.#video.videoHeight }
  }

  /** Client coordinates → the whole picture's pixels, through object-fit letterboxing or cropping (and any zoom). */
  #toVideo(
    ev: { clientX: number; clientY: number } | { x: number; y: number },
  ): { x: number; y: number } | undefined {
    const client = 'clientX' in ev ? { x: ev.clientX, y: ev.clientY } : ev
    const video = this.#video
    if (video.videoWidth === 0) return undefined
    const rect = video.getBoundingClientRect()
    // contain (fit, 1:1) letterboxes: the smaller ratio; cover (fill) crops: the larger one.
    const ratios = [rect.width / video.videoWidth, rect.height / video.videoHeight] as const
    const scale = video.style.objectFit === 'cover' ? Math.max(...ratios) : Math.min(...ratios)
    const left = rect.left + (rect.width - video.videoWidth * scale) / 2
    const top = rect.top + (rect.height - video.videoHeight * scale) / 2
    const screen = this.#screenSize()
    return {
      x: ((client.x - left) / scale) * (screen.width / video.videoWidth),
      y: ((client.y - top) / scale) * (screen.height / video.videoHeight),
    }
  }

  /** Relative mode: the browser hides the pointer and reports only movement (games, 3D apps). */
  lockPointer(): void {
    void this.#video.requestPointerLock()
  }

  #onMove(ev: PointerEvent): void {
    if (ev.pointerType === 'touch') return // TouchGestures handles fingers
    if (document.pointerLockElement === this.#video) {
      this.#send(encodeRelativeMove(this.#next(), ev.movementX, ev.movementY), true)
      return
    }
    const at = this.#toVideo(ev)
    if (!at) return
    this.#motion.move(at.x, at.y)
  }

  #onButton(ev: PointerEvent, pressed: boolean): void {
    if (ev.pointerType === 'touch') return
    const at = this.#toVideo(ev)
    const button = BUTTONS[ev.button]
    if (!at || !button) return
    if (pressed) this.#video.focus()
    ev.preventDefault()
    this.#send(encodeButton(this.#next(), button, pressed, at.x, at.y), false)
  }

  #onWheel(ev: WheelEvent): void {
    ev.preventDefault()
    const unit = WHEEL_UNIT_PX[ev.deltaMode] ?? 1
    this.#send(encodeScroll(this.#next(), ev.deltaX * unit, ev.deltaY * unit), false)
  }

  #onKey(ev: KeyboardEvent, pressed: boolean): void {
    if (!ev.code) return
    ev.preventDefault() // the remote desktop gets the keys, not the browser
    // Every key goes to the remote, Tab included: Ctrl+Alt+Shift is the way back to the page's controls.
    if (
      pressed &&
      ev.ctrlKey &&
      ev.altKey &&
      ev.shiftKey &&
      /^(Shift|Control|Alt)(Left|Right)$/.test(ev.code)
    ) {
      this.releaseAll()
      this.#page?.onLeave?.()
      return
    }
    // A dead key composes with the next one (^ then e is ê) and AltGr only picks a character of
    // the next key: the browser hands us that character, which is what goes to the host.
    if (ev.key === 'Dead' || ev.key === 'AltGraph' || ev.isComposing) return
    // AltGr on Windows reads as Control+Alt: it is not a shortcut.
    const altGraph = ev.getModifierState?.('AltGraph') ?? false
    const modifiers = (
      [
        ['Shift', ev.shiftKey],
        ['Control', ev.ctrlKey && !altGraph],
        ['Alt', ev.altKey && !altGraph],
        ['Meta', ev.metaKey],
      ] as const
    )
      .filter(([, on]) => on)
      .map(([name]) => name)
    this.#send(encodeKey(this.#next(), ev.code, pressed, modifiers, typedCharacter(ev)), false)
  }
}

/**
 * The character the viewer's layout typed with a key press, if it is one
 * (KeyboardEvent.key is a key name such as "Enter" or "Shift" otherwise):
 * the host types it whatever its own layout, unless it is a shortcut.
 */
export function typedCharacter(ev: Pick<KeyboardEvent, 'key' | 'type'>): string | undefined {
  if (ev.type !== 'keydown') return undefined
  const chars = [...ev.key]
  return chars.length === 1 && !/[\p{Cc}]/u.test(ev.key) ? ev.key : undefined
}
