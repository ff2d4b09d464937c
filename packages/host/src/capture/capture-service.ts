import { EventEmitter } from 'node:events'
import {
  type MonitorInfo,
  type ResolvedCaptureConfig,
  resolveCaptureConfig,
  type ScreenCaptureConfig,
  SmolDeskError,
  type VideoCodec,
} from '@smoldesk/protocol'
import type { AudioService } from '../audio/audio-service.ts'
import type { EncoderRate } from '../congestion/path-estimate.ts'
import type { EmitEvent } from '../events.ts'
import { CapturePipeline, type PipelinePlan } from './capture-pipeline.ts'
import type { CaptureSource } from './capture-source.ts'
import type { EncoderProbeCache } from './codec-probe.ts'
import { qualityToCrf, STREAMABLE_ENCODERS, vbvBufferKbit } from './encoder-args.ts'

/*
 * Size (~370 lines): the encoders' one owner — the configured pipeline, one
 * more per codec a viewer needs, the monitor layout they follow and the RTP
 * they emit — kept together because each of those changes the others under
 * one lock. Sound has its own service (audio/); this one only starts and
 * stops it with the picture, so capture-started can say what is heard.
 */

export interface CaptureServiceOptions {
  /** The desktop's sound goes with the picture: started, switched and stopped with it. */
  audio: Pick<AudioService, 'start' | 'stop'>
  /** How the display is grabbed (the display backend's): a new source for each encoder. */
  source: () => CaptureSource
  monitors: () => Promise<MonitorInfo[]>
  probe: EncoderProbeCache
  emit: EmitEvent
  /** Called after the codec of the stream changed, so peers can be re-offered. */
  onCodecChanged: () => Promise<void>
  /** Calls back whenever the monitor layout may have changed (RandR); started with the first capture. */
  watchMonitors?: (onChange: () => void) => Promise<unknown>
}

/** RandR sends several notifications for one change (screen, CRTC, output): act once they settle. */
const LAYOUT_SETTLE_MS = 250
/**
 * An extra encoder whose last viewer left runs on this long: a viewer
 * coming back (the page's new connection after a drop) finds it running
 * instead of waiting for a new one and its first keyframe. Firefox's new
 * connection over 0.55 Mbit/s showed its first picture 1.6–2.5 s after the
 * restart with a core kept busy when its VP8 encoder started anew (0.9–1.4 s
 * for Chromium, whose encoder runs on).
 */
const EXTRA_LINGER_MS = 5000

/** What the capture makes, by codec: every viewer of a codec shares that codec's packets. */
export interface CaptureEvents {
  rtp: [VideoCodec, Buffer]
  /** The packets of this codec that follow come from a new encoder process (switch or restart). */
  sourceChanged: [VideoCodec]
}

/**
 * start_capture / stop_capture: checks a request completely before it
 * touches the running stream (bad input never interrupts it), then starts or
 * switches the pipeline every viewer shares.
 *
 * One encoder per codec in use: the configured codec's (`pipeline`), and
 * one more for each other codec some viewer needs because it cannot decode
 * the configured one (Firefox without OpenH264 gets VP8). Those run with
 * the same monitor, rate and quality, in software and without the codec-
 * specific advanced options, and stop a few seconds after their last
 * viewer goes (EXTRA_LINGER_MS).
 */
