import { createLogger } from './log.ts'

const log = createLogger('microphone')

/**
 * The mic button: the host has not allowed this viewer to talk, it has and
 * the mic is off, the browser is asking the user, it is on, or the browser
 * (or the user) refused it.
 */
export type MicrophoneState = 'not-allowed' | 'off' | 'asking' | 'on' | 'refused'

/**
 * This viewer's microphone to the host, off until the host allows it and
 * the user switches it on. The track goes into the media connection's audio
 * sender (no renegotiation; a new connection gets it again), and stops as
 * soon as the host withdraws the permission, so the browser's recording
 * indicator goes out with it.
 */
export class ViewerMicrophone {
  readonly #onChange: () => void
  readonly #use: (track: MediaStreamTrack | null) => void
  #allowed = false
  #track: MediaStreamTrack | undefined
  #state: MicrophoneState = 'not-allowed'
  /** Why the browser refused, in its words. */
  why = ''

  constructor(use: (track: MediaStreamTrack | null) => void, onChange: () => void) {
    this.#use = use
    this.#onChange = onChange
  }

  get state(): MicrophoneState {
    return this.#state
  }

  get track(): MediaStreamTrack | undefined {
    return this.#track
  }

  /** What the host's session state says now. */
  hostAllows(allowed: boolean): void {
    if (allowed === this.#allowed) return
    this.#allowed = allowed
    if (!allowed) this.stop()
    this.#set(allowed ? (this.#track ? 'on' : 'off') : 'not-allowed')
  }

  async toggle(): Promise<void> {
    if (this.#state === 'on') {
      this.stop()
      this.#set('off')
      return
    }
    if (!this.#allowed || this.#state === 'asking') return
    this.#set('asking')
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      })
      const track = stream.getAudioTracks()[0]
      if (!track) throw new Error('the browser gave no audio track')
      if (!this.#allowed) {
        track.stop()
        this.#set('not-allowed')
        return
      }
      this.#track = track
      track.addEventListener('ended', () => {
        if (this.#track !== track) return
        this.stop()
        this.#set(this.#allowed ? 'off' : 'not-allowed')
      })
      this.#use(track)
      this.why = ''
      this.#set('on')
    } catch (err) {
      this.why = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      log.warn({ err: this.why }, 'no microphone')
      this.#set('refused')
    }
  }

  stop(): void {
    const track = this.#track
    this.#track = undefined
    if (track) {
      track.stop()
      this.#use(null)
    }
  }

  #set(state: MicrophoneState): void {
    this.#state = state
    this.#onChange()
  }
}
