import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHROMIUM_PATH } from '../bench/chromium.ts'
import { type BrowserName, FIREFOX_PATH } from './browsers.ts'
import { run } from './helpers.ts'

/** SmolDesk's user-space link (bench/link/smoldesk-link.c, built by `./smoldesk setup`). */
export const LINK_BINARY = join(import.meta.dirname, '../.build/smoldesk-link')

/**
 * The links issue 18 names: what a remote desktop over Wi-Fi or the
 * internet meets. `rttMs` is split between the two directions; jitter and
 * loss apply each way; `mbit` is each direction's rate.
 */
export const NETWORK_PROFILES = {
  wifi: { mbit: 30, rttMs: 10, jitterMs: 5, lossPct: 0.5 },
  internet: { mbit: 5, rttMs: 40, jitterMs: 0, lossPct: 1 },
  bad: { mbit: 1.5, rttMs: 120, jitterMs: 0, lossPct: 3 },
} as const satisfies Record<string, LinkShape>
export type NetworkProfile = keyof typeof NETWORK_PROFILES

export interface LinkShape {
  mbit: number
  rttMs: number
  jitterMs: number
  lossPct: number
}

/**
 * A second machine on a cable: a network namespace joined to this one by a
 * veth pair, /30 addresses on both ends. `cut()` drops every packet both
 * ways (a blackhole qdisc on each end: the interfaces stay up, nothing gets
 * through, as when a Wi-Fi link dies), `mend()` lets traffic through again.
 * Chromium runs inside through a wrapper, so Playwright still drives it.
 *
 * `shaped`: the cable runs through a third namespace where smoldesk-link
 * bridges it frame by frame and can give each direction a rate, delay,
 * jitter and loss (`shape()`): this machine's kernel has no tc netem
 * (CONFIG_NET_SCH_NETEM is not set). Offloads are off on every end of it,
 * so frames are real frames (no 64 KiB TCP segments, no checksums left to
 * a NIC that is not there).
 */
export class RemoteNetwork {
  readonly name: string
  readonly hostIp: string
  readonly viewerIp: string
  readonly #outer: string
  readonly #inner: string
  readonly #dir: string
  #link: ChildProcess | undefined
  #cut = false

  private constructor(id: string, subnet: number, dir: string) {
    this.name = `smoldesk-${id}`
    this.#outer = `sd${id}a`
    this.#inner = `sd${id}b`
    // One of 16,384 /30s in 10.213/16: cables made at once by tests running side by side must not share one.
    this.hostIp = `10.213.${subnet >> 6}.${(subnet & 63) * 4 + 1}`
    this.viewerIp = `10.213.${subnet >> 6}.${(subnet & 63) * 4 + 2}`
    this.#dir = dir
  }

