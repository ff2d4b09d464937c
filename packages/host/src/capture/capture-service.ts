import {
  type MonitorInfo,
  type ResolvedCaptureConfig,
  resolveCaptureConfig,
  type ScreenCaptureConfig,
  SmolDeskError,
  type VideoCodec,
} from '@smoldesk/protocol'
import type { EmitEvent } from '../webrtc/viewer-hub.ts'
import { CapturePipeline, type PipelinePlan } from './capture-pipeline.ts'
import type { EncoderProbeCache } from './codec-probe.ts'
import { qualityToCrf, STREAMABLE_ENCODERS, vbvBufferKbit } from './encoder-args.ts'

export interface CaptureServiceOptions {
  display: () => string
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
 * start_capture / stop_capture: checks a request completely before it
 * touches the running stream (bad input never interrupts it), then starts or
 * switches the one pipeline every viewer shares.
 */
export class CaptureService {
  readonly pipeline = new CapturePipeline()
  readonly #options: CaptureServiceOptions
  #codec: VideoCodec = 'H264'
  #wire: ScreenCaptureConfig = {}
  /** The monitor start_capture last asked for, until stop_capture: a layout change re-applies #wire to it. */
  #wantedMonitor: number | undefined
  #watching = false
  #layoutTimer: NodeJS.Timeout | undefined
  /** Layout changes are followed one at a time. */
  #following: Promise<void> = Promise.resolve()

  constructor(options: CaptureServiceOptions) {
    this.#options = options
    this.pipeline.on('crashed', (error, recovering) => {
      options.emit('error', { code: error.code, message: error.message, source: 'capture' })
      if (!recovering) options.emit('capture-stopped', { reason: `encoder failed: ${error.message}` })
    })
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
    this.#watchLayout()
    const codecChanged = this.#codec !== config.codec
    this.#codec = config.codec
    if (codecChanged) await this.#options.onCodecChanged()
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
      encoder_command: encoderProcess.command,
      encoder_args: encoderProcess.args,
    })
  }

  async stop(reason = 'requested'): Promise<void> {
    this.#wantedMonitor = undefined
    const wasRunning = this.pipeline.running
    await this.pipeline.stop()
    if (wasRunning) this.#options.emit('capture-stopped', { reason })
  }

  close(): Promise<void> {
    clearTimeout(this.#layoutTimer)
    return this.pipeline.close()
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
    if (config.captureAudio) throw new SmolDeskError('UNAVAILABLE', 'capture_audio is not supported yet')
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
      display: this.#options.display(),
      region: { x: monitor.x, y: monitor.y, width: monitor.width, height: monitor.height },
      config,
      encoder,
    }
    this.pipeline.commandFor(plan) // throws INVALID_ARGS for impossible combinations
    return plan
  }
}