export class CaptureService extends EventEmitter<CaptureEvents> {
  readonly pipeline: CapturePipeline
  readonly #options: CaptureServiceOptions
  readonly #extra = new Map<VideoCodec, CapturePipeline>()
  /** The codecs viewers use now (useCodecs); extras for them start with the capture. */
  #inUse = new Set<VideoCodec>()
  /**
   * Each viewer's path ceiling, by the codec it watches. An extra encoder
   * starts after its first viewer's answer (useCodecs), when that viewer's
   * ceiling — carried over from its last connection — was already given: kept
   * here, it holds from the new encoder's first frame (without it Firefox's
   * new connection over 0.55 Mbit/s got VP8 at its whole rate, 1280x720 at
   * constant quality, and no picture for 15 s: every keyframe was lost).
   */
  readonly #paths = new Map<VideoCodec, Map<string, number>>()
  /** Extra encoders without a viewer, running on until their time is up (EXTRA_LINGER_MS). */
  readonly #lingering = new Map<VideoCodec, { timer: NodeJS.Timeout; over: boolean }>()
  /** Extra encoders are started and stopped one change at a time. */
  #extrasChanging: Promise<void> = Promise.resolve()
  #codec: VideoCodec = 'H264'
  #wire: ScreenCaptureConfig = {}
  /** The monitor start_capture last asked for, until stop_capture: a layout change re-applies #wire to it. */
  #wantedMonitor: number | undefined
  #watching = false
  #layoutTimer: NodeJS.Timeout | undefined
  /** Layout changes are followed one at a time. */
  #following: Promise<void> = Promise.resolve()

  constructor(options: CaptureServiceOptions) {
    super()
    this.#options = options
    this.pipeline = new CapturePipeline(options.source())
    // Packets are labelled with the codec the pipeline runs now: during a codec switch the new
    // encoder's first packets arrive before start() resolves.
    const primaryCodec = () => this.pipeline.plan?.config.codec ?? this.#codec
    this.pipeline.on('rtp', (packet) => this.emit('rtp', primaryCodec(), packet))
    this.pipeline.on('sourceChanged', () => this.emit('sourceChanged', primaryCodec()))
    this.pipeline.on('crashed', (error, recovering) => {
      options.emit('error', { code: error.code, message: error.message, source: 'capture' })
      if (!recovering) {
        void options.audio.stop()
        options.emit('capture-stopped', { reason: `encoder failed: ${error.message}` })
      }
    })
  }

