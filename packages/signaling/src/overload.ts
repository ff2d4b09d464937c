import {
  type ELDHistogram,
  type EventLoopUtilization,
  monitorEventLoopDelay,
  performance,
} from 'node:perf_hooks'

/**
 * Whether this instance is past what it can serve, and so turns new
 * connections away (OVERLOADED, WebSocket close 1013) to keep its rooms
 * relaying in time. Three signs: more clients than it was told to hold; an
 * event loop busy nearly all the time (its utilization: a saturated loop
 * still turns quickly, taking a few messages per turn, while the rest queue
 * in the sockets — that queue is the rooms' latency); or a loop running late
 * (long turns: everything waits behind them).
 *
 * Each is judged over a short window, the lateness on its median, not its
 * worst: a single GC pause is over before a refusal could help anyone, while
 * a loop that is saturated or late all the time (a connection storm, a
 * relay flood) only gets worse with every client it takes on. Once busy, it
 * stays so for a moment after recovering, so shed clients do not all rush
 * back at once into a loop that has just caught up.
 */
export class LoadGauge {
  readonly #maxClients: number
  readonly #maxLoopDelayMs: number
  readonly #maxUtilization: number
  readonly #histogram: ELDHistogram
  #elu: EventLoopUtilization = performance.eventLoopUtilization()
  #lastUtilization = 0
  readonly #timer: NodeJS.Timeout
  #busyUntil = 0
  #lastDelayMs = 0
  #closed = false

  readonly #byLoad: boolean

  /** `byLoad` false: only maxClients turns newcomers away (the loop is measured all the same). */
  constructor(options: {
    maxClients: number
    maxLoopDelayMs: number
    maxLoopUtilization: number
    byLoad: boolean
  }) {
    this.#byLoad = options.byLoad
    this.#maxClients = options.maxClients
    this.#maxLoopDelayMs = options.maxLoopDelayMs
    this.#maxUtilization = options.maxLoopUtilization
    this.#histogram = monitorEventLoopDelay({ resolution: SAMPLE_MS })
    this.#histogram.enable()
    this.#timer = setInterval(() => this.#judge(), WINDOW_MS).unref()
  }

  /** The median event-loop lateness over the last window, ms (also on /health). */
  get loopDelayMs(): number {
    return this.#lastDelayMs
  }

  /** The share of the last window the event loop was busy, 0–1 (also on /health). */
  get loopUtilization(): number {
    return this.#lastUtilization
  }

  /** Whether the loop is judged too busy for newcomers now. */
  get busy(): boolean {
    return performance.now() < this.#busyUntil
  }

  /**
   * Why a new connection must be turned away now, in words; undefined when
   * it may come in. One resuming a session is turned away only past
   * maxClients: it belongs to a room already open.
   */
  refusal(clients: number, resuming = false): string | undefined {
    if (clients >= this.#maxClients)
      return `the signaling server holds its maximum of ${this.#maxClients} clients`
    if (!resuming && this.busy) return 'the signaling server is overloaded'
    return undefined
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    this.#histogram.disable()
  }

  #judge(): void {
    // The histogram counts the sampling interval itself; what is past it is lateness.
    const late = Math.max(0, this.#histogram.percentile(50) / 1e6 - SAMPLE_MS)
    this.#histogram.reset()
    this.#lastDelayMs = Math.round(late * 10) / 10
    const now = performance.eventLoopUtilization()
    const utilization = performance.eventLoopUtilization(now, this.#elu).utilization
    this.#elu = now
    this.#lastUtilization = Math.round(utilization * 100) / 100
    if (this.#byLoad && (late > this.#maxLoopDelayMs || utilization > this.#maxUtilization))
      this.#busyUntil = performance.now() + HOLD_MS
  }
}

/** How often the loop's lateness is sampled, ms. */
const SAMPLE_MS = 10
/** The window the median is taken over. */
const WINDOW_MS = 500
/** How long "busy" lasts past the last late window. */
const HOLD_MS = 1000
