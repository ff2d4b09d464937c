import { rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../../log.ts'
import { ManagedProcess, runToCompletion } from '../../process/child.ts'
import { makePrivateDir } from '../../process/private-dir.ts'
import { X11Connection } from '../x11/connection.ts'
import { layoutArgs, type MonitorLayout, modeline, xorgDummyConfig } from './xorg-config.ts'

const log = createLogger('display.embedded')

export type DesktopBackend = 'xorg' | 'xvfb'

export interface VirtualDesktopOptions {
  /** Left to right; default one 1920x1080 monitor. */
  monitors?: readonly MonitorLayout[]
  /** 'auto' tries Xorg's dummy driver (real RandR outputs), then Xvfb (one monitor only). */
  backend?: DesktopBackend | 'auto'
  refreshHz?: number
  /** Start a window manager (openbox) and the demo apps (xterm, xclock). Default true. */
  withApps?: boolean
  startTimeoutMs?: number
  /** X extensions to switch off (`-extension NAME`), to test what copes without them. */
  disableExtensions?: readonly string[]
  /** More environment for the desktop's apps (the embedded sound server's PULSE_SERVER). */
  appEnv?: NodeJS.ProcessEnv
}

/**
 * An X desktop of SmolDesk's own for machines without a display: an X server
 * on the first free display number (-displayfd, so two starting at once never
 * collide), laid out into monitors, with a window manager and demo apps.
 * `close()` stops everything it started, in reverse order.
 */
export class VirtualDesktop {
  readonly display: string
  readonly backend: DesktopBackend
  readonly monitors: readonly MonitorLayout[]
  readonly #server: ManagedProcess
  readonly #apps: ManagedProcess[] = []
  readonly #dir: string
  #closing: Promise<void> | undefined

  /** Use VirtualDesktop.start(). */
  constructor(
    display: string,
    backend: DesktopBackend,
    monitors: readonly MonitorLayout[],
    server: ManagedProcess,
    dir: string,
  ) {
    this.display = display
    this.backend = backend
    this.monitors = monitors
    this.#server = server
    this.#dir = dir
  }

  static async start(options: VirtualDesktopOptions = {}): Promise<VirtualDesktop> {
    const monitors = options.monitors ?? [{ width: 1920, height: 1080 }]
    const backend = options.backend ?? 'auto'
    const timeoutMs = options.startTimeoutMs ?? 15_000
    const dir = await makePrivateDir(DIR_PREFIX)
    let desktop: VirtualDesktop
    try {
      const off = (options.disableExtensions ?? []).flatMap((name) => ['-extension', name])
      desktop = await startServer(backend, monitors, options.refreshHz ?? 60, dir, timeoutMs, off)
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
    if (options.withApps ?? true) await desktop.#startApps(options.appEnv ?? {})
    log.info({ display: desktop.display, backend: desktop.backend, monitors }, 'virtual desktop ready')
    return desktop
  }

  /** Resolves when the X server exits (for supervisors: the desktop is gone). */
  get serverExited(): Promise<unknown> {
    return this.#server.exited
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(this.#apps.map((app) => app.close(1000)))
      await this.#server.close(3000)
      await rm(this.#dir, { recursive: true, force: true })
      log.info({ display: this.display }, 'virtual desktop stopped')
    })()
    return this.#closing
  }

  async #startApps(appEnv: NodeJS.ProcessEnv): Promise<void> {
    const env = { ...process.env, ...appEnv, DISPLAY: this.display }
    await runToCompletion({
      name: 'xsetroot',
      command: 'xsetroot',
      args: ['-solid', '#1f3b57'],
      env,
      timeoutMs: 5000,
    }).catch((err: unknown) => log.warn({ err: String(err) }, 'xsetroot failed'))
    try {
      this.#apps.push(
        await ManagedProcess.spawn({ name: 'openbox', command: 'openbox', args: ['--sm-disable'], env }),
      )
      // Apps mapped while the window manager is still starting stay unmapped: wait until it announces itself.
      await waitForWindowManager(this.display)
    } catch (err) {
      log.warn({ err: String(err) }, 'window manager did not start; the desktop has none')
    }
    const apps: [string, string[]][] = [
      // A shell without the user's rc files: what those start in the background (pyenv's rehash,
      // seen here, waiting on a lock) outlives a host killed with SIGKILL, and the demo desktop
      // promises to leave nothing behind.
      ['xterm', ['-geometry', '100x30+60+60', '-title', 'SmolDesk demo terminal', '-e', 'bash', '--norc']],
      ['xclock', ['-digital', '-strftime', '%H:%M:%S', '-update', '1', '-geometry', '+760+60']],
    ]
    for (const [command, args] of apps) {
      try {
        this.#apps.push(await ManagedProcess.spawn({ name: command, command, args, env, cwd: homedir() }))
      } catch (err) {
        // A missing demo app makes the desktop plainer, not unusable.
        log.warn({ app: command, err: String(err) }, 'demo app did not start')
      }
    }
  }
}

const DIR_PREFIX = 'smoldesk-desktop-'

/** Resolves once a window manager has set _NET_SUPPORTING_WM_CHECK on the root window (EWMH). */
async function waitForWindowManager(display: string, timeoutMs = 5000): Promise<void> {
  const conn = await X11Connection.open(display)
  try {
    const property = await conn.atom('_NET_SUPPORTING_WM_CHECK')
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const reply = await conn.getProperty(conn.root, property, { maxBytes: 4 })
      if (reply.data.length === 4) {
        // Announced; give it a moment to finish taking over the screen.
        await sleep(150)
        return
      }
      await sleep(50)
    }
    throw new SmolDeskError('TIMEOUT', `no window manager announced itself within ${timeoutMs} ms`)
  } finally {
    conn.close()
  }
}