  /**
   * The codecs a viewer is offered, best first: the configured one, then
   * every other codec that streams here (the viewer's browser picks the
   * first it can decode).
   */
  async offeredCodecs(): Promise<VideoCodec[]> {
    const report = await this.#options.probe.get()
    const streamable = (codec: VideoCodec) =>
      report.encoders.some(
        (e) => e.codec === codec && e.acceleration === 'None' && STREAMABLE_ENCODERS.has(e.encoder),
      )
    return [this.#codec, ...report.codecs.filter((c) => c !== this.#codec && streamable(c))]
  }

  /** A viewer of this codec needs a keyframe (it joined, or lost one). */
  requestKeyframe(codec: VideoCodec): void {
    this.#pipelineFor(codec)?.requestKeyframe()
  }

  /** The encoder a viewer of this codec is fed by (the configured one, or that codec's extra). */
  #pipelineFor(codec: VideoCodec): CapturePipeline | undefined {
    return codec === (this.pipeline.plan?.config.codec ?? this.#codec)
      ? this.pipeline
      : this.#extra.get(codec)
  }

  /** What the encoder of this codec makes now and at most, kbit/s (for a viewer's path estimate). */
  encoderRate(codec: VideoCodec): EncoderRate | undefined {
    return this.#pipelineFor(codec)?.rate
  }

  /** A viewer's path allows this much of its codec's encoder (undefined: no limit, or it left). */
  setPathCeiling(codec: VideoCodec, viewerId: string, kbps: number | undefined): void {
    const paths = this.#paths.get(codec)
    if (kbps !== undefined) {
      if (paths) paths.set(viewerId, kbps)
      else this.#paths.set(codec, new Map([[viewerId, kbps]]))
    } else if (paths) {
      paths.delete(viewerId)
      if (paths.size === 0) this.#paths.delete(codec)
    }
    this.#pipelineFor(codec)?.setPathCeiling(viewerId, kbps)
  }

  /** The codecs viewers are using now: an encoder runs for each while capturing; the others stop. */
  useCodecs(codecs: Iterable<VideoCodec>): Promise<void> {
    this.#inUse = new Set(codecs)
    this.#idleUnwatched()
    return this.#syncExtras()
  }

  /**
   * The configured encoder idles while viewers watch only other codecs:
   * with Firefox alone (VP8), SmolDesk's H.264 helper took 21–23 % of a
   * core on a 1280x720 full-screen change for nobody, under 1 % paused.
   * With no viewer at all it runs on, so that the first one gets a picture
   * at once.
   */
  #idleUnwatched(): void {
    const codec = this.pipeline.plan?.config.codec
    this.pipeline.setIdle(codec !== undefined && this.#inUse.size > 0 && !this.#inUse.has(codec))
  }

  /** The settings of the stream running now; undefined while stopped. */
  get running(): ResolvedCaptureConfig | undefined {
    return this.pipeline.running ? this.pipeline.plan?.config : undefined
  }

  /** The configuration of the last successful start, as it was asked for (defaults not applied). */
  get wireConfig(): ScreenCaptureConfig {
    return structuredClone(this.#wire)
  }

  /** The codec viewers are offered: the running one, else the default. */
  get codec(): VideoCodec {
    return this.#codec
  }

  async start(monitorIndex: number, wire: ScreenCaptureConfig): Promise<void> {
    const config = resolveCaptureConfig(monitorIndex, wire)
    const plan = await this.#plan(config)
    const previous = this.pipeline.plan
    try {
      await this.pipeline.start(plan)
    } catch (err) {
      // The new settings validated but the encoder refused them: put the old stream back.
      if (previous) await this.pipeline.start(previous).catch(() => {})
      throw err
    }
    this.#wire = structuredClone(wire)
    this.#wantedMonitor = config.monitorIndex
    // The configured codec may be another one now.
    this.#idleUnwatched()
    this.#watchLayout()
    const codecChanged = this.#codec !== config.codec
    this.#codec = config.codec
    // The other codecs' encoders follow the new monitor and settings (or stop, if they now are the configured one).
    await this.#syncExtras(true)
    if (codecChanged) await this.#options.onCodecChanged()
    // Sound follows; it never fails the picture (the event says why there is none).
    const sound = await this.#options.audio.start(config)
    const vbv = vbvBufferKbit(config)
    const encoderProcess = this.pipeline.commandFor(plan)
    this.#options.emit('capture-started', {
      monitor_index: config.monitorIndex,
      x: plan.region.x,
      y: plan.region.y,
      width: plan.region.width,
      height: plan.region.height,
      fps: config.fps,
      codec: config.codec,
      encoder: plan.encoder.encoder,
      hardware_acceleration: config.hardwareAcceleration,
      quality: config.quality,
      crf: qualityToCrf(config.codec, config.quality),
      bitrate_kbps: config.bitrateKbps ?? null,
      vbv_buffer_kbit: vbv ?? null,
      latency_mode: config.latencyMode,
      keyframe_interval_frames: config.keyframeIntervalFrames,
      capture_cursor: config.captureCursor,
      encoder_command: encoderProcess.program,
      encoder_args: encoderProcess.args,
      audio: sound.audio,
      ...(sound.unavailable !== undefined && { audio_unavailable: sound.unavailable }),
    })
  }

  async stop(reason = 'requested'): Promise<void> {
    this.#wantedMonitor = undefined
    const wasRunning = this.pipeline.running
    await this.pipeline.stop()
    await this.#syncExtras()
    await this.#options.audio.stop()
    if (wasRunning) this.#options.emit('capture-stopped', { reason })
  }

