import type { EventPayload } from '@smoldesk/protocol'
import { MICROPHONE_SOURCE_DESCRIPTION, SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { ManagedProcess } from '../process/child.ts'
import { AUDIO_BINARY, serverArgs } from './audio-helper.ts'
import { loadModule, modulesMarked, unloadModule } from './pulse-control.ts'

const log = createLogger('audio.microphone')

/** Where viewers' voices are played (a null sink)… */
export const MIC_SINK = 'smoldesk_mic_sink'
/** …and what applications record them from: its monitor, remapped into a source of its own name. */
export const MIC_SOURCE = 'smoldesk_microphone'
/** Louder than this (dBov, RFC 6464's audio level) is talking; a quiet room is −60 or below. */
const TALKING_DBOV = -50
/** Talking this long after the last loud packet (speech has short pauses). */
const TALKING_HOLD_MS = 400
/** A gap of more sequence numbers than this is not concealed frame by frame (the decoder starts afresh). */
const MAX_CONCEALED = 5
const RECORD_HEADER = 13
const FLAG_LOST = 2
/** The helper refuses larger records (and Opus frames are at most 1275 bytes): a bigger one is dropped here. */
const MAX_PAYLOAD = 4000
/** A player this far behind (a stalled sound server) gets no more: what it cannot play in time is late anyway. */
const MAX_QUEUED_BYTES = 64 * 1024

/** One packet of a viewer's microphone, as the peer hands it over. */
export interface MicrophonePacket {
  sequence: number
  payload: Buffer
  /** RFC 6464 audio level in dBov (0 loudest, −127 silence), when the browser sends it. */
  levelDbov: number | undefined
}

/** One viewer's voice into the microphone sink: a sound helper decoding its Opus frames. */
class MicrophonePlayer {
  readonly #server: string | undefined
  #process: Promise<ManagedProcess> | undefined
  #lastSequence: number | undefined
  #closed = false

  constructor(server: string | undefined) {
    this.#server = server
  }

  play(packet: MicrophonePacket): void {
    if (this.#closed) return
    const previous = this.#lastSequence
    this.#lastSequence = packet.sequence
    let lost = previous === undefined ? 0 : ((packet.sequence - previous) & 0xffff) - 1
    if (lost < 0 || lost > 0x8000) return // a late or repeated packet: its moment has been played
    lost = Math.min(lost, MAX_CONCEALED)
    const records: Buffer[] = []
    for (let i = 0; i < lost; i++) {
      const gap = Buffer.alloc(RECORD_HEADER)
      gap[12] = FLAG_LOST
      records.push(gap)
    }
    const header = Buffer.alloc(RECORD_HEADER)
    header.writeUInt32BE(packet.payload.length, 0)
    records.push(header, packet.payload)
    void this.#helper().then(
      (proc) => {
        const stdin = proc.child.stdin
        if (proc.running && stdin && stdin.writableLength < MAX_QUEUED_BYTES)
          stdin.write(Buffer.concat(records))
      },
      () => {},
    )
  }

  #helper(): Promise<ManagedProcess> {
    const current = this.#process
    if (current) return current
    const started = ManagedProcess.spawn({
      name: 'smoldesk-audio play',
      command: AUDIO_BINARY,
      args: ['play', ...serverArgs(this.#server), '--device', MIC_SINK, '--channels', '1'],
      stdio: ['pipe', 'ignore', 'pipe'],
      deathSignal: 'KILL',
    })
    this.#process = started
    started.then(
      (proc) => {
        proc.child.stdin?.on('error', () => {})
        // A helper that died is started again with the next packet.
        proc.once('exit', (exit) => {
          if (this.#process === started) this.#process = undefined
          if (!this.#closed)
            log.warn({ code: exit.code, err: proc.stderrTail(2) }, 'microphone player exited')
        })
      },
      (err: unknown) => {
        if (this.#process === started) this.#process = undefined
        log.warn({ err: String(err) }, 'microphone player did not start')
      },
    )
    return started
  }

  async close(): Promise<void> {
    this.#closed = true
    const proc = await this.#process?.catch(() => undefined)
    this.#process = undefined
    await proc?.close(300)
  }
}

/**
 * Viewers' microphones into the desktop: a virtual source "SmolDesk
 * microphone" (a null sink and a remap of its monitor, which PulseAudio and
 * pipewire-pulse both have), loaded when the first viewer is allowed and
 * unloaded with the host; one player per talking viewer, mixed by the sound
 * server. Packets of a viewer who is not allowed are dropped here, whatever
 * the browser sends.
 */
export class Microphones {
  readonly #server: string | undefined
  readonly #emit: (payload: EventPayload<'microphone-changed'>) => void
  /** The roster's answer: whether this viewer's microphone may reach the desktop now. */
  readonly #mayTalk: (viewerId: string) => boolean
  readonly #players = new Map<string, MicrophonePlayer>()
  readonly #talkingUntil = new Map<string, number>()
  readonly #talkTimers = new Map<string, NodeJS.Timeout>()
  #modules: Promise<number[]> | undefined
  /** Packets dropped for their size (counted, logged now and then). */
  #refused = 0
  #closed = false

  constructor(options: {
    server: string | undefined
    mayTalk: (viewerId: string) => boolean
    emit: (payload: EventPayload<'microphone-changed'>) => void
  }) {
    this.#server = options.server
    this.#mayTalk = options.mayTalk
    this.#emit = options.emit
  }

  /** The virtual source's name once it exists. */
  get source(): string | null {
    return this.#modules ? MIC_SOURCE : null
  }

  talking(viewerId: string): boolean {
    return (this.#talkingUntil.get(viewerId) ?? 0) > Date.now()
  }

  /** Makes sure the virtual source exists before a viewer is allowed to talk into it (NO_SOUND_SERVER if it cannot). */
  async prepare(): Promise<void> {
    if (this.#closed) throw new SmolDeskError('UNAVAILABLE', 'the host is closing')
    await this.#ensureSource()
  }

  /** The roster changed a viewer's microphone permission. */
  async permissionChanged(viewerId: string, allowed: boolean): Promise<void> {
    if (!allowed) {
      this.#stopTalking(viewerId)
      await this.#players.get(viewerId)?.close()
      this.#players.delete(viewerId)
    }
    this.#emit({ viewerId, allowed, talking: false })
  }

  receive(viewerId: string, packet: MicrophonePacket): void {
    if (this.#closed || !this.#modules || !this.#mayTalk(viewerId)) return
    if (packet.payload.length === 0 || packet.payload.length > MAX_PAYLOAD) {
      this.#refused++
      if (this.#refused === 1 || this.#refused % 1000 === 0)
        log.warn(
          { viewerId, bytes: packet.payload.length, refused: this.#refused },
          'microphone packet refused',
        )
      return
    }
    let player = this.#players.get(viewerId)
    if (!player) {
      player = new MicrophonePlayer(this.#server)
      this.#players.set(viewerId, player)
    }
    player.play(packet)
    const loud = packet.levelDbov !== undefined ? packet.levelDbov > TALKING_DBOV : packet.payload.length > 20
    if (loud) this.#heard(viewerId)
  }

  /** The viewer left: its permission and its player go with it. */
  async viewerGone(viewerId: string): Promise<void> {
    this.#stopTalking(viewerId)
    await this.#players.get(viewerId)?.close()
    this.#players.delete(viewerId)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const timer of this.#talkTimers.values()) clearTimeout(timer)
    await Promise.all([...this.#players.values()].map((p) => p.close()))
    this.#players.clear()
    const modules = await this.#modules?.catch(() => [])
    for (const index of [...(modules ?? [])].reverse())
      await unloadModule(this.#server, index).catch((err: unknown) =>
        log.warn({ err: String(err) }, 'could not unload the microphone module'),
      )
  }

  #heard(viewerId: string): void {
    const wasTalking = this.talking(viewerId)
    this.#talkingUntil.set(viewerId, Date.now() + TALKING_HOLD_MS)
    if (!wasTalking) this.#emit({ viewerId, allowed: true, talking: true })
    clearTimeout(this.#talkTimers.get(viewerId))
    this.#talkTimers.set(
      viewerId,
      setTimeout(() => {
        this.#talkTimers.delete(viewerId)
        this.#talkingUntil.delete(viewerId)
        if (this.#mayTalk(viewerId)) this.#emit({ viewerId, allowed: true, talking: false })
      }, TALKING_HOLD_MS),
    )
  }

  #stopTalking(viewerId: string): void {
    clearTimeout(this.#talkTimers.get(viewerId))
    this.#talkTimers.delete(viewerId)
    this.#talkingUntil.delete(viewerId)
  }

  #ensureSource(): Promise<number[]> {
    this.#modules ??= (async () => {
      // A host that died without unloading left its modules: take them over instead of doubling them.
      for (const name of ['module-remap-source', 'module-null-sink'])
        for (const index of await modulesMarked(this.#server, name, MIC_SINK))
          await unloadModule(this.#server, index).catch(() => {})
      const sink = await loadModule(this.#server, 'module-null-sink', [
        `sink_name=${MIC_SINK}`,
        'rate=48000',
        'channels=1',
        `sink_properties='device.description="SmolDesk microphone (viewers)"'`,
      ])
      const source = await loadModule(this.#server, 'module-remap-source', [
        `master=${MIC_SINK}.monitor`,
        `source_name=${MIC_SOURCE}`,
        `source_properties='device.description="${MICROPHONE_SOURCE_DESCRIPTION}"'`,
      ])
      log.info({ source: MIC_SOURCE }, 'virtual microphone ready')
      return [sink, source]
    })()
    this.#modules.catch(() => {
      this.#modules = undefined
    })
    return this.#modules
  }
}
