import { encodeMove } from '@smoldesk/protocol'
import type { SendInput } from './input.ts'

/**
 * The pointer at rest this long, its place goes once more on the reliable
 * channel. Motion travels unordered and is never sent again (a late one is
 * worthless), so on a lossy or full link the last moves of a gesture can be
 * lost and the host's pointer stop short of where the user's did (seen over
 * 0.55 Mbit/s in Firefox: aimed at 960,180, the pointer stayed at 1024,719);
 * what it then hovers (a menu, a tooltip) is not what the user points at.
 */
const SETTLE_MS = 100

/**
 * Absolute pointer motion, from a mouse or a finger (a drag, trackpad
 * mode): each move on the unordered channel as it happens, and where the
 * pointer came to rest once more on the reliable one. Relative motion
 * (pointer lock) has no resting place to send: a lost delta is lost.
 */
export class PointerMotion {
  readonly #send: SendInput
  readonly #next: () => number
  #settle: ReturnType<typeof setTimeout> | undefined

  constructor(send: SendInput, nextSeq: () => number) {
    this.#send = send
    this.#next = nextSeq
  }

  move(x: number, y: number): void {
    this.#send(encodeMove(this.#next(), x, y), true)
    clearTimeout(this.#settle)
    this.#settle = setTimeout(() => this.#send(encodeMove(this.#next(), x, y), false), SETTLE_MS)
  }

  /** Idempotent: nothing more is sent. */
  close(): void {
    clearTimeout(this.#settle)
    this.#settle = undefined
  }
}
