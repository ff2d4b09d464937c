import { createLogger } from './log.ts'

const log = createLogger('sound')

/**
 * What the speaker button shows: no sound from the host, sound the browser
 * holds back until the user clicks (autoplay rules), playing, or muted.
 */
export type SoundState = 'none' | 'blocked' | 'playing' | 'muted'

/**
 * The host's sound in the page: the received track in an <audio> element of
 * its own, with the volume and mute remembered. Its own element, not the
 * video's: the video element stays muted, so the browser's autoplay rules
 * never hold the picture back; only the sound waits for a click when the
 * browser wants one, and the page says so. Not through WebAudio: Chromium's
 * WebAudio output to PulseAudio added ~70 ms here, an element plays the
 * WebRTC track on the device directly.
 */
export class ViewerSound {
  readonly #onChange: () => void
  readonly #element: HTMLAudioElement
  #track: MediaStreamTrack | undefined
  #blocked = false
  #volume: number
  #muted: boolean
  #closed = false

  /** `element`: where the sound plays (the page's own by default). */
  constructor(
    settings: { volume: number; muted: boolean },
    onChange: () => void,
    element: HTMLAudioElement = document.createElement('audio'),
  ) {
    this.#volume = settings.volume
    this.#muted = settings.muted
    this.#onChange = onChange
    this.#element = element
    this.#element.autoplay = true
    this.#element.volume = this.#volume
    this.#element.muted = this.#muted
  }

  get state(): SoundState {
    if (!this.#track) return 'none'
    if (this.#blocked) return 'blocked'
    return this.#muted ? 'muted' : 'playing'
  }

  get volume(): number {
    return this.#volume
  }

  get muted(): boolean {
    return this.#muted
  }

  /** The media stream changed (a new connection): play its audio track, if it has one. */
  attach(stream: MediaStream | undefined): void {
    if (this.#closed) return
    const track = stream?.getAudioTracks()[0]
    if (track === this.#track) return
    this.#track = track
    this.#element.srcObject = track ? new MediaStream([track]) : null
    if (track) this.#play()
    this.#onChange()
  }

  /** A click or key press on the page: the moment a browser lets sound start. */
  unlock(): void {
    if (this.#track && this.#blocked) this.#play()
  }

  setVolume(volume: number): void {
    this.#volume = Math.min(1, Math.max(0, volume))
    if (this.#volume > 0) this.#muted = false
    this.#apply()
  }

  setMuted(muted: boolean): void {
    this.#muted = muted
    if (!muted) this.unlock()
    this.#apply()
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#element.pause()
    this.#element.srcObject = null
  }

  #play(): void {
    this.#element.play().then(
      () => {
        this.#blocked = false
        this.#onChange()
      },
      (err: unknown) => {
        // NotAllowedError: the browser wants a gesture first. Anything else is said, not hidden.
        const name = err instanceof Error ? err.name : ''
        if (name !== 'AbortError') this.#blocked = true
        if (name !== 'NotAllowedError' && name !== 'AbortError')
          log.warn({ err: String(err) }, 'sound did not start')
        this.#onChange()
      },
    )
  }

  #apply(): void {
    this.#element.volume = this.#volume
    this.#element.muted = this.#muted
    this.#onChange()
  }
}
