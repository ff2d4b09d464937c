/**
 * Runs `flush` once for everything added during a burst of work: when this
 * turn of the event loop ends (setImmediate), or, if the turn goes on, as
 * soon as something is added `maxDelayMs` after the first (from a
 * microtask, right after the caller's own work).
 *
 * Why not only setImmediate: libuv's poll phase handles up to 48 × 1,024
 * ready sockets before the loop gets to setImmediate. When 10,000 clients
 * send at once one poll phase lasted 1–2.5 s in `bench signaling` (two
 * instances), and everything put off "to the end of the turn" — the reads
 * from Redis, the publishes, the acknowledgements — waited for it while more
 * piled up behind: the relays of the first seconds took 0.5–3 s.
 */
export class Coalescer {
  readonly #flush: () => void
  readonly #maxDelayMs: number
  /** Something was added since the last flush, the first of it at #since. */
  #pending = false
  #since = 0
  #immediate = false
  #microtask = false

  constructor(flush: () => void, maxDelayMs = 2) {
    this.#flush = flush
    this.#maxDelayMs = maxDelayMs
  }

  /** Says that something was added. */
  add(): void {
    if (!this.#pending) {
      this.#pending = true
      this.#since = performance.now()
      if (!this.#immediate) {
        this.#immediate = true
        setImmediate(this.#onImmediate)
      }
      return
    }
    if (!this.#microtask && performance.now() - this.#since >= this.#maxDelayMs) {
      this.#microtask = true
      queueMicrotask(this.#onMicrotask)
    }
  }

  readonly #onImmediate = (): void => {
    this.#immediate = false
    this.#run()
  }

  readonly #onMicrotask = (): void => {
    this.#microtask = false
    this.#run()
  }

  #run(): void {
    if (!this.#pending) return
    this.#pending = false
    this.#flush()
  }
}
