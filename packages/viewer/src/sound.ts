import { createLogger } from './log.ts'

const log = createLogger('sound')

/**
 * What the speaker button shows: no sound from the host, sound the browser
 * holds back until the user clicks (autoplay rules), playing, or muted.
 */
export type SoundState = 'none' | 'blocked' | 'playing' | 'muted'

/** The loudest frequency of what the page plays now (for the level meter and the tests). */
export interface SoundPeak {
  hz: number
  /** dBFS of that bin; about −100 or below is silence. */
  db: number
}

/**
 * The host's sound in the page: the received track through a gain (volume
 * and mute) and an analyser to the speakers, in one AudioContext. Playing
 * through WebAudio rather than the <video> element keeps the video element
 * muted, so the browser's autoplay rules never hold the picture back; only
 * the sound waits for a click when the browser wants one, and the page says
 * so. Chromium pulls a remote track into WebAudio only while a media element
 * plays its stream: the (muted) video element does.
 */
export class ViewerSound {
  readonly #onChange: () => void
  #context: AudioContext | undefined
  #source: MediaStreamAudioSourceNode | undefined
  #gain: GainNode | undefined
  #analyser: AnalyserNode | undefined
  #track: MediaStreamTrack | undefined
  #volume: number
  #muted: boolean
  #closed = false

  constructor(settings: { volume: number; muted: boolean }, onChange: () => void) {
    this.#volume = settings.volume
    this.#muted = settings.muted
    this.#onChange = onChange
  }

  get state(): SoundState {
    if (!this.#track || !this.#context) return 'none'
    if (this.#context.state !== 'running') return 'blocked'
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
    this.#source?.disconnect()
    this.#source = undefined
    this.#track = track
    if (!track || !stream) {
      this.#onChange()
      return
    }
    const context = this.#ensureContext()
    if (!context || !this.#gain) return
    this.#source = context.createMediaStreamSource(new MediaStream([track]))
    this.#source.connect(this.#gain)
    // Without a click first, some browsers keep the context suspended: resume() then waits for one.
    void context.resume().catch(() => {})
    this.#onChange()
  }

  /** A click or key press on the page: the moment a browser lets sound start. */
  unlock(): void {
    const context = this.#context
    if (!context || context.state === 'running') return
    context.resume().then(
      () => this.#onChange(),
      (err: unknown) => log.warn({ err: String(err) }, 'the browser still holds the sound back'),
    )
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

  /** The loudest frequency in what reaches the speakers (after volume and mute). */
  peak(): SoundPeak | undefined {
    const analyser = this.#analyser
    const context = this.#context
    if (!analyser || !context) return undefined
    const bins = new Float32Array(analyser.frequencyBinCount)
    analyser.getFloatFrequencyData(bins)
    let best = 0
    for (let i = 1; i < bins.length; i++) if ((bins[i] ?? -Infinity) > (bins[best] ?? -Infinity)) best = i
    return { hz: (best * context.sampleRate) / analyser.fftSize, db: bins[best] ?? -Infinity }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#source?.disconnect()
    void this.#context?.close().catch(() => {})
  }

  #ensureContext(): AudioContext | undefined {
    if (this.#context) return this.#context
    try {
      // 'interactive': the smallest output buffer the device offers (the sound is live).
      const context = new AudioContext({ latencyHint: 'interactive', sampleRate: 48000 })
      const gain = context.createGain()
      const analyser = context.createAnalyser()
      analyser.fftSize = 8192
      analyser.smoothingTimeConstant = 0
      gain.connect(analyser)
      analyser.connect(context.destination)
      context.addEventListener('statechange', () => this.#onChange())
      this.#context = context
      this.#gain = gain
      this.#analyser = analyser
      this.#apply()
      return context
    } catch (err) {
      log.warn({ err: String(err) }, 'this browser cannot play the host’s sound')
      return undefined
    }
  }

  #apply(): void {
    if (this.#gain && this.#context)
      this.#gain.gain.setValueAtTime(this.#muted ? 0 : this.#volume, this.#context.currentTime)
    this.#onChange()
  }
}
