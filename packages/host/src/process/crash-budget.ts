/**
 * How many crashes a supervised helper is allowed before it is given up: more
 * than MAX_CRASHES within CRASH_WINDOW_MS is a broken set-up (a config, a
 * missing device), not bad luck, and restarting it again would only spin.
 */
const MAX_CRASHES = 5
const CRASH_WINDOW_MS = 30_000

export class CrashBudget {
  #crashes: number[] = []

  /** Counts a crash; says whether another restart is within the budget. */
  crashed(now = Date.now()): boolean {
    this.#crashes = [...this.#crashes.filter((t) => now - t < CRASH_WINDOW_MS), now]
    return this.#crashes.length <= MAX_CRASHES
  }

  /** A fresh start (new settings): earlier crashes no longer count. */
  reset(): void {
    this.#crashes = []
  }
}