  async close(): Promise<void> {
    clearTimeout(this.#layoutTimer)
    this.#wantedMonitor = undefined // a layout change from now on has nothing to follow
    this.#inUse.clear()
    for (const codec of [...this.#lingering.keys()]) this.#stopLingering(codec)
    await this.#extrasChanging
    await Promise.all([this.pipeline.close(), ...[...this.#extra.values()].map((p) => p.close())])
    this.#extra.clear()
  }

  /**
   * Brings the extra encoders in line with the codecs in use: one for each
   * codec other than the configured one while capturing, none otherwise.
   * `replan`: the capture's monitor or settings changed, so running extras
   * restart with them. A codec whose encoder cannot start is reported, not
   * fatal: the other viewers keep their picture.
   */
  #syncExtras(replan = false): Promise<void> {
    const next = this.#extrasChanging.then(async () => {
      const primary = this.pipeline.plan
      const wanted = primary ? [...this.#inUse].filter((c) => c !== primary.config.codec) : []
      for (const [codec, pipeline] of this.#extra) {
        if (wanted.includes(codec)) {
          this.#stopLingering(codec)
          continue
        }
        // Not through a stop or a new plan: those stop it at once.
        if (this.pipeline.running && !replan && this.#lingers(codec)) continue
        this.#stopLingering(codec)
        this.#extra.delete(codec)
        await pipeline.close()
      }
      if (!primary) return
      for (const codec of wanted) {
        const running = this.#extra.get(codec)
        if (running && !replan) continue
        try {
          const plan = await this.#plan(
            resolveCaptureConfig(primary.config.monitorIndex, extraWire(this.#wire, codec)),
          )
          const pipeline = running ?? this.#newExtra(codec)
          await pipeline.start(plan)
        } catch (err) {
          const error = SmolDeskError.from(err)
          this.#extra.get(codec)?.close()
          this.#extra.delete(codec)
          this.#options.emit('error', {
            code: error.code,
            message: `could not start the ${codec} encoder for the viewers that need it: ${error.message}`,
            source: 'capture',
          })
        }
      }
    })
    this.#extrasChanging = next.catch(() => {})
    return next
  }

  /** Whether an extra encoder without a viewer still runs on (its time starts now, the first time it is asked). */
  #lingers(codec: VideoCodec): boolean {
    const lingering = this.#lingering.get(codec)
    if (lingering) return !lingering.over
    const entry = {
      over: false,
      timer: setTimeout(() => {
        entry.over = true
        // Nobody awaits this one: a failure to stop it is said as the other capture errors are.
        this.#syncExtras().catch((err: unknown) => {
          const error = SmolDeskError.from(err)
          this.#options.emit('error', { code: error.code, message: error.message, source: 'capture' })
        })
      }, EXTRA_LINGER_MS).unref(),
    }
    this.#lingering.set(codec, entry)
    return true
  }

  #stopLingering(codec: VideoCodec): void {
    clearTimeout(this.#lingering.get(codec)?.timer)
    this.#lingering.delete(codec)
  }

  #newExtra(codec: VideoCodec): CapturePipeline {
    const pipeline = new CapturePipeline(this.#options.source())
    pipeline.on('rtp', (packet) => this.emit('rtp', codec, packet))
    pipeline.on('sourceChanged', () => this.emit('sourceChanged', codec))
    pipeline.on('crashed', (error) =>
      this.#options.emit('error', {
        code: error.code,
        message: `${codec} encoder: ${error.message}`,
        source: 'capture',
      }),
    )
    this.#extra.set(codec, pipeline)
    for (const [viewerId, kbps] of this.#paths.get(codec) ?? []) pipeline.setPathCeiling(viewerId, kbps)
    return pipeline
  }

  /**
   * SmolDesk is about to change the layout itself: every encoder stops until
   * followLayout(). A follow still under way (an encoder starting on the last
   * layout, which can take a second at 4K) finishes first: pausing in the
   * middle of its start would leave the start failing and putting back an
   * older rectangle.
   */
  async pauseForLayout(): Promise<void> {
    await this.#following
    await this.#extrasChanging
    await Promise.all([this.pipeline, ...this.#extra.values()].map((p) => p.pause()))
  }

  /** The layout changed and we know it (SmolDesk resized a monitor): follow it now, not after RandR settles. */
  followLayout(): Promise<void> {
    clearTimeout(this.#layoutTimer)
    this.#following = this.#following.then(() => this.#followLayout())
    return this.#following
  }

  #watchLayout(): void {
    const watch = this.#options.watchMonitors
    if (this.#watching || !watch) return
    this.#watching = true
    const changed = () => {
      clearTimeout(this.#layoutTimer)
      this.#layoutTimer = setTimeout(() => {
        this.#following = this.#following.then(() => this.#followLayout())
      }, LAYOUT_SETTLE_MS)
    }
    watch(changed).catch((err: unknown) => {
      this.#watching = false
      this.#options.emit('error', {
        code: 'INTERNAL',
        message: `cannot watch monitors: ${String(err)}`,
        source: 'capture',
      })
    })
  }

