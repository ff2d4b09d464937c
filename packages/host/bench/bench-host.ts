import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { HostStateFileSchema, IpcClient } from '@smoldesk/protocol'
import type { Browser, Page } from 'playwright-core'
import { HOST_NODE_FLAGS } from '../src/cli/node-flags.ts'
import { ManagedProcess } from '../src/process/child.ts'
import type { DesktopTarget } from './bench-desktop.ts'

const CLI_MAIN = resolve(import.meta.dirname, '../src/cli/main.ts')

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Waits until the page's <video> has a picture (a decoded frame gives it a width). */
export function waitForPicture(page: Page, what: string): Promise<true> {
  return waitFor(what, async () =>
    Number(await page.evaluate("document.querySelector('video')?.videoWidth ?? 0")) > 0 ? true : undefined,
  )
}

export interface BenchHost {
  /** SMOLDESK_OWNER of the host process and its children (for CPU accounting). */
  tag: string
  pid: number
  page: Page
  /** The viewer link the page opened. */
  url: string
  /** The host's IPC, open until close(). */
  client: IpcClient
  close(): Promise<void>
}

/**
 * `smoldesk start` on a display, as a user runs it (its own process, its own
 * tag), capturing monitor 0 with `config`, with a viewer page open and decoding.
 */
export async function startBenchHost(
  browser: Browser,
  target: string | Pick<DesktopTarget, 'args' | 'env'>,
  size: { width: number; height: number },
  config: Record<string, unknown>,
  extra: { args?: string[]; video?: boolean } = {},
): Promise<BenchHost> {
  const tag = `bench-host-${randomBytes(4).toString('hex')}`
  const stateDir = await mkdtemp(join(tmpdir(), 'smoldesk-bench-'))
  // An X display by name, or a desktop's own target (a Wayland session is found from the environment).
  const desktop = typeof target === 'string' ? { args: ['--display', target], env: {} } : target
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...desktop.env,
    SMOLDESK_OWNER: tag,
    SMOLDESK_STATE_DIR: stateDir,
    // SMOLDESK_BENCH_HOST_LOG=info|debug: the host's own log lines on this process's stderr.
    SMOLDESK_LOG_LEVEL: process.env.SMOLDESK_BENCH_HOST_LOG ?? 'warn',
  }
  for (const [key, value] of Object.entries(desktop.env)) if (value === undefined) delete env[key]
  const host = await ManagedProcess.spawn({
    name: 'smoldesk start',
    command: process.execPath,
    args: [...HOST_NODE_FLAGS, CLI_MAIN, 'start', ...desktop.args, '--port', '0', ...(extra.args ?? [])],
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  host.child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  if (process.env.SMOLDESK_BENCH_HOST_LOG) host.child.stderr?.pipe(process.stderr)
  const page = await browser.newPage({ viewport: { width: size.width, height: size.height + 200 } })
  let client: IpcClient | undefined
  const close = async () => {
    client?.close()
    await page.close()
    await host.close()
    await rm(stateDir, { recursive: true, force: true })
  }
  try {
    const url = await waitFor('the viewer URL', async () => /Open the viewer: +(\S+)/.exec(out)?.[1])
    const state = HostStateFileSchema.parse(JSON.parse(await readFile(join(stateDir, 'host.json'), 'utf8')))
    client = await IpcClient.connect({ url: `ws://127.0.0.1:${state.port}/ipc`, token: state.token })
    await client.invoke('start_capture', { monitorIndex: 0, config })
    await page.goto(url)
    await waitForPicture(page, 'decoded video')
    // Benchmarks of other things than video stop it once the viewer is connected.
    if (extra.video === false) await client.invoke('stop_capture')
    return { tag, pid: host.child.pid ?? 0, page, url, client, close }
  } catch (err) {
    await close()
    throw err
  }
}