async function startServer(
  backend: DesktopBackend | 'auto',
  monitors: readonly MonitorLayout[],
  refreshHz: number,
  dir: string,
  timeoutMs: number,
  extraArgs: string[],
): Promise<VirtualDesktop> {
  if (backend === 'xorg' || backend === 'auto') {
    try {
      return await startXorg(monitors, refreshHz, dir, timeoutMs, extraArgs)
    } catch (err) {
      if (backend === 'xorg' || monitors.length > 1) throw err
      log.warn({ err: String(err) }, 'Xorg dummy did not start; falling back to Xvfb')
    }
  }
  if (monitors.length > 1) {
    throw new SmolDeskError(
      'UNAVAILABLE',
      'Xvfb cannot show several monitors; install xserver-xorg-video-dummy',
    )
  }
  return startXvfb(monitors, dir, timeoutMs, extraArgs)
}

async function startXorg(
  monitors: readonly MonitorLayout[],
  refreshHz: number,
  dir: string,
  timeoutMs: number,
  extraArgs: string[],
): Promise<VirtualDesktop> {
  const width = Math.max(
    3840,
    monitors.reduce((sum, m) => sum + m.width, 0),
  )
  const height = Math.max(2160, ...monitors.map((m) => m.height))
  const configPath = join(dir, 'xorg.conf')
  await writeFile(configPath, xorgDummyConfig(width, height))
  const server = await ManagedProcess.spawn({
    name: 'Xorg',
    command: 'Xorg',
    args: [
      '-displayfd',
      '3',
      '-config',
      configPath,
      '-configdir',
      dir, // no stray snippets from /etc/X11/xorg.conf.d
      '-noreset',
      '-nolisten',
      'tcp',
      '-novtswitch',
      '-sharevts',
      '-logfile',
      join(dir, 'xorg.log'),
      ...extraArgs,
    ],
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  })
  const display = await readDisplayNumber(server, timeoutMs)
  const desktop = new VirtualDesktop(display, 'xorg', monitors, server, dir)
  try {
    await applyLayout(display, monitors, refreshHz)
  } catch (err) {
    await desktop.close()
    throw err
  }
  return desktop
}

async function startXvfb(
  monitors: readonly MonitorLayout[],
  dir: string,
  timeoutMs: number,
  extraArgs: string[],
): Promise<VirtualDesktop> {
  const m = monitors[0] ?? { width: 1920, height: 1080 }
  const server = await ManagedProcess.spawn({
    name: 'Xvfb',
    command: 'Xvfb',
    args: [
      '-displayfd',
      '3',
      '-screen',
      '0',
      `${m.width}x${m.height}x24`,
      '-nolisten',
      'tcp',
      '-noreset',
      ...extraArgs,
    ],
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  })
  const display = await readDisplayNumber(server, timeoutMs)
  return new VirtualDesktop(display, 'xvfb', monitors, server, dir)
}

/** The server writes its display number to fd 3 once it accepts connections. */
async function readDisplayNumber(server: ManagedProcess, timeoutMs: number): Promise<string> {
  const pipe = server.child.stdio[3] as Readable | null | undefined
  if (!pipe) throw new SmolDeskError('INTERNAL', 'no -displayfd pipe')
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = ''
      const timer = setTimeout(
        () => reject(new SmolDeskError('TIMEOUT', `${server.name} did not start within ${timeoutMs} ms`)),
        timeoutMs,
      )
      pipe.setEncoding('utf8')
      pipe.on('data', (chunk: string) => {
        text += chunk
        const match = /^(\d+)\n/.exec(text)
        if (match) {
          clearTimeout(timer)
          resolve(`:${match[1]}`)
        }
      })
      server.exited.then((exit) => {
        clearTimeout(timer)
        reject(
          new SmolDeskError(
            'UNAVAILABLE',
            `${server.name} exited while starting (code ${exit.code}): ${server.stderrTail(5)}`,
          ),
        )
      })
    })
  } catch (err) {
    await server.close(1000)
    throw err
  }
}

/** Sets the monitors with xrandr, once at start-up (a set-up step, not a per-event cost). */
async function applyLayout(
  display: string,
  monitors: readonly MonitorLayout[],
  refreshHz: number,
): Promise<void> {
  const env = { ...process.env, DISPLAY: display }
  const xrandr = async (args: string[]) => {
    const result = await runToCompletion({ name: 'xrandr', command: 'xrandr', args, env, timeoutMs: 10_000 })
    if (result.code !== 0) {
      throw new SmolDeskError('DISPLAY_ERROR', `xrandr ${args.join(' ')} failed: ${result.stderr.trim()}`)
    }
  }
  const modeNames: string[] = []
  const created = new Set<string>()
  for (const [i, m] of monitors.entries()) {
    const mode = modeline(m.width, m.height, refreshHz)
    if (!created.has(mode.name)) {
      await xrandr(['--newmode', mode.name, ...mode.args])
      created.add(mode.name)
    }
    await xrandr(['--addmode', `DUMMY${i}`, mode.name])
    modeNames.push(mode.name)
  }
  await xrandr(layoutArgs(monitors, modeNames).args)
}
