import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../../log.ts'
import { ManagedProcess } from '../../process/child.ts'
import { SwayIpc } from '../wlroots/sway-ipc.ts'
import type { MonitorLayout } from './xorg-config.ts'

const log = createLogger('display.embedded.sway')

const DIR_PREFIX = 'smoldesk-sway-'
/** sway refuses to run as root; the embedded one runs as this user when SmolDesk is root. */
const UNPRIVILEGED = { uid: 65534, gid: 65534 }

/** The environment a Wayland client of this desktop needs. */
export interface WaylandSession {
  WAYLAND_DISPLAY: string
  XDG_RUNTIME_DIR: string
  SWAYSOCK: string
}

/**
 * A headless sway of SmolDesk's own (`./smoldesk start --desktop sway`):
 * wlroots' headless backend, one output per monitor laid out left to right,
 * a bar with a clock, and a terminal. sway will not run as root, so a root
 * SmolDesk starts it as `nobody` with a private runtime directory (SmolDesk
 * itself, as root, still reaches its sockets). `close()` stops the apps,
 * then sway, and removes the runtime directory.
 */
export class SwayDesktop {
  readonly session: WaylandSession
  readonly monitors: readonly MonitorLayout[]
  readonly #sway: ManagedProcess
  readonly #apps: ManagedProcess[] = []
  readonly #dir: string
  #closing: Promise<void> | undefined

  private constructor(
    session: WaylandSession,
    monitors: readonly MonitorLayout[],
    sway: ManagedProcess,
    dir: string,
  ) {
    this.session = session
    this.monitors = monitors
    this.#sway = sway
    this.#dir = dir
  }

  static async start(
    options: { monitors?: readonly MonitorLayout[]; withApps?: boolean; startTimeoutMs?: number } = {},
  ): Promise<SwayDesktop> {
    const monitors = options.monitors ?? [{ width: 1920, height: 1080 }]
    const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX))
    const asRoot = process.getuid?.() === 0
    let sway: ManagedProcess | undefined
    try {
      if (asRoot) await chown(dir, UNPRIVILEGED.uid, UNPRIVILEGED.gid)
      const config = join(dir, 'config')
      await writeFile(config, swayConfig(options.withApps ?? true), { mode: 0o644 })
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        XDG_RUNTIME_DIR: dir,
        WLR_BACKENDS: 'headless',
        WLR_LIBINPUT_NO_DEVICES: '1',
        WLR_RENDERER: 'pixman',
      }
      sway = await ManagedProcess.spawn({
        name: 'sway',
        command: asRoot ? 'setpriv' : 'sway',
        args: [
          ...(asRoot
            ? [`--reuid=${UNPRIVILEGED.uid}`, `--regid=${UNPRIVILEGED.gid}`, '--clear-groups', 'sway']
            : []),
          '--config',
          config,
        ],
        env,
      })
      const session = await waitForSockets(dir, sway, options.startTimeoutMs ?? 15_000)
      const desktop = new SwayDesktop(session, monitors, sway, dir)
      await desktop.#layOut()
      if (options.withApps ?? true) await desktop.#startApps()
      log.info({ wayland: session.WAYLAND_DISPLAY, monitors }, 'sway desktop ready')
      return desktop
    } catch (err) {
      await sway?.close(2000)
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  /** Words for the start banner. */
  get description(): string {
    return `sway on ${this.session.WAYLAND_DISPLAY} (${this.monitors.map((m) => `${m.width}x${m.height}`).join(' + ')})`
  }

  /** Resolves when sway exits (for supervisors: the desktop is gone). */
  get serverExited(): Promise<unknown> {
    return this.#sway.exited
  }

  /** Clients of this desktop started by SmolDesk (tests, the benchmark) run with this environment. */
  clientEnv(): NodeJS.ProcessEnv {
    const { DISPLAY: _x, ...rest } = process.env
    return { ...rest, ...this.session }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(this.#apps.map((app) => app.close(1000)))
      await this.#sway.close(3000)
      await rm(this.#dir, { recursive: true, force: true })
      log.info('sway desktop stopped')
    })()
    return this.#closing
  }

  /** One headless output per monitor, left to right (the headless backend starts with one). */
  async #layOut(): Promise<void> {
    const ipc = await openListening(this.session.SWAYSOCK, 5000)
    try {
      for (let i = 1; i < this.monitors.length; i++) await ipc.command('create_output')
      const outputs = await ipc.monitors()
      let x = 0
      for (const [i, monitor] of this.monitors.entries()) {
        const name = outputs[i]?.name
        if (!name) throw new SmolDeskError('DISPLAY_ERROR', `sway has no output for monitor ${i}`)
        await ipc.command(`output ${name} resolution ${monitor.width}x${monitor.height} position ${x} 0`)
        x += monitor.width
      }
    } finally {
      ipc.close()
    }
  }

  async #startApps(): Promise<void> {
    try {
      this.#apps.push(
        await ManagedProcess.spawn({
          name: 'foot',
          command: 'foot',
          args: ['--title', 'SmolDesk demo terminal'],
          env: this.clientEnv(),
          cwd: this.#dir,
        }),
      )
    } catch (err) {
      log.warn({ err: String(err) }, 'the demo terminal did not start')
    }
  }
}

/** sway's config: a plain desktop with a bar whose status line is a clock. */
function swayConfig(withApps: boolean): string {
  return [
    'default_border pixel 2',
    'output * background #1f3b57 solid_color',
    'focus_follows_mouse no',
    ...(withApps
      ? ['bar {', '  position top', '  status_command while date +"%H:%M:%S"; do sleep 1; done', '}']
      : []),
    '',
  ].join('\n')
}

/**
 * sway's IPC socket once it listens: the file appears at bind, a moment
 * before listen, and a connect in between is refused (seen in CI).
 */
async function openListening(path: string, timeoutMs: number): Promise<SwayIpc> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    try {
      return await SwayIpc.open(path)
    } catch (err) {
      if (performance.now() > deadline || !/ECONNREFUSED/.test(String((err as Error).message))) throw err
      await sleep(20)
    }
  }
}

/** The Wayland and IPC sockets sway makes in its runtime directory, once both exist. */
async function waitForSockets(dir: string, sway: ManagedProcess, timeoutMs: number): Promise<WaylandSession> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (!sway.running) {
      throw new SmolDeskError('DISPLAY_ERROR', `sway exited at start: ${sway.stderrTail(3) || 'no output'}`)
    }
    const names = await readdir(dir).catch(() => [] as string[])
    const wayland = names.find((n) => /^wayland-\d+$/.test(n))
    const ipc = names.find((n) => n.startsWith('sway-ipc.') && n.endsWith('.sock'))
    if (wayland && ipc) return { WAYLAND_DISPLAY: wayland, XDG_RUNTIME_DIR: dir, SWAYSOCK: join(dir, ipc) }
    await sleep(50)
  }
  throw new SmolDeskError('DISPLAY_ERROR', `sway did not start within ${timeoutMs} ms: ${sway.stderrTail(3)}`)
}
