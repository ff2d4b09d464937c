import { SmolDeskError } from '@smoldesk/protocol'
import { ManagedProcess } from '../src/process/child.ts'
import { freePort, waitForPort } from '../src/process/ports.ts'

/**
 * A throwaway redis-server on loopback, for the scale-out tests and the
 * signaling benchmark (a deployment points `--redis` at its own Redis).
 * Nothing is persisted.
 */
export class LocalRedis {
  readonly url: string
  readonly #process: ManagedProcess

  private constructor(process: ManagedProcess, url: string) {
    this.#process = process
    this.url = url
  }

  static async start(): Promise<LocalRedis> {
    const port = await freePort('127.0.0.1')
    const process = await ManagedProcess.spawn({
      name: 'redis-server',
      command: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxclients',
        '20000',
      ],
    })
    if (!(await waitForPort('127.0.0.1', port, 5000, () => process.running))) {
      const tail = process.stderrTail()
      await process.close()
      throw new SmolDeskError('UNAVAILABLE', `redis-server did not start: ${tail}`)
    }
    return new LocalRedis(process, `redis://127.0.0.1:${port}`)
  }

  /** redis-server's process id (the benchmark counts its CPU with the servers'). */
  get pid(): number {
    return this.#process.pid
  }

  close(): Promise<unknown> {
    return this.#process.close()
  }
}
