import { EventEmitter } from 'node:events'
import {
  type AudioDevices,
  type AudioStream,
  CAPTURE_DEFAULTS,
  type ResolvedCaptureConfig,
  SmolDeskError,
} from '@smoldesk/protocol'
import { AudioShare } from '../congestion/audio-share.ts'
import type { EmitEvent } from '../events.ts'
import { createLogger } from '../log.ts'
import { audioHelperBuilt } from './audio-helper.ts'
import { DesktopAudio } from './desktop-audio.ts'
import { MIC_SINK, Microphones } from './microphone.ts'
import { listSinks, listSources, soundServerInfo } from './pulse-control.ts'

const log = createLogger('audio')

export interface AudioServiceOptions {
  /** The sound server (`unix:/path`); undefined: libpulse's own lookup (PULSE_SERVER, the user's session). */
  server: string | undefined
  emit: EmitEvent
  /** Something viewers see changed (sound on or off). */
  changed: () => void
  /** Whether a viewer's microphone may reach the desktop (the roster's permission). */
  mayTalk: (viewerId: string) => boolean
}

export interface AudioEvents {
  /** One Opus RTP packet of the desktop's sound, for every viewer. */
  rtp: [Buffer]
  sourceChanged: []
}

/** What start_capture reports about sound. */
export interface AudioOutcome {
  audio: AudioStream | null
  unavailable?: string
}

/**
 * The host's sound: the desktop's audio to every viewer while the screen is
 * shared (capture_audio, set_audio_enabled), and viewers' microphones into
 * the desktop. Sound never stands in the picture's way: when there is no
 * sound server or the helper fails, the video runs on and the reason is
 * said (capture-started, audio-changed, error).
 */
