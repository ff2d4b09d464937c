import { createLogger } from '../log.ts'

const log = createLogger('host.stalls')

/** How often the watch looks at the clock. */
const TICK_MS = 100

/** Late by at least this much, a tick is reported: a quarter second without the host's attention is a frozen picture. */
const REPORT_MS = 250

/**
 * Says in the log when the host's event loop did not run for a while: every
 * packet, feedback report and encoder frame waits meanwhile, so a viewer sees
 * a freeze and the path estimate reads the backlog as a queue on the link.
 * Without it a frozen picture on a starved machine (another process taking
 * the cores, a long garbage collection) looks exactly like a network fault.
 */
export class StallWatch {
  readonly #timer: NodeJS.Timeout
  #last = performance.now()
  /** Stalls seen, and the longest (for a test or a status to read). */
  count = 0
  longestMs = 0

  constructor() {
    this.#timer = setInterval(() => this.#tick(), TICK_MS).unref()
  }

  #tick(): void {
    const now = performance.now()
    const late = now - this.#last - TICK_MS
    this.#last = now
    if (late < REPORT_MS) return
    this.count++
    this.longestMs = Math.max(this.longestMs, late)
    log.warn({ stalledMs: Math.round(late) }, 'event loop stalled')
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
