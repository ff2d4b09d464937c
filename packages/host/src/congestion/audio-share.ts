/**
 * Sound's share of a narrow path. The desktop's Opus stream goes to every
 * viewer over the same link as the picture, but the path estimate counts
 * only video: at 128 kbit/s, sound took a quarter of a 0.45 Mbit/s link
 * while the picture sat at its 250 kbit/s floor, lost 13–49 % of its
 * packets and showed 2.5–3.8 frames a second. Under a ceiling, sound gets
 * a tenth of what the path gives the picture, never less than 32 kbit/s
 * (Opus's CELT still carries stereo speech and system sounds cleanly
 * there) and never more than the configured bitrate.
 */
const AUDIO_SHARE = 0.1
const MIN_AUDIO_KBPS = 32
/** Steps this coarse: the ceiling moves a few percent a second, the sound need not follow each step. */
const STEP_KBPS = 8

/** The Opus bitrate (kbit/s) for the lowest video ceiling among the viewers (undefined: none, the configured rate). */
export function audioKbpsFor(pathKbps: number | undefined, configuredKbps: number): number {
  if (pathKbps === undefined) return configuredKbps
  const share = Math.floor((pathKbps * AUDIO_SHARE) / STEP_KBPS) * STEP_KBPS
  return Math.min(configuredKbps, Math.max(MIN_AUDIO_KBPS, share))
}

/**
 * The viewers' video ceilings, for one sound stream that serves them all:
 * sound follows the lowest. `apply` hears the bitrate only when it changed.
 */
export class AudioShare {
  readonly #paths = new Map<string, number>()
  readonly #apply: (kbps: number) => void
  #configured: number
  #current: number

  constructor(configuredKbps: number, apply: (kbps: number) => void) {
    this.#configured = configuredKbps
    this.#current = configuredKbps
    this.#apply = apply
  }

  /** The bitrate sound is held to now (kbit/s). */
  get kbps(): number {
    return this.#current
  }

  /** A viewer's video ceiling (kbit/s), or undefined: none any more (or the viewer left). */
  setPath(viewerId: string, kbps: number | undefined): void {
    if (kbps === undefined) this.#paths.delete(viewerId)
    else this.#paths.set(viewerId, kbps)
    this.#update()
  }

  /** The configured bitrate changed (a new capture config). */
  setConfigured(kbps: number): void {
    this.#configured = kbps
    this.#update()
  }

  #update(): void {
    const lowest = this.#paths.size > 0 ? Math.min(...this.#paths.values()) : undefined
    const next = audioKbpsFor(lowest, this.#configured)
    if (next === this.#current) return
    this.#current = next
    this.#apply(next)
  }
}
