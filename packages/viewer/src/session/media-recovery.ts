/**
 * Getting the media back after it dropped: the first attempt comes at once
 * (on a healthy network a new connection takes well under a second, so the
 * picture is back within the 2 s a user tolerates); each attempt has
 * MEDIA_ATTEMPT_MS to succeed, and then the next waits this much longer.
 */
export const MEDIA_RETRY_DELAYS_MS = [0, 1000, 2000, 4000, 8000] as const

/** A failed media connection is made anew after this long. */
const MEDIA_FAILED_GRACE_MS = 500
/** A media connection 'disconnected' this long (no packets) is given up and made anew. */
const MEDIA_DISCONNECTED_GRACE_MS = 1000
/** An attempt that has not brought the media back after this long is followed by the next. */
const MEDIA_ATTEMPT_MS = 3000
/** How often the watchdog looks. */
const WATCH_EVERY_MS = 250

export interface MediaRecoveryHooks {
  /** The current media connection's state (undefined: none). */
  mediaState(): RTCPeerConnectionState | undefined
  /** Whether signaling answers a ping within the time. */
  probeSignaling(timeoutMs: number): Promise<boolean>
  /** Signaling is dead: give it up, so its resume starts (the next round restarts the media over it). */
  abandonSignaling(): void
  /** Ask the host for a new media connection. */
  restartMedia(): void
  /** An attempt begins (the page says so). */
  attempting(attempt: number): void
}

/**
 * The recovery policy: a media connection that failed, or stayed
 * 'disconnected' for a second, is replaced, first at once and then with
 * back-off; if signaling does not answer a ping within a second it is
 * abandoned and resumed first. Only a connection that was up once is
 * repaired, and never one that cannot work (nothing to connect with).
 */
export class MediaRecovery {
  readonly #hooks: MediaRecoveryHooks
  #timer: ReturnType<typeof setInterval> | undefined
  /** When the media was found lost, how many attempts so far, when the next may start. */
  #episode: { since: number; attempts: number; nextAt: number; busy: boolean } | undefined
  #hadMedia = false
  #hopeless = false

  constructor(hooks: MediaRecoveryHooks) {
    this.#hooks = hooks
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.#watch(), WATCH_EVERY_MS)
  }

  /** The media connection is up: only from now on is its loss something to repair. */
  connected(): void {
    this.#hadMedia = true
  }

  /** Another attempt cannot help (relay-only with nothing gathered): stop trying. */
  giveUp(): void {
    this.#hopeless = true
  }

  /** Whether a lost connection is to be made anew (it was up once, and it can work). */
  get repairs(): boolean {
    return this.#hadMedia && !this.#hopeless
  }

  /** Whoever restarts the media (the watchdog, a test, the user), that is an attempt: the next waits for it. */
  countAttempt(): void {
    const now = performance.now()
    this.#episode ??= { since: now, attempts: 0, nextAt: now, busy: false }
    const e = this.#episode
    const delay = MEDIA_RETRY_DELAYS_MS[Math.min(e.attempts, MEDIA_RETRY_DELAYS_MS.length - 1)] ?? 0
    e.attempts++
    e.nextAt = performance.now() + MEDIA_ATTEMPT_MS + delay
  }

  close(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async #watch(): Promise<void> {
    if (!this.repairs || this.#timer === undefined) return
    const state = this.#hooks.mediaState()
    const now = performance.now()
    if (state === 'connected') {
      this.#episode = undefined
      return
    }
    this.#episode ??= { since: now, attempts: 0, nextAt: now, busy: false }
    const e = this.#episode
    if (e.busy || now < e.nextAt) return
    // A connection being negotiated (a new offer after a codec change, say) gets its time; one that
    // lost its packets gets a second to come back by itself; a failed one is replaced after a moment
    // (a host that removed us says so on signaling, which may come just after).
    const grace =
      state === 'failed' || state === 'closed'
        ? MEDIA_FAILED_GRACE_MS
        : state === 'disconnected'
          ? MEDIA_DISCONNECTED_GRACE_MS
          : MEDIA_ATTEMPT_MS
    if (e.attempts === 0 && now - e.since < grace) return
    e.busy = true
    try {
      this.#hooks.attempting(e.attempts + 1)
      if (!(await this.#hooks.probeSignaling(1000))) {
        this.countAttempt()
        this.#hooks.abandonSignaling()
        return
      }
      // The connection may have come back by itself while signaling was asked (ICE finds its way
      // again once a network returns): restarting it then tore down a working picture, and a kick
      // that came meanwhile found the viewer out of the room, rejoining.
      if (this.#hooks.mediaState() === 'connected') {
        this.#episode = undefined
        return
      }
      if (this.#timer !== undefined) this.#hooks.restartMedia()
    } finally {
      e.busy = false
    }
  }
}