  static async create(options: { shaped?: boolean } = {}): Promise<RemoteNetwork> {
    const id = randomBytes(3).toString('hex')
    const subnet = randomBytes(2).readUInt16BE(0) & 0x3fff
    const net = new RemoteNetwork(id, subnet, await mkdtemp(join(tmpdir(), 'smoldesk-netns-')))
    try {
      const ns = ['netns', 'exec', net.name, 'ip']
      const router = `${net.name}-r`
      const rt = ['netns', 'exec', router, 'ip']
      const cable = options.shaped
        ? [
            // host ⇄ r1 [smoldesk-link] r2 ⇄ viewer
            ['netns', 'add', router],
            ['link', 'add', net.#outer, 'type', 'veth', 'peer', 'name', `${net.#outer}r`],
            ['link', 'set', `${net.#outer}r`, 'netns', router],
            [...rt, 'link', 'add', `${net.#inner}r`, 'type', 'veth', 'peer', 'name', net.#inner],
            [...rt, 'link', 'set', net.#inner, 'netns', net.name],
            [...rt, 'link', 'set', `${net.#outer}r`, 'up'],
            [...rt, 'link', 'set', `${net.#inner}r`, 'up'],
          ]
        : [
            ['link', 'add', net.#outer, 'type', 'veth', 'peer', 'name', net.#inner],
            ['link', 'set', net.#inner, 'netns', net.name],
          ]
      for (const args of [
        ['netns', 'add', net.name],
        ...cable,
        ['addr', 'add', `${net.hostIp}/30`, 'dev', net.#outer],
        ['link', 'set', net.#outer, 'up'],
        [...ns, 'addr', 'add', `${net.viewerIp}/30`, 'dev', net.#inner],
        [...ns, 'link', 'set', net.#inner, 'up'],
        [...ns, 'link', 'set', 'lo', 'up'],
        // Like a real machine: a default route (Chromium gathers candidates on that interface).
        [...ns, 'route', 'add', 'default', 'via', net.hostIp],
      ])
        await ip(args)
      // No IPv6 on the viewer's side: its link-local address arriving a second or two after the link
      // came up is a network change to Chromium, which then fails a page load in progress
      // (net::ERR_NETWORK_CHANGED, seen here).
      await checked('ip', ['netns', 'exec', net.name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'])
      if (options.shaped) {
        const off = ['tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off']
        await checked('ethtool', ['-K', net.#outer, ...off])
        await checked('ip', ['netns', 'exec', router, 'ethtool', '-K', `${net.#outer}r`, ...off])
        await checked('ip', ['netns', 'exec', router, 'ethtool', '-K', `${net.#inner}r`, ...off])
        await checked('ip', ['netns', 'exec', net.name, 'ethtool', '-K', net.#inner, ...off])
        net.#link = spawn('ip', ['netns', 'exec', router, LINK_BINARY, `${net.#outer}r`, `${net.#inner}r`], {
          // SMOLDESK_LINK_LOG: what the link did (shapes, frames passed, lost, dropped) on our stderr.
          stdio: ['pipe', 'ignore', process.env.SMOLDESK_LINK_LOG ? 'inherit' : 'ignore'],
        })
        net.#link.stdin?.on('error', () => {})
      }
      // Playwright starts "the browser" with pipes on fds 3 and 4; `ip netns exec` keeps them.
      await writeFile(net.chromium, `#!/bin/sh\nexec ip netns exec ${net.name} ${CHROMIUM_PATH} "$@"\n`)
      await chmod(net.chromium, 0o755)
      // Firefox's WebDriver BiDi is TCP on loopback: bridged out through a socket file (see the script).
      const bridge = join(import.meta.dirname, 'firefox-in-netns.ts')
      await writeFile(
        net.firefox,
        `#!/bin/sh\nexec ${process.execPath} ${bridge} ${net.name} ${FIREFOX_PATH} ${join(net.#dir, 'bidi.sock')} "$@"\n`,
      )
      await chmod(net.firefox, 0o755)
    } catch (err) {
      await net.close()
      throw err
    }
    return net
  }

  /** An executable that runs Debian's Chromium inside the namespace. */
  get chromium(): string {
    return join(this.#dir, 'chromium-in-netns')
  }

  /** An executable that runs Debian's Firefox inside the namespace (puppeteer, with a fixed debuggingPort). */
  get firefox(): string {
    return join(this.#dir, 'firefox-in-netns')
  }

  /** The executable of a viewer browser inside the namespace. */
  browser(name: BrowserName): string {
    return name === 'firefox' ? this.firefox : this.chromium
  }

  async cut(): Promise<void> {
    this.#cut = true
    await checked('tc', ['qdisc', 'add', 'dev', this.#outer, 'root', 'blackhole'])
    await checked('ip', [
      'netns',
      'exec',
      this.name,
      'tc',
      'qdisc',
      'add',
      'dev',
      this.#inner,
      'root',
      'blackhole',
    ])
  }

  /** Shapes both directions of a `shaped` cable (none: a plain cable again); takes effect at once. */
  async shape(shape: LinkShape | undefined): Promise<void> {
    const stdin = this.#link?.stdin
    if (!stdin) throw new Error('this cable was not made shaped (RemoteNetwork.create({ shaped: true }))')
    const s = shape ?? { mbit: 0, rttMs: 0, jitterMs: 0, lossPct: 0 }
    stdin.write(`both ${s.mbit} ${s.rttMs / 2} ${s.jitterMs} ${s.lossPct}\n`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  async mend(): Promise<void> {
    if (!this.#cut) return
    this.#cut = false
    await checked('tc', ['qdisc', 'del', 'dev', this.#outer, 'root'])
    await checked('ip', ['netns', 'exec', this.name, 'tc', 'qdisc', 'del', 'dev', this.#inner, 'root'])
  }

  async close(): Promise<void> {
    // End of its stdin: the link says what it passed, lost and dropped, and exits.
    this.#link?.stdin?.end()
    await new Promise((resolve) => setTimeout(resolve, 100))
    this.#link?.kill()
    await ip(['link', 'del', this.#outer]).catch(() => {})
    await ip(['netns', 'del', this.name]).catch(() => {})
    await ip(['netns', 'del', `${this.name}-r`]).catch(() => {})
    await rm(this.#dir, { recursive: true, force: true })
  }
}

function ip(args: string[]): Promise<void> {
  return checked('ip', args)
}

/** Network set-up needs root (CAP_NET_ADMIN): a refusal is a loud failure, never a skipped test. */
async function checked(command: string, args: string[]): Promise<void> {
  const result = await run(command, args)
  if (result.code !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`)
}
