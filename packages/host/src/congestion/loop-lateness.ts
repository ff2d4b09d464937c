import { performance } from 'node:perf_hooks'
import { createLogger } from '../log.ts'

const log = createLogger('host.loop')

/** How often the loop is looked at, ms: often enough that a stall shows before the packet it held up. */
const TICK_MS = 10
/**
 * Late by at least this much, a tick is said in the log: a quarter second
 * without the host's attention is a frozen picture, and without the line a
 * freeze on a starved machine (another process taking the cores, a long
 * garbage collection) looks exactly like a network fault. The sampler runs
 * from a viewer's first receiver report on, which is when a stall shows.
 */
const REPORT_MS = 250
/** How far back it is remembered, ms (a ring of ticks): more than a report is ever asked about. */
const KEEP_MS = 200

/**
 * How late this process's event loop has been running, tick by tick.
 *
 * A receiver report is timed when the host handles it: if the loop was
 * busy (packetizing 9 Mbit/s of video, a test's other browser beside it on
 * two cores), the report waited in the socket, and its round trip reads
 * long by that wait. Taken as queueing on the path, that made the path
 * estimate cut a clear 30 Mbit/s link's ceiling to its floor (seen in CI).
 * After a stall libuv runs its timers before it polls the sockets, so the
 * late tick is recorded just before the report that waited through it is
 * handled, or, when both came in one turn, the tick is overdue by as much:
 * either is what that report waited.
 */
export class LoopLateness {
  static #shared: LoopLateness | undefined

  /** The process's one sampler, started on first use; its timer never keeps the process alive. */
  static shared(): LoopLateness {
    LoopLateness.#shared ??= new LoopLateness()
    return LoopLateness.#shared
  }

  readonly #at = new Float64Array(KEEP_MS / TICK_MS)
  readonly #late = new Float64Array(KEEP_MS / TICK_MS)
  #next = 0
  #expected = performance.now() + TICK_MS
  readonly #timer: NodeJS.Timeout
  /** Stalls said in the log, and the longest (for a test or a status to read). */
  stalls = 0
  longestStallMs = 0

  private constructor() {
    this.#timer = setInterval(() => this.#tick(), TICK_MS).unref()
  }

  /**
   * The most the loop ran late (ms) in any tick of the last `withinMs`, or
   * the tick overdue now: a report handled in the same turn as the stall
   * before it (libuv takes several sockets' callbacks per poll) comes before
   * the late tick has run.
   */
  worst(withinMs: number, now = performance.now()): number {
    let worst = Math.max(0, now - this.#expected)
    for (let i = 0; i < this.#at.length; i++) {
      const at = this.#at[i] ?? 0
      if (at > 0 && now - at <= withinMs) worst = Math.max(worst, this.#late[i] ?? 0)
    }
    return worst
  }

  #tick(): void {
    const now = performance.now()
    const late = Math.max(0, now - this.#expected)
    this.#at[this.#next] = now
    this.#late[this.#next] = late
    this.#next = (this.#next + 1) % this.#at.length
    this.#expected = now + TICK_MS
    if (late < REPORT_MS) return
    this.stalls++
    this.longestStallMs = Math.max(this.longestStallMs, late)
    log.warn({ stalledMs: Math.round(late) }, 'event loop stalled')
  }

  /** Stops the sampler (tests); the next shared() starts a new one. */
  close(): void {
    clearInterval(this.#timer)
    if (LoopLateness.#shared === this) LoopLateness.#shared = undefined
  }
}
