import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { SmolDeskError } from '@smoldesk/protocol'
import { evdevPointerLine } from '../../input/evdev-pointer.ts'
import type { InputInjector } from '../../input/injector.ts'
import { createLogger } from '../../log.ts'
import { ManagedProcess } from '../../process/child.ts'
import type { LayoutBox } from '../backend.ts'
import { evdevCode, keymapText, ModifierState, SPARE_KEYS, spareEvdev, usCharacter } from './wl-keymap.ts'

const log = createLogger('input.wlroots')

/** SmolDesk's Wayland input helper (smoldesk-wl-input.c, built by `./smoldesk setup`). */
export const WL_INPUT_BINARY = resolve(import.meta.dirname, '../../../.build/smoldesk-wl-input')
const READY_TIMEOUT_MS = 5000
const SYNC_TIMEOUT_MS = 3000

const ENTER = 28
const TAB = 15

/**
 * Input into a wlroots compositor through one helper process holding a
 * virtual pointer and a virtual keyboard. The keyboard's keymap is
 * SmolDesk's own (US layout + spare keys, wl-keymap.ts), so a viewer's
 * characters arrive as typed whatever they are; the modifier state is
 * tracked here because wlroots does not track a virtual keyboard's.
 */
export class WlrootsInjector implements InputInjector {
  readonly #proc: ManagedProcess
  readonly #layout: () => LayoutBox
  readonly #modifiers = new ModifierState()
  /** The character on each spare key, and when it was last used (the oldest free one is taken). */
  readonly #spare: (string | undefined)[] = new Array(SPARE_KEYS).fill(undefined)
  readonly #lastUse: number[] = new Array(SPARE_KEYS).fill(0)
  readonly #heldSpare = new Set<number>()
  /** Sync requests waiting for the helper's answer, in order. */
  readonly #syncs: (() => void)[]
  #typing: Promise<void> = Promise.resolve()
  #closed = false

