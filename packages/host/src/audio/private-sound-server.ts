import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { ManagedProcess } from '../process/child.ts'
import { makePrivateDir } from '../process/private-dir.ts'
import { soundServerInfo } from './pulse-control.ts'

const log = createLogger('audio.server')

/** The embedded desktop's one output: what its applications play, and what viewers hear. */
export const DESKTOP_SINK = 'smoldesk_output'
/** Where the pacing loopback plays (never what anyone hears). */
const PACER_SINK = 'smoldesk_pacer'
const START_TIMEOUT_MS = 10_000

/**
 * A PulseAudio of SmolDesk's own, for the embedded desktop (and the tests):
 * no hardware (a null sink is the desktop's speaker, its monitor what
 * viewers hear), no D-Bus, no autospawn, its socket and state in a private
 * directory; anonymous access on that socket, which only this user can
 * reach (the directory is 0700). PulseAudio rather than PipeWire here: one
 * process, its null sink keeps its own clock without a session manager, and
 * the Pulse protocol it speaks is the one SmolDesk uses on every desktop.
 */
export class PrivateSoundServer {
  /** For libpulse clients: PULSE_SERVER, or pactl --server. */
  readonly address: string
  readonly #process: ManagedProcess
  readonly #dir: string
  #closed = false

  private constructor(address: string, process: ManagedProcess, dir: string) {
    this.address = address
    this.#process = process
    this.#dir = dir
  }

  static async start(): Promise<PrivateSoundServer> {
    const dir = await makePrivateDir('smoldesk-sound-')
    const socket = join(dir, 'native')
    const address = `unix:${socket}`
    await writeFile(
      join(dir, 'default.pa'),
      [
        `load-module module-native-protocol-unix socket=${socket} auth-anonymous=1`,
        `load-module module-null-sink sink_name=${DESKTOP_SINK} rate=48000 channels=2 sink_properties='device.description="SmolDesk desktop"'`,
        // A null sink renders in blocks as long as its most demanding client allows: up to 2 s with
        // no recorder, and a recorder that connects (the sound helper, restarted) waits out the block
        // already scheduled: 1.3–1.5 s measured. A loopback of its monitor that wants 50 ms keeps the
        // blocks short, so a new recorder has sound within 10–20 ms; it costs ~1 % of a core.
        `load-module module-null-sink sink_name=${PACER_SINK} rate=48000 channels=2 sink_properties='device.description="SmolDesk pacer (internal)"'`,
        `load-module module-loopback source=${DESKTOP_SINK}.monitor sink=${PACER_SINK} latency_msec=50 source_dont_move=true sink_dont_move=true`,
        `set-default-sink ${DESKTOP_SINK}`,
        '',
      ].join('\n'),
    )
    let proc: ManagedProcess
    try {
      proc = await ManagedProcess.spawn({
        name: 'pulseaudio',
        command: 'pulseaudio',
        args: [
          '-n',
          '-F',
          join(dir, 'default.pa'),
          '--daemonize=no',
          '--exit-idle-time=-1',
          '--use-pid-file=no',
          '--disallow-module-loading=no',
          '--log-target=stderr',
          '--log-level=warning',
        ],
        // Its runtime and state files go to the private directory, not the user's own.
        env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: dir, PULSE_SERVER: address },
      })
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw new SmolDeskError('NO_SOUND_SERVER', `cannot start PulseAudio: ${String(err)}`)
    }
    const server = new PrivateSoundServer(address, proc, dir)
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (!proc.running) {
        await server.close()
        throw new SmolDeskError('NO_SOUND_SERVER', `PulseAudio exited at start: ${proc.stderrTail()}`)
      }
      if (
        await soundServerInfo(address).then(
          () => true,
          () => false,
        )
      )
        break
      if (Date.now() > deadline) {
        await server.close()
        throw new SmolDeskError('NO_SOUND_SERVER', 'PulseAudio did not answer within 10 s')
      }
      await sleep(50)
    }
    log.info({ address }, 'sound server up')
    return server
  }

  get exited(): Promise<unknown> {
    return this.#process.exited
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#process.close(2000)
    await rm(this.#dir, { recursive: true, force: true })
  }
}
