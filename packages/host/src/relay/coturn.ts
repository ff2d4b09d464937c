import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { ManagedProcess } from '../process/child.ts'
import { freePort, waitForPort } from '../process/ports.ts'

const log = createLogger('relay.coturn')

export interface CoturnOptions {
  /** Address to listen and relay on (the web server's `--listen`). */
  listen: string
  port?: number
}

/**
 * A local coturn (`./smoldesk start --turn`) using its shared-secret REST
 * scheme: the signaling server hands each peer credentials that expire, and
 * coturn checks them with the same secret. The secret goes in a 0600 config
 * file, not on the command line where `ps` would show it.
 */
export class Coturn {
  readonly secret: string
  readonly urls: string[]
  readonly #process: ManagedProcess
  readonly #dir: string

  private constructor(process: ManagedProcess, dir: string, secret: string, urls: string[]) {
    this.#process = process
    this.#dir = dir
    this.secret = secret
    this.urls = urls
  }

  static async start(options: CoturnOptions): Promise<Coturn> {
    const listen = options.listen === '0.0.0.0' || options.listen === '::' ? undefined : options.listen
    const host = listen ?? '127.0.0.1'
    const port = options.port ?? (await freePort(host))
    const secret = randomBytes(24).toString('base64url')
    const dir = await mkdtemp(join(tmpdir(), 'smoldesk-coturn-'))
    const loopback = host === '127.0.0.1' || host === '::1'
    const config = [
      `listening-port=${port}`,
      ...(listen ? [`listening-ip=${listen}`, `relay-ip=${listen}`] : []),
      'use-auth-secret',
      `static-auth-secret=${secret}`,
      'realm=smoldesk',
      'fingerprint',
      'no-cli',
      'no-tls',
      'no-dtls',
      'no-multicast-peers',
      'no-software-attribute',
      // Peers on this machine only exist when everything listens on loopback (tests, a local demo).
      ...(loopback ? ['allow-loopback-peers'] : []),
      `pidfile=${join(dir, 'turnserver.pid')}`,
      'log-file=stdout',
      'simple-log',
    ]
    const configFile = join(dir, 'turnserver.conf')
    await writeFile(configFile, `${config.join('\n')}\n`, { mode: 0o600 })
    let process: ManagedProcess
    try {
      process = await ManagedProcess.spawn({
        name: 'coturn',
        command: 'turnserver',
        args: ['-c', configFile],
      })
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw new SmolDeskError('UNAVAILABLE', `cannot start coturn (apt-get install coturn): ${String(err)}`)
    }
    if (!(await waitForPort(host, port, 5000, () => process.running))) {
      const tail = process.stderrTail()
      await process.close()
      await rm(dir, { recursive: true, force: true })
      throw new SmolDeskError('UNAVAILABLE', `coturn did not start on ${host}:${port}: ${tail}`)
    }
    const address = host.includes(':') ? `[${host}]` : host
    const urls = [`turn:${address}:${port}?transport=udp`, `turn:${address}:${port}?transport=tcp`]
    log.info({ urls }, 'TURN relay running')
    return new Coturn(process, dir, secret, urls)
  }

  get running(): boolean {
    return this.#process.running
  }

  async close(): Promise<void> {
    await this.#process.close()
    await rm(this.#dir, { recursive: true, force: true })
  }
}
