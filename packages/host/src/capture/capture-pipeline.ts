import { createSocket, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { SmolDeskError } from '@smoldesk/protocol'
import { Pacer } from '../congestion/pacer.ts'
import type { EncoderRate } from '../congestion/path-estimate.ts'
import { type RateCeiling, RateGovernor, VP8_FEWER_FRAMES_BPP } from '../congestion/rate-governor.ts'
import { RateMeter } from '../congestion/rate-meter.ts'
import { TailProbe } from '../congestion/tail-probe.ts'
import { createLogger } from '../log.ts'
import { ManagedProcess } from '../process/child.ts'
import { CrashBudget } from '../process/crash-budget.ts'
import { Av1RtpPacketizer } from './av1-rtp.ts'
import type { CapturePlan, CaptureSource, EncoderCommand } from './capture-source.ts'
import { FrameRecordReader } from './frame-records.ts'
import { H264RtpPacketizer } from './h264-rtp.ts'
import { Vp8RtpPacketizer } from './vp8-rtp.ts'
import { HELPER_VBV_CEILING_KBPS } from './x264-helper-args.ts'

/*
 * Size (~380 lines): one encoder's supervised life — plan, start, restart
 * within 2 s after a crash, pause for a layout change, keyframe on request,
 * and the path's ceilings (congestion/) handed to it.
 */

const log = createLogger('capture')

/** How often the encoder's rate is shown to the rate governor while packets flow, ms. */
const RATE_NOTE_MS = 100

export type PipelinePlan = CapturePlan

/** How long a fresh encoder may take to deliver its first packet before start_capture fails. */
const FIRST_PACKET_TIMEOUT_MS = 5000
const RESTART_DELAY_MS = 200
const KEYFRAME_RESTART_GAP_MS = 2000
/** The capture helper makes IDR frames on request; a burst of requests (several viewers, loss) makes one. */
const KEYFRAME_REQUEST_GAP_MS = 250

export interface PipelineEvents {
  /** One RTP packet from the encoder. */
  rtp: [Buffer]
  /** The packets that follow come from a new encoder process (switch or restart). */
  sourceChanged: []
  /** The encoder died unexpectedly; `recovering` says whether a restart is under way. */
  crashed: [SmolDeskError, boolean]
}

/**
 * One capture + encode pipeline: a process the display backend's capture
 * source names (SmolDesk's helper, ffmpeg, a compositor's recorder) grabs a
 * monitor, encodes it and hands over RTP on a loopback UDP socket owned
 * here, or frames on its stdout that are packetized here; the packets are
 * emitted for every viewer to share. A second `start` swaps the encoder
 * process while the socket (and the viewers) stay. A crashed encoder is
 * restarted after RESTART_DELAY_MS.
 */
export class CapturePipeline extends EventEmitter<PipelineEvents> {
  readonly #socket: Socket
  #port = 0
  #process: ManagedProcess | undefined
  #plan: PipelinePlan | undefined
  #currentSsrc: number | undefined
  #firstPacket: (() => void) | undefined
  readonly #crashes = new CrashBudget()
  #restartTimer: NodeJS.Timeout | undefined
  #lastKeyframeAt = 0
  #keyframeTimer: NodeJS.Timeout | undefined
  /** What the running encoder process is (how it keys, whether it grabs on change). */
  #command: EncoderCommand | undefined
  #closed = false
  readonly #source: CaptureSource
  /** What the encoder makes (for the paths' estimates) and the ceilings their viewers' paths allow. */
  readonly #meter = new RateMeter()
  #rateNotedAt = 0
  readonly #governor = new RateGovernor((ceiling) => {
    this.#pacer.setCeiling(ceiling.kbps)
    this.#sendCeiling(this.#process, ceiling)
  })
  /** While a ceiling holds, packets leave paced (a keyframe is not one burst into a narrow link). */
  readonly #pacer = new Pacer((packet) => {
    this.emit('rtp', packet)
    this.#tail.sent(packet)
  })
  /** A frame's last packet again when nothing follows it (its loss would go unnoticed till the next change). */
  readonly #tail = new TailProbe((packet) => this.emit('rtp', packet))

  constructor(source: CaptureSource) {
    super()
    this.#source = source
    this.#socket = createSocket('udp4')
    this.#socket.on('message', (packet) => this.#onPacket(packet))
  }

  get running(): boolean {
    return this.#plan !== undefined
  }

  get plan(): PipelinePlan | undefined {
    return this.#plan
  }

  /**
   * What the encoder makes: kbit/s over the last second, at most (the
   * configured bitrate, else the helper's VBV ceiling), and per packet.
   */
  get rate(): EncoderRate {
    return {
      sendKbps: this.#meter.kbps(),
      maxKbps: this.#plan?.config.bitrateKbps ?? HELPER_VBV_CEILING_KBPS,
      packetBytes: this.#meter.packetBytes(),
    }
  }

  /**
   * The picture's whole size, while the encoder can be asked to send it
   * smaller (RateCeiling.shrink); undefined otherwise (the video is always
   * its whole size). The helper encodes an even width and height.
   */
  get fullSize(): { full_width: number; full_height: number } | undefined {
    const region = this.#plan?.region
    if (!region || this.#command?.shrinkOnRequest !== true) return undefined
    return { full_width: region.width - (region.width % 2), full_height: region.height - (region.height % 2) }
  }

  /** One viewer's path allows this much (undefined: it limits nothing, or the viewer left). */
  setPathCeiling(viewerId: string, kbps: number | undefined): void {
    this.#governor.setPath(viewerId, kbps)
  }

  /** How frames are taken: when the screen changes (the helpers, a compositor's damage), or on a clock (x11grab). */
  get captureMode(): 'on-change' | 'fixed-rate' {
    return this.#command?.onChange ? 'on-change' : 'fixed-rate'
  }

  /** Starts capturing, or switches a running capture to a new plan; resolves when the new encoder delivers. */
  async start(plan: PipelinePlan): Promise<void> {
    if (this.#closed) throw new SmolDeskError('INTERNAL', 'capture pipeline is closed')
    if (this.#port === 0) await this.#bind()
    clearTimeout(this.#restartTimer)
    this.#plan = plan
    this.#paused = false
    this.#crashes.reset()
    await this.#stopProcess()
    await this.#launch(plan)
  }

  /**
   * A viewer needs a keyframe now (it just joined, or lost one). ffmpeg's CLI
   * cannot be told to emit one, so when the GOP is longer than a second (or
   * intra refresh is on) the encoder is restarted (a fresh encoder starts with an IDR frame); at most
   * once per KEYFRAME_RESTART_GAP_MS so a lossy viewer cannot thrash it.
   */
  requestKeyframe(): void {
    const plan = this.#plan
    if (!plan || !this.#process) return
    if (this.#keyframeTimer) return // one is already scheduled
    // An encoder that has not delivered yet starts with a keyframe: restarting it now would only
    // race its start (which then failed as "exited at start" and ended the plan).
    if (this.#firstPacket) return
    const helper = this.#command?.keyframeOnRequest === true
    // With ffmpeg the next keyframe is ≤ 1 s away, unless intra refresh replaced keyframes by a
    // sweeping column of intra blocks: a decoder that joins then never sees an IDR to start from.
    const intraRefresh = plan.config.advanced.extra_params?.['intra-refresh'] === true
    const restartAlways = this.#command?.restartForKeyframe === true
    if (!helper && !restartAlways && plan.config.keyframeIntervalFrames <= plan.config.fps && !intraRefresh)
      return
    // Within the gap the request is deferred, never dropped: the newcomer still gets its keyframe.
    const gap = helper ? KEYFRAME_REQUEST_GAP_MS : KEYFRAME_RESTART_GAP_MS
    const wait = Math.max(0, this.#lastKeyframeAt + gap - Date.now())
    this.#keyframeTimer = setTimeout(() => {
      this.#keyframeTimer = undefined
      const proc = this.#process
      if (this.#plan !== plan || !proc) return
      this.#lastKeyframeAt = Date.now()
      if (helper) {
        log.debug('asking the encoder for a keyframe')
        proc.child.stdin?.write('k')
        return
      }
      log.info('restarting the encoder for a keyframe')
      void this.#stopProcess()
        .then(() => (this.#plan === plan ? this.#launch(plan) : undefined))
        .catch((err: unknown) => this.#onCrash(SmolDeskError.from(err)))
    }, wait)
  }

  /**
   * Stops the encoder for a layout change SmolDesk makes itself (the old
   * rectangle may not fit the new screen: grabbing it would fail), keeping
   * the plan; the next start() brings it back.
   */
  async pause(): Promise<void> {
    if (!this.#plan) return
    this.#paused = true
    clearTimeout(this.#restartTimer)
    clearTimeout(this.#keyframeTimer)
    this.#keyframeTimer = undefined
    await this.#stopProcess()
  }

  get paused(): boolean {
    return this.#paused
  }

  #paused = false

  /**
   * Whether no viewer watches this encoder's codec (Firefox alone, say,
   * while the configured encoder makes H.264): a helper that can
   * (pauseOnRequest) then grabs and encodes nothing until one does, and
   * goes on from a keyframe. It holds for every process this pipeline
   * starts, from that process's first frame on.
   */
  setIdle(idle: boolean): void {
    if (this.#idle === idle) return
    this.#idle = idle
    const proc = this.#process
    // Before its first frame the process is told once that frame is there (#launch).
    if (proc && !this.#firstPacket) this.#sendIdle(proc)
  }

  #idle = false

  #sendIdle(proc: ManagedProcess): void {
    if (this.#command?.pauseOnRequest !== true) return
    log.debug({ idle: this.#idle }, this.#idle ? 'no viewer watches this encoder: pausing it' : 'going on')
    proc.child.stdin?.write(this.#idle ? 'p1\n' : 'p0\n')
  }

  /** Stops the encoder; idempotent. */
  async stop(): Promise<void> {
    this.#plan = undefined
    this.#paused = false
    clearTimeout(this.#restartTimer)
    clearTimeout(this.#keyframeTimer)
    this.#keyframeTimer = undefined
    await this.#stopProcess()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.stop()
    this.#pacer.close()
    this.#tail.cancel()
    if (this.#port !== 0) this.#socket.close()
  }

  /** Encoder process id, for tests and supervision. */
  get encoderPid(): number | undefined {
    return this.#process?.pid
  }

  async #bind(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject)
      this.#socket.bind(0, '127.0.0.1', () => {
        this.#socket.off('error', reject)
        resolve()
      })
    })
    this.#port = this.#socket.address().port
    // Bursts of a 1080p keyframe are hundreds of packets: a larger receive buffer keeps them.
    this.#socket.setRecvBufferSize(4 * 1024 * 1024)
  }

  /** The process a plan runs now (the capture source's choice; an RTP port of 0 shows where it goes). */
  commandFor(plan: PipelinePlan, rtpPort = 0): EncoderCommand {
    return this.#source.command(plan, rtpPort)
  }

  async #launch(plan: PipelinePlan): Promise<void> {
    const command = this.commandFor(plan, this.#port)
    const proc = await this.#spawn(plan, command)
    this.#command = command
    // A new process starts at the configured rates: the paths' ceilings (worked out for its frame)
    // hold for it too.
    const ceiling = this.#governor.reshape({
      width: plan.region.width,
      height: plan.region.height,
      fps: plan.config.fps,
      canShrink: command.shrinkOnRequest === true,
      ...(plan.encoder.codec === 'VP8' && { fewerFramesBpp: VP8_FEWER_FRAMES_BPP }),
    })
    this.#pacer.setCeiling(ceiling.kbps)
    if (ceiling.kbps !== undefined || ceiling.fps !== undefined || ceiling.shrink !== undefined)
      this.#sendCeiling(proc, ceiling)
    const delivered = new Promise<void>((resolve) => {
      this.#firstPacket = resolve
    })
    let delivering = false
    void delivered.then(() => {
      delivering = true
      // Paused only once it has delivered: start() waits for that first frame.
      if (this.#idle && this.#process === proc) this.#sendIdle(proc)
    })
    proc.once('exit', (exit) => {
      // Replaced or stopped on purpose, or failed before its first packet (start reports that itself).
      if (this.#process !== proc || !delivering) return
      this.#process = undefined
      this.#onCrash(
        new SmolDeskError(
          'ENCODER_FAILED',
          `encoder exited (code ${exit.code}, signal ${exit.signal}): ${proc.stderrTail(3) || 'no output'}`,
        ),
      )
    })
    const outcome = await proc.started(delivered, FIRST_PACKET_TIMEOUT_MS)
    if (outcome !== 'ok') {
      const reason =
        outcome === 'timeout' ? `no video within ${FIRST_PACKET_TIMEOUT_MS} ms` : 'exited at start'
      const current = this.#process === proc // not replaced or stopped meanwhile
      if (current) {
        this.#process = undefined
        await proc.close(500)
      }
      const failure = new SmolDeskError(
        'ENCODER_FAILED',
        `encoder ${reason}: ${proc.stderrTail(3) || 'no output'}`,
      )
      if (current && this.#source.startFailed?.(command)) {
        // The source has another way to grab this display (X11: ffmpeg when the helper cannot run).
        log.warn(
          { err: failure.message, program: command.program },
          'encoder failed to start; trying another',
        )
        try {
          return await this.#launch(plan)
        } catch (err) {
          this.#source.fallbackFailed?.()
          throw err
        }
      }
      // Only this plan's own failure ends it: a start() may have put a new plan in place meanwhile,
      // and a process replaced meanwhile (stopped, restarted) is not this plan's failure.
      if (current && this.#plan === plan) this.#plan = undefined
      throw failure
    }
  }

  async #spawn(plan: PipelinePlan, command: EncoderCommand): Promise<ManagedProcess> {
    const { program } = command
    log.info(
      { program, encoder: plan.encoder.encoder, output: plan.output, fps: plan.config.fps },
      'starting encoder',
    )
    const proc = await ManagedProcess.spawn({
      name: `${program} ${plan.encoder.encoder}`,
      command: command.executable,
      args: command.args,
      ...(command.env ? { env: { ...process.env, ...command.env } } : {}),
      // A helper that keys on request reads its requests from stdin.
      stdio: [command.keyframeOnRequest ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    this.#process = proc
    // A keyframe request racing the helper's exit must not crash the host.
    proc.child.stdin?.on('error', () => {})
    const emit = (packet: Buffer) => this.#fromProcess(proc, packet)
    if (command.output === 'obu') {
      this.#packetize(proc, new Av1RtpPacketizer(emit), 'AV1')
    } else if (command.output === 'frames') {
      const vp8 = plan.encoder.codec === 'VP8'
      const packetizer = vp8 ? new Vp8RtpPacketizer(emit) : new H264RtpPacketizer(emit)
      this.#packetize(
        proc,
        new FrameRecordReader((frame, captureUs) => packetizer.push(frame, captureUs)),
        vp8 ? 'VP8' : 'H.264',
      )
    }
    return proc
  }

  #fromProcess(proc: ManagedProcess, packet: Buffer): void {
    if (this.#process === proc) this.#onPacket(packet)
  }

  #packetize(proc: ManagedProcess, parser: { push(chunk: Buffer): void }, what: string): void {
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      try {
        parser.push(chunk)
      } catch (err) {
        log.error({ err: String(err) }, `${what} stream could not be packetized`)
        void proc.close(500)
      }
    })
  }

  #onCrash(error: SmolDeskError): void {
    const recovering = this.#crashes.crashed() && this.#plan !== undefined
    log.warn({ err: error.message, recovering }, 'encoder crashed')
    this.emit('crashed', error, recovering)
    if (!recovering) {
      this.#plan = undefined
      return
    }
    this.#restartTimer = setTimeout(() => {
      const plan = this.#plan
      if (!plan || this.#process) return
      this.#launch(plan).catch((err: unknown) => {
        // Replaced while it failed (a layout change started the new rectangle): nothing to recover.
        if (this.#plan === plan || this.#plan === undefined) this.#onCrash(SmolDeskError.from(err))
      })
    }, RESTART_DELAY_MS)
  }

  async #stopProcess(): Promise<void> {
    this.#tail.cancel()
    const proc = this.#process
    this.#process = undefined
    this.#firstPacket = undefined
    if (proc) await proc.close(1000)
  }

  #onPacket(packet: Buffer): void {
    if (packet.length < 12 || this.#process === undefined) return
    const payloadType = packet[1] ?? 0
    // ffmpeg's RTCP sender reports share the port (rtcpport); only media goes on.
    if (payloadType >= 200 && payloadType <= 206) return
    const ssrc = packet.readUInt32BE(8)
    if (ssrc !== this.#currentSsrc) {
      this.#currentSsrc = ssrc
      this.#pacer.flush() // the old source's packets go before the change, never after it
      this.#tail.cancel()
      this.emit('sourceChanged')
    }
    if (this.#firstPacket) {
      this.#firstPacket()
      this.#firstPacket = undefined
    }
    const now = performance.now()
    this.#meter.add(packet.length, now)
    // What it made over the last second, for the governor to see an encoder that cannot meet its ceiling.
    if (now - this.#rateNotedAt >= RATE_NOTE_MS) {
      this.#rateNotedAt = now
      this.#governor.noteEncoderRate(this.#meter.kbps(now), now)
    }
    this.#pacer.push(packet)
  }

  #sendCeiling(proc: ManagedProcess | undefined, ceiling: RateCeiling): void {
    if (!proc || this.#command?.rateOnRequest !== true) return
    // The size first: the new encoder it takes starts under the rates that follow.
    const shrink = this.#command.shrinkOnRequest === true ? `s${ceiling.shrink ?? 0}\n` : ''
    proc.child.stdin?.write(`${shrink}b${ceiling.kbps ?? 0}\nf${ceiling.fps ?? 0}\n`)
  }
}