  private constructor(proc: ManagedProcess, layout: () => LayoutBox, syncs: (() => void)[]) {
    this.#proc = proc
    this.#layout = layout
    this.#syncs = syncs
    proc.once('exit', () => {
      this.#closed = true
      for (const done of this.#syncs.splice(0)) done()
    })
  }

  static async open(env: Record<string, string>, layout: () => LayoutBox): Promise<WlrootsInjector> {
    const proc = await ManagedProcess.spawn({
      name: 'smoldesk-wl-input',
      command: WL_INPUT_BINARY,
      args: [],
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }).catch((err: unknown) => {
      throw new SmolDeskError('UNAVAILABLE', `the Wayland input helper cannot run: ${String(err)}`)
    })
    proc.child.stdin?.on('error', () => {})
    const lines = createInterface({ input: proc.child.stdout as NodeJS.ReadableStream })
    const syncs: (() => void)[] = []
    const ready = new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new SmolDeskError(
              'UNAVAILABLE',
              `the Wayland input helper did not start within ${READY_TIMEOUT_MS} ms`,
            ),
          ),
        READY_TIMEOUT_MS,
      )
      lines.on('line', (line) => {
        if (line === 'ready') {
          clearTimeout(timer)
          resolveReady()
        } else if (line === 'S') {
          syncs.shift()?.()
        } else if (line.startsWith('error ')) {
          clearTimeout(timer)
          log.warn({ err: line.slice(6) }, 'Wayland input helper failed')
          reject(new SmolDeskError('UNAVAILABLE', `Wayland input: ${line.slice(6)}`))
        }
      })
      void proc.exited.then(() => {
        clearTimeout(timer)
        reject(
          new SmolDeskError(
            'UNAVAILABLE',
            `the Wayland input helper exited: ${proc.stderrTail(3) || 'no output'}`,
          ),
        )
      })
    })
    try {
      await ready
    } catch (err) {
      await proc.close(500)
      throw err
    }
    const injector = new WlrootsInjector(proc, layout, syncs)
    injector.#uploadKeymap()
    return injector
  }

  get closed(): boolean {
    return this.#closed
  }

  move(x: number, y: number): void {
    const box = this.#layout()
    const px = Math.min(Math.max(Math.round(x - box.x), 0), box.width - 1)
    const py = Math.min(Math.max(Math.round(y - box.y), 0), box.height - 1)
    this.#send(`M ${px} ${py} ${box.width} ${box.height}`)
  }

  moveBy(dx: number, dy: number): void {
    this.#send(`R ${Math.round(dx)} ${Math.round(dy)}`)
  }

  button(button: number, pressed: boolean): void {
    const line = evdevPointerLine(button, pressed)
    if (line) this.#send(line)
  }

  keycode(code: string): number | undefined {
    return evdevCode(code)
  }

  key(keycode: number, pressed: boolean): void {
    this.#send(`K ${keycode} ${pressed ? 1 : 0}`)
    const masks = this.#modifiers.key(keycode, pressed)
    if (masks) this.#send(`D ${masks[0]} 0 ${masks[1]} 0`)
  }

  async characterKey(char: string, code: string, shifted: boolean): Promise<number | undefined> {
    if (usCharacter(code, shifted) === char) return evdevCode(code)
    const [slot] = this.#slotsFor([char])
    if (slot === undefined) return undefined
    this.#heldSpare.add(slot)
    return spareEvdev(slot)
  }

  characterReleased(keycode: number): void {
    for (const slot of this.#heldSpare) if (spareEvdev(slot) === keycode) this.#heldSpare.delete(slot)
  }

  /** Text as-is: each character on a spare key of its own (one keymap upload per new set), pressed in order. */
  type(text: string): Promise<void> {
    const typed = this.#typing.then(() => this.#type(text))
    this.#typing = typed.catch(() => {})
    return typed
  }

  async #type(text: string): Promise<void> {
    const chars = [...text]
    const room = SPARE_KEYS - this.#heldSpare.size
    if (room <= 0) throw new SmolDeskError('UNAVAILABLE', 'every spare key is held down')
    for (let at = 0; at < chars.length; ) {
      // As many characters as there are free spare keys for their distinct characters.
      const distinct = new Set<string>()
      let end = at
      while (end < chars.length) {
        const ch = chars[end] ?? ''
        if (ch !== '\n' && ch !== '\r' && ch !== '\t' && !distinct.has(ch)) {
          if (distinct.size === room) break
          distinct.add(ch)
        }
        end++
      }
      const list = [...distinct]
      const found = this.#slotsFor(list)
      const slots = new Map(list.map((ch, i) => [ch, found[i] ?? 0]))
      for (const ch of chars.slice(at, end)) {
        const keycode =
          ch === '\n' || ch === '\r' ? ENTER : ch === '\t' ? TAB : spareEvdev(slots.get(ch) ?? 0)
        this.#send(`K ${keycode} 1`)
        this.#send(`K ${keycode} 0`)
      }
      at = end
      await this.flush()
    }
  }

  /** Spare keys for these characters: the ones they have, else the least recently used free ones (one keymap upload). */
  #slotsFor(chars: readonly string[]): number[] {
    let changed = false
    const now = performance.now()
    const taken = new Set<number>()
    const slots = chars.map((ch) => {
      let slot = this.#spare.indexOf(ch)
      if (slot < 0) {
        slot = -1
        for (let i = 0; i < SPARE_KEYS; i++) {
          if (this.#heldSpare.has(i) || taken.has(i) || chars.includes(this.#spare[i] ?? '\u0000')) continue
          if (slot < 0 || (this.#lastUse[i] ?? 0) < (this.#lastUse[slot] ?? 0)) slot = i
        }
        if (slot < 0) return -1
        this.#spare[slot] = ch
        changed = true
      }
      taken.add(slot)
      this.#lastUse[slot] = now
      return slot
    })
    if (changed) this.#uploadKeymap()
    return slots.filter((s) => s >= 0)
  }

  #uploadKeymap(): void {
    const text = Buffer.from(keymapText(this.#spare), 'utf8')
    // The XKB text is SmolDesk's own; characters enter it only as hex keysyms.
    this.#write(Buffer.concat([Buffer.from(`X ${text.length}\n`), text]))
  }

  async flush(): Promise<void> {
    if (this.#closed) return
    const done = new Promise<void>((resolveSync) => this.#syncs.push(resolveSync))
    this.#send('S')
    let timer: NodeJS.Timeout | undefined
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, SYNC_TIMEOUT_MS)))])
    clearTimeout(timer)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#proc.child.stdin?.end()
    void this.#proc.close(1000)
  }

  #send(line: string): void {
    this.#write(Buffer.from(`${line}\n`))
  }

  #write(data: Buffer): void {
    if (!this.#closed) this.#proc.child.stdin?.write(data)
  }
}