export class AudioService extends EventEmitter<AudioEvents> {
  readonly microphones: Microphones
  readonly #o: AudioServiceOptions
  /** set_audio_enabled; on until turned off. */
  #enabled = true
  /** What the running capture asked for (undefined: not sharing). */
  #wanted: { mode: ResolvedCaptureConfig['captureAudio']; bitrateKbps: number } | undefined
  #desktop: DesktopAudio | undefined
  #unavailable: string | undefined
  /** Sound's share of the narrowest viewer's path, when a ceiling holds one down. */
  readonly #share = new AudioShare(CAPTURE_DEFAULTS.audioBitrateKbps, (kbps) =>
    this.#desktop?.setBitrate(kbps),
  )
  /** Starts and stops one at a time. */
  #changing: Promise<unknown> = Promise.resolve()
  #closed = false

  constructor(options: AudioServiceOptions) {
    super()
    this.#o = options
    this.microphones = new Microphones({
      server: options.server,
      mayTalk: options.mayTalk,
      emit: (payload) => options.emit('microphone-changed', payload),
    })
  }

  get enabled(): boolean {
    return this.#enabled
  }

  /** What viewers hear now. */
  get streaming(): AudioStream | null {
    return this.#desktop?.stream ?? null
  }

  /** Why there is no sound while sharing, in words (undefined when there is, or nothing is shared). */
  get unavailable(): string | undefined {
    return this.#unavailable
  }

  /**
   * A viewer's path ceiling for its video (kbit/s; undefined: none, or the
   * viewer left): sound takes its share of the lowest (audio-share.ts).
   */
  setPathCeiling(viewerId: string, kbps: number | undefined): void {
    this.#share.setPath(viewerId, kbps)
  }

  /** The screen is being shared with these settings: sound follows (or says why not). */
  start(config: Pick<ResolvedCaptureConfig, 'captureAudio' | 'audioBitrateKbps'>): Promise<AudioOutcome> {
    return this.#serially(async () => {
      this.#wanted = { mode: config.captureAudio, bitrateKbps: config.audioBitrateKbps }
      this.#share.setConfigured(config.audioBitrateKbps)
      const running = this.#desktop
      if (running && running.stream.bitrate_kbps === config.audioBitrateKbps && this.#wantsSound())
        return this.#outcome()
      await this.#apply('the capture settings changed')
      return this.#outcome()
    })
  }

  /** Sharing stopped: so does the sound. */
  stop(): Promise<void> {
    return this.#serially(async () => {
      this.#wanted = undefined
      await this.#stopDesktop('sharing stopped')
      this.#unavailable = undefined
    })
  }

  /** set_audio_enabled: on or off for everyone, live. Turning it on with no sound server is NO_SOUND_SERVER. */
  setEnabled(enabled: boolean): Promise<AudioStream | null> {
    return this.#serially(async () => {
      if (enabled) {
        await this.#soundServer() // says NO_SOUND_SERVER in words, before anything changes
      }
      this.#enabled = enabled
      await this.#apply(enabled ? 'turned on' : 'turned off')
      if (enabled && this.#wanted && !this.#desktop && this.#unavailable)
        throw new SmolDeskError('AUDIO_FAILED', this.#unavailable)
      return this.streaming
    })
  }

  async devices(): Promise<AudioDevices> {
    const base = {
      streaming: this.streaming,
      enabled: this.#enabled,
      microphone_source: this.microphones.source,
    }
    let info: Awaited<ReturnType<typeof soundServerInfo>>
    try {
      info = await this.#soundServer()
    } catch (err) {
      return { ...base, server: null, error: SmolDeskError.from(err).message, sinks: [], sources: [] }
    }
    const [sinks, sources] = await Promise.all([listSinks(this.#o.server), listSources(this.#o.server)])
    return {
      ...base,
      server: { name: info.name, version: info.version },
      sinks: sinks.map((s) => ({
        name: s.name,
        description: s.description ?? s.name,
        is_default: s.name === info.defaultSink,
        monitor: s.monitor_source ?? `${s.name}.monitor`,
      })),
      sources: sources.map((s) => ({
        name: s.name,
        description: s.description ?? s.name,
        is_default: s.name === info.defaultSource,
        is_monitor: typeof s.monitor_of_sink === 'string' && s.monitor_of_sink !== '',
      })),
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#changing.catch(() => {})
    await this.#desktop?.stop()
    this.#desktop = undefined
    await this.microphones.close()
  }

  #wantsSound(): boolean {
    return this.#enabled && this.#wanted !== undefined && this.#wanted.mode !== false
  }

  #serially<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#changing.then(step)
    this.#changing = next.catch(() => {})
    return next
  }

  #outcome(): AudioOutcome {
    return {
      audio: this.streaming,
      ...(this.#unavailable !== undefined && { unavailable: this.#unavailable }),
    }
  }

  #soundServer(): ReturnType<typeof soundServerInfo> {
    if (!audioHelperBuilt())
      return Promise.reject(
        new SmolDeskError('NO_SOUND_SERVER', 'the sound helper is not built (./smoldesk setup builds it)'),
      )
    return soundServerInfo(this.#o.server)
  }

  /** Brings the helper in line with what is wanted: running with the wanted settings, or stopped. */
  async #apply(reason: string): Promise<void> {
    await this.#stopDesktop(reason, false)
    this.#unavailable = undefined
    if (this.#closed || !this.#wantsSound() || !this.#wanted) {
      this.#o.changed()
      return
    }
    const { mode, bitrateKbps } = this.#wanted
    try {
      const info = await this.#soundServer()
      const sinks = await listSinks(this.#o.server)
      // What the desktop plays is its default sink; never the viewers' own microphone sink.
      const sink =
        sinks.find((s) => s.name === info.defaultSink && s.name !== MIC_SINK) ??
        sinks.find((s) => s.name !== MIC_SINK)
      if (!sink) throw new SmolDeskError('NO_SOUND_SERVER', `${info.name} has no output to record`)
      const desktop = new DesktopAudio(
        this.#o.server,
        sink.monitor_source ?? `${sink.name}.monitor`,
        bitrateKbps,
      )
      desktop.setBitrate(this.#share.kbps)
      desktop.on('rtp', (packet) => this.emit('rtp', packet))
      desktop.on('sourceChanged', () => this.emit('sourceChanged'))
      desktop.on('crashed', (error, recovering) => {
        this.#o.emit('error', { code: error.code, message: error.message, source: 'audio' })
        if (recovering || this.#desktop !== desktop) return
        this.#desktop = undefined
        this.#unavailable = error.message
        this.#o.emit('audio-changed', { audio: null, reason: error.message })
        this.#o.changed()
      })
      await desktop.start()
      this.#desktop = desktop
      this.#o.emit('audio-changed', { audio: desktop.stream, reason })
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#unavailable = error.message
      log.warn({ err: error.message }, 'no desktop audio')
      // Asked for explicitly, its absence is an error worth an event; 'auto' just says so in capture-started.
      if (mode === true) this.#o.emit('error', { code: error.code, message: error.message, source: 'audio' })
    }
    this.#o.changed()
  }

  async #stopDesktop(reason: string, announce = true): Promise<void> {
    const desktop = this.#desktop
    this.#desktop = undefined
    if (!desktop) return
    await desktop.stop()
    if (announce || !this.#wantsSound()) this.#o.emit('audio-changed', { audio: null, reason })
  }
}
