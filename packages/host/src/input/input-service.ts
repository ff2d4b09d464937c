import {
  type InputEvent,
  type InputForwardingConfig,
  type MonitorInfo,
  SmolDeskError,
} from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { MODIFIER_CODES } from './dom-keys.ts'
import type { InputInjector } from './injector.ts'

const log = createLogger('input')

const BUTTONS = { Left: 1, Middle: 2, Right: 3, Back: 8, Forward: 9 } as const
/**
 * How long a monitor layout read for input stays in use. Reading it costs
 * about ten X round trips (RandR, atoms, resources), too much for every
 * pointer motion; a layout change is picked up within this time.
 */
export const MONITOR_LAYOUT_TTL_MS = 1000
/** Wheel deltas are in pixels (the DOM's deltaMode 0); one wheel click per this many. */
export const PIXELS_PER_WHEEL_CLICK = 100

export interface InputServiceOptions {
  injector: () => Promise<InputInjector>
  monitors: () => Promise<MonitorInfo[]>
  /** The monitor being streamed, the default target of viewer coordinates. */
  capturedMonitor: () => number | undefined
}

/**
 * Remote input: the gate, coordinate mapping onto monitors, and bookkeeping
 * of what is held down, so that disabling input (or losing a viewer) never
 * leaves a key or button stuck.
 */
export class InputService {
  readonly #options: InputServiceOptions
  #enabled = true
  #forwarding: InputForwardingConfig = { enabled: true }
  readonly #heldKeys = new Set<number>()
  readonly #heldButtons = new Set<number>()
  /** Modifiers a KeyPress pressed on the event's behalf, released with its KeyRelease. */
  readonly #impliedModifiers = new Map<number, number[]>()
  #wheel = { x: 0, y: 0 }
  /** Keys pressed as the character the viewer's layout typed (DOM code → keycode pressed), until released. */
  readonly #characterKeys = new Map<string, number>()
  /**
   * Keys pressed by position (DOM code → keycode pressed), until released: the
   * release goes to the keycode that was pressed, even if the keymap changed
   * in between (a key left down would repeat until something released it).
   */
  readonly #positionKeys = new Map<string, number>()
  /** Keys dropped because the host's keymap has no place for them (counted, warned about once per code). */
  readonly unmappedKeys = new Map<string, number>()
  #layout: { at: number; monitors: Promise<MonitorInfo[]> } | undefined

  constructor(options: InputServiceOptions) {
    this.#options = options
  }

  get enabled(): boolean {
    return this.#enabled && this.#forwarding.enabled
  }

  async setEnabled(enabled: boolean): Promise<void> {
    this.#enabled = enabled
    if (!this.enabled) await this.releaseAll()
  }

  async configure(config: InputForwardingConfig): Promise<void> {
    if (config.monitor_index !== undefined) {
      const monitors = await this.#options.monitors()
      if (!monitors[config.monitor_index]) {
        throw new SmolDeskError('MONITOR_NOT_FOUND', `monitor ${config.monitor_index} does not exist`)
      }
    }
    this.#forwarding = config
    if (!this.enabled) await this.releaseAll()
  }

  async send(event: InputEvent): Promise<void> {
    if (!this.enabled) throw new SmolDeskError('INPUT_DISABLED', 'remote input is turned off on this host')
    const injector = await this.#options.injector()
    switch (event.event_type) {
      case 'MouseMove':
        if (
          event.x === undefined &&
          event.y === undefined &&
          (event.delta_x !== undefined || event.delta_y !== undefined)
        ) {
          const scale = this.#forwarding.scale_factor ?? 1
          injector.moveBy(Math.round((event.delta_x ?? 0) * scale), Math.round((event.delta_y ?? 0) * scale))
        } else await this.#moveTo(injector, event, true)
        break
      case 'MouseButton': {
        if (!event.button || event.is_pressed === undefined) {
          throw new SmolDeskError('INVALID_ARGS', 'MouseButton needs button and is_pressed')
        }
        if (event.x !== undefined || event.y !== undefined) await this.#moveTo(injector, event, true)
        this.#button(injector, BUTTONS[event.button], event.is_pressed)
        break
      }
      case 'MouseScroll':
        if (event.x !== undefined || event.y !== undefined) await this.#moveTo(injector, event, true)
        this.#scroll(injector, event.delta_x ?? 0, event.delta_y ?? 0)
        break
      case 'KeyPress':
      case 'KeyRelease':
        await this.#key(injector, event)
        break
      case 'Text':
        if (!event.text) throw new SmolDeskError('INVALID_ARGS', 'Text needs text')
        await injector.type(event.text)
        break
      case 'TouchEvent':
      case 'Gesture':
        throw new SmolDeskError(
          'UNAVAILABLE',
          `${event.event_type} events are not available in this build yet`,
        )
    }
    await injector.flush()
  }

