import { createSocket, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { ManagedProcess } from '../process/child.ts'
import { Av1RtpPacketizer } from './av1-rtp.ts'
import { buildFfmpegArgs, type EncodePlan } from './encoder-args.ts'
import { buildGrabArgs, GRAB_BINARY, GrabFrameReader, grabEnabled } from './grab/grab.ts'
import { H264RtpPacketizer } from './h264-rtp.ts'

/*
 * Size (~350 lines): one encoder's supervised life — plan, start, restart
 * within 2 s after a crash, pause for a layout change, keyframe on request.
 */

const log = createLogger('capture')

export type PipelinePlan = Omit<EncodePlan, 'rtpPort' | 'payloadType'>

/** How long a fresh encoder may take to deliver its first packet before start_capture fails. */
const FIRST_PACKET_TIMEOUT_MS = 5000
const RESTART_DELAY_MS = 200
/** More crashes than this within the window and the pipeline gives up (a broken config, not bad luck). */
const MAX_CRASHES = 5
const CRASH_WINDOW_MS = 30_000
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
 * One capture + encode pipeline: ffmpeg grabs a monitor's rectangle, encodes
 * it and sends RTP to a loopback UDP socket owned here; the packets are
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
  #crashes: number[] = []
  #restartTimer: NodeJS.Timeout | undefined
  #lastKeyframeAt = 0
  #keyframeTimer: NodeJS.Timeout | undefined
  /** The running encoder is the capture helper, which makes an IDR frame on request. */
  #helperMakesKeyframes = false
  /** The helper could not start on this display: ffmpeg for the rest of this pipeline's life. */
  #grabFailed = false
  #closed = false

  /** `useHelper`: capture with SmolDesk's helper where it applies (HostOptions.captureHelper). */
  readonly #useHelper: boolean

  constructor(options: { useHelper?: boolean } = {}) {
    super()
    this.#useHelper = options.useHelper ?? true
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
   * How frames are taken: the capture helper grabs on change, except for an
   * encoder that holds frames back (Quality mode), which it feeds at a
   * steady rate, as ffmpeg's x11grab always does.
   */
  get captureMode(): 'on-change' | 'fixed-rate' {
    const onChange = this.#helperMakesKeyframes && this.#plan?.config.latencyMode !== 'Quality'
    return onChange ? 'on-change' : 'fixed-rate'
  }

  /** Starts capturing, or switches a running capture to a new plan; resolves when the new encoder delivers. */
  async start(plan: PipelinePlan): Promise<void> {
    if (this.#closed) throw new SmolDeskError('INTERNAL', 'capture pipeline is closed')
    if (this.#port === 0) await this.#bind()
    clearTimeout(this.#restartTimer)
    this.#plan = plan
    this.#paused = false
    this.#crashes = []
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
    const helper = this.#helperMakesKeyframes
    // With ffmpeg the next keyframe is ≤ 1 s away, unless intra refresh replaced keyframes by a
    // sweeping column of intra blocks: a decoder that joins then never sees an IDR to start from.
    const intraRefresh = plan.config.advanced.extra_params?.['intra-refresh'] === true
    if (!helper && plan.config.keyframeIntervalFrames <= plan.config.fps && !intraRefresh) return
    // Within the gap the request is deferred, never dropped: the newcomer still gets its keyframe.
    const gap = helper ? KEYFRAME_REQUEST_GAP_MS : KEYFRAME_RESTART_GAP_MS
    const wait = Math.max(0, this.#lastKeyframeAt + gap - Date.now())
    this.#keyframeTimer = setTimeout(() => {
      this.#keyframeTimer = undefined
      const proc = this.#process
      if (this.#plan !== plan || !proc) return
      this.#lastKeyframeAt = Date.now()
      if (helper) {
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

  /** The process a plan runs: the capture helper where it applies (and has not failed here), else ffmpeg. */
  commandFor(plan: PipelinePlan, rtpPort = 0): { command: 'smoldesk-grab' | 'ffmpeg'; args: string[] } {
    const grabArgs = grabEnabled(this.#useHelper) && !this.#grabFailed ? buildGrabArgs(plan) : undefined
    if (grabArgs) return { command: 'smoldesk-grab', args: grabArgs }
    return { command: 'ffmpeg', args: buildFfmpegArgs({ ...plan, rtpPort, payloadType: 96 }) }
  }

  async #launch(plan: PipelinePlan): Promise<void> {
    const { command, args } = this.commandFor(plan, this.#port)
    const proc =
      command === 'smoldesk-grab' ? await this.#spawnGrab(plan, args) : await this.#spawnFfmpeg(plan, args)
    this.#helperMakesKeyframes = command === 'smoldesk-grab'
    const delivered = new Promise<void>((resolve) => {
      this.#firstPacket = resolve
    })
    let delivering = false
    void delivered.then(() => {
      delivering = true
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
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      delivered.then(() => 'ok' as const),
      proc.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), FIRST_PACKET_TIMEOUT_MS)
      }),
    ])
    clearTimeout(timer)
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
      if (current && command === 'smoldesk-grab') {
        // An X server the helper cannot work with (no MIT-SHM or DAMAGE, an unusual visual):
        // ffmpeg's x11grab from now on, rather than no picture at all. If ffmpeg fails too,
        // the helper was not the problem and stays in use for the next start.
        log.warn({ err: failure.message }, 'the capture helper failed to start; trying ffmpeg')
        this.#grabFailed = true
        try {
          return await this.#launch(plan)
        } catch (err) {
          this.#grabFailed = false
          throw err
        }
      }
      // Only this plan's own failure ends it: a start() may have put a new plan in place meanwhile.
      if (this.#plan === plan) this.#plan = undefined
      throw failure
    }
  }

  async #spawnFfmpeg(plan: PipelinePlan, args: string[]): Promise<ManagedProcess> {
    log.info({ encoder: plan.encoder.encoder, region: plan.region, fps: plan.config.fps }, 'starting encoder')
    const proc = await ManagedProcess.spawn({
      name: `ffmpeg ${plan.encoder.encoder}`,
      command: 'ffmpeg',
      args,
    })
    this.#process = proc
    if (plan.encoder.codec === 'AV1') {
      // AV1 arrives as raw OBUs on stdout and is packetized here (ffmpeg 5.1 cannot).
      this.#packetize(proc, new Av1RtpPacketizer((packet) => this.#fromProcess(proc, packet)), 'AV1')
    }
    return proc
  }

  /** SmolDesk's damage-driven capture helper: H.264 frames on stdout, packetized here. */
  async #spawnGrab(plan: PipelinePlan, args: string[]): Promise<ManagedProcess> {
    log.info({ encoder: 'smoldesk-grab', region: plan.region, fps: plan.config.fps }, 'starting encoder')
    const proc = await ManagedProcess.spawn({
      name: 'smoldesk-grab',
      command: GRAB_BINARY,
      args,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.#process = proc
    // A keyframe request racing the helper's exit must not crash the host.
    proc.child.stdin?.on('error', () => {})
    const packetizer = new H264RtpPacketizer((packet) => this.#fromProcess(proc, packet))
    this.#packetize(
      proc,
      new GrabFrameReader((frame, captureUs) => packetizer.push(frame, captureUs)),
      'H.264',
    )
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
    const now = Date.now()
    this.#crashes = [...this.#crashes.filter((t) => now - t < CRASH_WINDOW_MS), now]
    const recovering = this.#plan !== undefined && this.#crashes.length <= MAX_CRASHES
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
      this.emit('sourceChanged')
    }
    if (this.#firstPacket) {
      this.#firstPacket()
      this.#firstPacket = undefined
    }
    this.emit('rtp', packet)
  }
}
