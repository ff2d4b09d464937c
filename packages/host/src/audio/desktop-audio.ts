import { EventEmitter } from 'node:events'
import { type AudioStream, SmolDeskError } from '@smoldesk/protocol'
import { FrameRecordReader } from '../capture/frame-records.ts'
import { createLogger } from '../log.ts'
import { ManagedProcess } from '../process/child.ts'
import { CrashBudget } from '../process/crash-budget.ts'
import { AUDIO_BINARY, serverArgs } from './audio-helper.ts'
import { OpusRtpPacketizer } from './opus-rtp.ts'

const log = createLogger('audio.capture')

/**
 * 10 ms frames. 5 ms ones were measured worse: Chromium's jitter buffer went
 * to 276 ms (34 ms with 10 ms frames, same run), for 2.5 ms less waiting.
 */
const FRAME_MS = 10
const FRAME_SAMPLES = FRAME_MS * 48
/** How long a fresh helper may take to deliver its first frame. */
const FIRST_FRAME_TIMEOUT_MS = 3000
/** A crashed helper is restarted this soon: sound is back well within 2 s. */
const RESTART_DELAY_MS = 200

export interface DesktopAudioEvents {
  rtp: [Buffer]
  /** The packets that follow come from a new helper process: viewers' senders keep sequence numbers continuous. */
  sourceChanged: []
  /** The helper died; `recovering` says whether it is being restarted. */
  crashed: [SmolDeskError, boolean]
}

/**
 * The desktop's sound as Opus RTP: the sound helper records a source (a
 * sink's monitor), encodes 10 ms frames, and is restarted RESTART_DELAY_MS
 * after it dies, within the CrashBudget (beyond it, it is a broken
 * set-up, not bad luck, and `crashed` says it gave up).
 */
export class DesktopAudio extends EventEmitter<DesktopAudioEvents> {
  readonly stream: AudioStream
  readonly #server: string | undefined
  #process: ManagedProcess | undefined
  readonly #crashes = new CrashBudget()
  #restartTimer: NodeJS.Timeout | undefined
  #stopped = false
  /** The bitrate the helper encodes at now (kbit/s): the configured one, or the path's share for sound. */
  #kbps: number

  constructor(server: string | undefined, device: string, bitrateKbps: number) {
    super()
    this.#server = server
    this.stream = {
      codec: 'opus',
      device,
      bitrate_kbps: bitrateKbps,
      sample_rate: 48000,
      channels: 2,
      frame_ms: FRAME_MS,
    }
    this.#kbps = bitrateKbps
  }

  /**
   * The bitrate to encode at from the next frame on (kbit/s, at most the
   * configured one): the running helper takes it on its stdin, without a
   * restart (a gap in the sound); a restarted one starts at it.
   */
  setBitrate(kbps: number): void {
    const next = Math.max(6, Math.min(this.stream.bitrate_kbps, Math.round(kbps)))
    if (next === this.#kbps) return
    this.#kbps = next
    log.debug({ kbps: next, configuredKbps: this.stream.bitrate_kbps }, 'sound bitrate')
    this.#process?.child.stdin?.write(`b${next * 1000}\n`)
  }

  /** Resolves once the first frame arrived; rejects (AUDIO_FAILED, in words) when the helper cannot record. */
  async start(): Promise<void> {
    await this.#launch()
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#restartTimer)
    const proc = this.#process
    this.#process = undefined
    await proc?.close(500)
  }

  async #launch(): Promise<void> {
    const launchedKbps = this.#kbps
    const proc = await ManagedProcess.spawn({
      name: 'smoldesk-audio capture',
      command: AUDIO_BINARY,
      args: [
        'capture',
        ...serverArgs(this.#server),
        '--device',
        this.stream.device,
        '--bitrate',
        String(launchedKbps * 1000),
        '--frame-ms',
        String(FRAME_MS),
      ],
      deathSignal: 'KILL',
      // The bitrate commands (setBitrate); a command racing the helper's exit must not crash the host.
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    proc.child.stdin?.on('error', () => {})
    if (this.#stopped) {
      await proc.close(200)
      return
    }
    this.#process = proc
    // A bitrate set while the helper was starting.
    if (this.#kbps !== launchedKbps) proc.child.stdin?.write(`b${this.#kbps * 1000}\n`)
    let first: (() => void) | undefined
    const delivered = new Promise<void>((resolve) => {
      first = resolve
    })
    const packetizer = new OpusRtpPacketizer(FRAME_SAMPLES, (packet) => {
      if (this.#process === proc) this.emit('rtp', packet)
    })
    const reader = new FrameRecordReader((frame, captureUs) => {
      first?.()
      first = undefined
      packetizer.push(frame, captureUs)
    })
    proc.child.stdout?.on('data', (chunk: Buffer) => reader.push(chunk))
    this.emit('sourceChanged')
    const outcome = await proc.started(delivered, FIRST_FRAME_TIMEOUT_MS)
    if (outcome !== 'ok') {
      if (this.#process === proc) this.#process = undefined
      await proc.close(200)
      const why = outcome === 'timeout' ? `no sound frame within ${FIRST_FRAME_TIMEOUT_MS} ms` : 'it exited'
      throw new SmolDeskError(
        'AUDIO_FAILED',
        `cannot record ${this.stream.device} (${why}): ${proc.stderrTail(2) || 'no output'}`,
      )
    }
    log.info({ device: this.stream.device, pid: proc.pid }, 'desktop audio running')
    proc.once('exit', (exit) => {
      if (this.#process !== proc) return
      this.#process = undefined
      this.#onCrash(
        new SmolDeskError(
          'AUDIO_FAILED',
          `the sound helper exited (code ${exit.code}, signal ${exit.signal}): ${proc.stderrTail(2) || 'no output'}`,
        ),
      )
    })
  }

  #onCrash(error: SmolDeskError): void {
    const recovering = this.#crashes.crashed() && !this.#stopped
    log.warn({ err: error.message, recovering }, 'sound helper crashed')
    this.emit('crashed', error, recovering)
    if (!recovering) return
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped || this.#process) return
      this.#launch().catch((err: unknown) => this.#onCrash(SmolDeskError.from(err)))
    }, RESTART_DELAY_MS)
  }
}