  /**
   * The monitor being captured moved, changed size or went away: capture its
   * new rectangle with the same settings (viewers keep their connection), or
   * stop with a reason when it is gone. Also when the encoder gave up
   * meanwhile: grabbing a rectangle that no longer fits the screen fails,
   * often before the layout has settled.
   */
  async #followLayout(): Promise<void> {
    const wanted = this.#wantedMonitor
    if (wanted === undefined) return
    const monitor = (await this.#options.monitors().catch(() => []))[wanted]
    if (!monitor) {
      await this.stop(`monitor ${wanted} is gone`)
      return
    }
    const r = this.pipeline.running ? this.pipeline.plan?.region : undefined
    if (
      !this.pipeline.paused &&
      r &&
      monitor.x === r.x &&
      monitor.y === r.y &&
      monitor.width === r.width &&
      monitor.height === r.height
    )
      return
    await this.start(wanted, this.#wire).catch((err: unknown) =>
      this.#options.emit('error', {
        code: SmolDeskError.from(err).code,
        message: `could not follow the monitor's new layout: ${SmolDeskError.from(err).message}`,
        source: 'capture',
      }),
    )
  }

  /** Every check a start_capture needs, done before anything changes. */
  async #plan(config: ResolvedCaptureConfig): Promise<PipelinePlan> {
    const monitors = await this.#options.monitors()
    const monitor = monitors[config.monitorIndex]
    if (!monitor) {
      throw new SmolDeskError(
        'MONITOR_NOT_FOUND',
        `monitor ${config.monitorIndex} does not exist (this display has ${monitors.length})`,
      )
    }
    const report = await this.#options.probe.get()
    if (
      config.hardwareAcceleration !== 'None' &&
      !report.accelerations.includes(config.hardwareAcceleration)
    ) {
      const refused = Object.entries(report.refused)
        .map(([encoder, why]) => `${encoder}: ${why}`)
        .join('; ')
      throw new SmolDeskError(
        'HWACCEL_UNAVAILABLE',
        `${config.hardwareAcceleration} is not available on this machine (${refused || 'no encoder opened'})`,
      )
    }
    if (!report.codecs.includes(config.codec)) {
      throw new SmolDeskError(
        'CODEC_UNSUPPORTED',
        `${config.codec} cannot be streamed here; available: ${report.codecs.join(', ') || 'none'}`,
      )
    }
    const encoder = report.encoders.find(
      (e) =>
        e.codec === config.codec &&
        e.acceleration === config.hardwareAcceleration &&
        STREAMABLE_ENCODERS.has(e.encoder),
    )
    if (!encoder) {
      throw new SmolDeskError(
        'CODEC_UNSUPPORTED',
        `no streamable ${config.codec} encoder with acceleration ${config.hardwareAcceleration}`,
      )
    }
    const plan: PipelinePlan = {
      output: monitor.name,
      region: { x: monitor.x, y: monitor.y, width: monitor.width, height: monitor.height },
      config,
      encoder,
    }
    this.pipeline.commandFor(plan) // throws INVALID_ARGS for impossible combinations
    return plan
  }
}

/**
 * The settings of another codec's encoder: the capture's monitor, rate,
 * quality and latency, in software, without the options that belong to the
 * configured codec's encoder (an x264 preset means nothing to libvpx).
 */
function extraWire(wire: ScreenCaptureConfig, codec: VideoCodec): ScreenCaptureConfig {
  const { advanced_options: _advanced, hardware_acceleration: _hw, ...rest } = wire
  return { ...rest, codec }
}
