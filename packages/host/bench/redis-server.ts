import { SmolDeskError } from '@smoldesk/protocol'
import { ManagedProcess } from '../src/process/child.ts'
import { freePort, waitForPort } from '../src/process/ports.ts'

export interface LocalRedisOptions {
  /**
   * Keep data in this directory (append-only file, fsync on every write), so
   * a redis-server killed and started again comes back with it, as a
   * deployment's would. Without it nothing is persisted.
   */
  dataDir?: string
}

/**
 * A throwaway redis-server on loopback, for the scale-out tests and the
 * signaling benchmark (a deployment points `--redis` at its own Redis).
 */
export class LocalRedis {
  readonly url: string
  readonly #port: number
  readonly #options: LocalRedisOptions
  #process: ManagedProcess

  private constructor(process: ManagedProcess, port: number, options: LocalRedisOptions) {
    this.#process = process
    this.#port = port
    this.#options = options
    this.url = `redis://127.0.0.1:${port}`
  }

  static async start(options: LocalRedisOptions = {}): Promise<LocalRedis> {
    const port = await freePort('127.0.0.1')
    return new LocalRedis(await LocalRedis.#spawn(port, options), port, options)
  }

  static async #spawn(port: number, options: LocalRedisOptions): Promise<ManagedProcess> {
    const persistence = options.dataDir
      ? ['--dir', options.dataDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
      : ['--save', '', '--appendonly', 'no']
    const process = await ManagedProcess.spawn({
      name: 'redis-server',
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', ...persistence, '--maxclients', '20000'],
    })
    if (!(await waitForPort('127.0.0.1', port, 5000, () => process.running))) {
      const tail = process.stderrTail()
      await process.close()
      throw new SmolDeskError('UNAVAILABLE', `redis-server did not start: ${tail}`)
    }
    return process
  }

  /** redis-server's process id (the benchmark counts its CPU with the servers'). */
  get pid(): number {
    return this.#process.pid
  }

  /** SIGKILL, as a crash: whatever it had not written is gone (nothing, with a dataDir). */
  async kill(): Promise<void> {
    this.#process.child.kill('SIGKILL')
    await this.#process.exited
  }

  /** Starts it again on the same port (and data directory). */
  async restart(): Promise<void> {
    this.#process = await LocalRedis.#spawn(this.#port, this.#options)
  }

  close(): Promise<unknown> {
    return this.#process.close()
  }
}
