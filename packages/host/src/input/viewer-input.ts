import { decodeInputFrame, SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import type { InputService } from './input-service.ts'

const log = createLogger('input.viewer')

/** Per-viewer ceiling; a burst beyond it is dropped (and counted), not queued. */
export const MAX_EVENTS_PER_S = 2000

interface ViewerState {
  lastSeq: number
  windowStart: number
  inWindow: number
}

export interface InputCounters {
  accepted: number
  dropped: number
  malformed: number
  stale: number
  /** Frames from view-only viewers, refused. */
  forbidden: number
}

/**
 * Input arriving from viewers' data channels: decodes the binary frames,
 * drops motion that is older than an event already applied (it travels
 * unordered), rate-limits each viewer, and releases everything when a
 * viewer goes away.
 */
export class ViewerInput {
  readonly #input: InputService
  readonly #viewers = new Map<string, ViewerState>()
  readonly counters: InputCounters = { accepted: 0, dropped: 0, malformed: 0, stale: 0, forbidden: 0 }
  #queue: Promise<void> = Promise.resolve()

  constructor(input: InputService) {
    this.#input = input
  }

  /** A frame from a viewer that may not control (view-only): counted, never decoded or applied. */
  refuse(viewerId: string): void {
    this.counters.forbidden++
    log.debug({ viewerId }, 'input from a view-only viewer refused')
  }

  /** Handles one frame; events are applied one at a time, in arrival order. */
  handle(viewerId: string, frame: Uint8Array, channel: 'motion' | 'reliable'): void {
    let decoded: ReturnType<typeof decodeInputFrame>
    try {
      decoded = decodeInputFrame(frame)
    } catch (err) {
      this.counters.malformed++
      log.debug({ viewerId, err: String(err) }, 'malformed input frame')
      return
    }
    if (log.isLevelEnabled('trace')) {
      log.trace({ viewerId, channel, arrivedAtMs: performance.timeOrigin + performance.now() }, 'input frame')
    }
    const state = this.#state(viewerId)
    const now = Date.now()
    if (now - state.windowStart >= 1000) {
      state.windowStart = now
      state.inWindow = 0
    }
    if (++state.inWindow > MAX_EVENTS_PER_S && !decoded.release) {
      this.counters.dropped++
      return
    }
    if (channel === 'motion' && decoded.seq <= state.lastSeq) {
      this.counters.stale++ // a click (or newer motion) already went past it
      return
    }
    state.lastSeq = Math.max(state.lastSeq, decoded.seq)
    this.#queue = this.#queue
      .then(async () => {
        if (decoded.release) await this.#input.releaseAll()
        else await this.#input.send(decoded.event)
        this.counters.accepted++
      })
      .catch((err: unknown) => {
        const error = SmolDeskError.from(err)
        if (error.code !== 'INPUT_DISABLED') log.debug({ viewerId, err: error.message }, 'input refused')
      })
  }

  /** A viewer left or its channel closed: nothing it pressed may stay down. */
  viewerGone(viewerId: string): void {
    this.#viewers.delete(viewerId)
    this.#queue = this.#queue.then(() => this.#input.releaseAll()).catch(() => {})
  }

  #state(viewerId: string): ViewerState {
    let state = this.#viewers.get(viewerId)
    if (!state) {
      state = { lastSeq: -1, windowStart: Date.now(), inWindow: 0 }
      this.#viewers.set(viewerId, state)
    }
    return state
  }
}