  /** Releases every key and button SmolDesk holds down; idempotent. */
  async releaseAll(): Promise<void> {
    if (this.#heldKeys.size === 0 && this.#heldButtons.size === 0) return
    const injector = await this.#options.injector()
    for (const button of this.#heldButtons) injector.button(button, false)
    for (const key of this.#heldKeys) injector.key(key, false)
    for (const keycode of this.#characterKeys.values()) injector.characterReleased(keycode)
    this.#heldButtons.clear()
    this.#heldKeys.clear()
    this.#characterKeys.clear()
    this.#positionKeys.clear()
    this.#impliedModifiers.clear()
    await injector.flush()
  }

  async #moveTo(injector: InputInjector, event: InputEvent, required: boolean): Promise<void> {
    if (event.x === undefined || event.y === undefined) {
      if (required) throw new SmolDeskError('INVALID_ARGS', `${event.event_type} needs x and y`)
      return
    }
    const monitors = await this.#monitors()
    const scale = this.#forwarding.scale_factor ?? 1
    let area: { x: number; y: number; width: number; height: number }
    if (this.#forwarding.multi_monitor_mode === 'Span' && event.monitor_index === undefined) {
      // Coordinates span the bounding box of all monitors.
      const left = Math.min(...monitors.map((m) => m.x))
      const top = Math.min(...monitors.map((m) => m.y))
      area = {
        x: left,
        y: top,
        width: Math.max(...monitors.map((m) => m.x + m.width)) - left,
        height: Math.max(...monitors.map((m) => m.y + m.height)) - top,
      }
    } else {
      const index =
        event.monitor_index ?? this.#forwarding.monitor_index ?? this.#options.capturedMonitor() ?? 0
      const monitor = monitors[index]
      if (!monitor) throw new SmolDeskError('MONITOR_NOT_FOUND', `monitor ${index} does not exist`)
      area = monitor
    }
    // Viewer coordinates × scale_factor = pixels; never off the target area.
    const x = Math.min(area.width - 1, Math.max(0, Math.round(event.x * scale)))
    const y = Math.min(area.height - 1, Math.max(0, Math.round(event.y * scale)))
    injector.move(area.x + x, area.y + y)
  }

  #monitors(): Promise<MonitorInfo[]> {
    const now = Date.now()
    if (!this.#layout || now - this.#layout.at > MONITOR_LAYOUT_TTL_MS) {
      const monitors = this.#options.monitors()
      // A failed read is not kept: the next event asks the server again.
      monitors.catch(() => {
        if (this.#layout?.monitors === monitors) this.#layout = undefined
      })
      this.#layout = { at: now, monitors }
    }
    return this.#layout.monitors
  }

  #button(injector: InputInjector, button: number, pressed: boolean): void {
    if (pressed === this.#heldButtons.has(button)) return // a repeated press or a stray release
    injector.button(button, pressed)
    if (pressed) this.#heldButtons.add(button)
    else this.#heldButtons.delete(button)
  }

  #scroll(injector: InputInjector, dx: number, dy: number): void {
    // Smooth-scroll deltas accumulate until they make whole wheel clicks.
    this.#wheel.x += dx
    this.#wheel.y += dy
    const clicks = (axis: 'x' | 'y', negative: number, positive: number) => {
      const n = Math.trunc(this.#wheel[axis] / PIXELS_PER_WHEEL_CLICK)
      this.#wheel[axis] -= n * PIXELS_PER_WHEEL_CLICK
      for (let i = 0; i < Math.abs(n); i++) {
        injector.button(n < 0 ? negative : positive, true)
        injector.button(n < 0 ? negative : positive, false)
      }
    }
    clicks('y', 4, 5)
    clicks('x', 6, 7)
  }

  async #key(injector: InputInjector, event: InputEvent): Promise<void> {
    const code = event.key_code
    if (code === undefined) throw new SmolDeskError('INVALID_ARGS', `${event.event_type} needs key_code`)
    if (event.event_type === 'KeyRelease') {
      const typed = this.#characterKeys.get(code)
      if (typed !== undefined) {
        this.#characterKeys.delete(code)
        if (this.#heldKeys.delete(typed)) injector.key(typed, false)
        injector.characterReleased(typed)
        return
      }
    } else if (event.key !== undefined && !this.#shortcut(injector, event)) {
      await this.#pressCharacter(injector, code, event.key)
      return
    }
    const pressed = event.event_type === 'KeyRelease' ? this.#positionKeys.get(code) : undefined
    const keycode = pressed ?? injector.keycode(code)
    if (keycode === undefined) this.#unmapped(code)
    if (event.event_type === 'KeyPress') {
      this.#positionKeys.set(code, keycode)
      const implied: number[] = []
      for (const modifier of event.modifiers ?? []) {
        const mod = injector.keycode(MODIFIER_CODES[modifier])
        if (mod === undefined || this.#heldKeys.has(mod)) continue
        injector.key(mod, true)
        this.#heldKeys.add(mod)
        implied.push(mod)
      }
      if (implied.length > 0) this.#impliedModifiers.set(keycode, implied)
      injector.key(keycode, true)
      this.#heldKeys.add(keycode)
      return
    }
    this.#positionKeys.delete(code)
    if (this.#heldKeys.delete(keycode)) injector.key(keycode, false)
    for (const mod of this.#impliedModifiers.get(keycode) ?? []) {
      if (this.#heldKeys.delete(mod)) injector.key(mod, false)
    }
    this.#impliedModifiers.delete(keycode)
  }

  /**
   * With Control, Alt or Meta down a key is a shortcut: it goes by position
   * (Ctrl+C is the C key), whatever character the viewer's layout has there.
   */
  #shortcut(injector: InputInjector, event: InputEvent): boolean {
    if ((event.modifiers ?? []).some((m) => m !== 'Shift')) return true
    return this.#holdsAny(injector, SHORTCUT_CODES)
  }

  /** Whether SmolDesk holds any of these keys down now. */
  #holdsAny(injector: InputInjector, codes: readonly string[]): boolean {
    return codes.some((c) => {
      const keycode = injector.keycode(c)
      return keycode !== undefined && this.#heldKeys.has(keycode)
    })
  }

  /** Types the character the viewer saw, at the Shift level the host holds now. */
  async #pressCharacter(injector: InputInjector, code: string, char: string): Promise<void> {
    const shifted = this.#holdsAny(injector, SHIFT_CODES)
    const keycode = await injector.characterKey(char, code, shifted)
    if (keycode === undefined) this.#unmapped(`${code} (${char})`)
    const previous = this.#characterKeys.get(code)
    if (previous !== undefined && previous !== keycode) {
      // Auto-repeat of a key whose character changed meanwhile: the old one is let go first.
      if (this.#heldKeys.delete(previous)) injector.key(previous, false)
      injector.characterReleased(previous)
    }
    this.#characterKeys.set(code, keycode)
    injector.key(keycode, true)
    this.#heldKeys.add(keycode)
  }

  #unmapped(what: string): never {
    // Dropped, never guessed: a wrong keycode would type something else, or stick.
    const seen = (this.unmappedKeys.get(what) ?? 0) + 1
    this.unmappedKeys.set(what, seen)
    if (seen === 1) log.warn({ key: what }, 'key dropped: the host keyboard mapping has no such key')
    throw new SmolDeskError('KEY_UNMAPPED', `the host's keyboard mapping has no key '${what}'`)
  }
}

const SHIFT_CODES = ['ShiftLeft', 'ShiftRight'] as const
const SHORTCUT_CODES = ['ControlLeft', 'ControlRight', 'AltLeft', 'MetaLeft', 'MetaRight'] as const
