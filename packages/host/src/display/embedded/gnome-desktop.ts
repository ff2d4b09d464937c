import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../../log.ts'
import { collectOutput, ManagedProcess, runToCompletion } from '../../process/child.ts'
import { MutterSession } from '../gnome/mutter-session.ts'
import type { MonitorLayout } from './xorg-config.ts'

const log = createLogger('display.embedded.gnome')

const DIR_PREFIX = 'smoldesk-gnome-'

/** The environment a client of this desktop (and SmolDesk's GNOME backend) needs. */
export interface GnomeSession {
  WAYLAND_DISPLAY: string
  XDG_RUNTIME_DIR: string
  DBUS_SESSION_BUS_ADDRESS: string
}

/**
 * A headless GNOME compositor of SmolDesk's own (`./smoldesk start
 * --desktop gnome`): a private D-Bus session bus, PipeWire and WirePlumber
 * (mutter's screen casts are PipeWire streams), `mutter --headless`
 * with one virtual monitor per monitor, the desktop portal, and a
 * terminal and a clock window. Everything runs in a private runtime directory; `close()` stops
 * the apps, mutter, the media daemons and the bus, in that order, and
 * removes the directory.
 */
export class GnomeDesktop {
  readonly session: GnomeSession
  readonly monitors: readonly MonitorLayout[]
  readonly #procs: ManagedProcess[]
  readonly #mutter: ManagedProcess
  readonly #apps: ManagedProcess[] = []
  readonly #dir: string
  #closing: Promise<void> | undefined

  private constructor(
    session: GnomeSession,
    monitors: readonly MonitorLayout[],
    procs: ManagedProcess[],
    mutter: ManagedProcess,
    dir: string,
  ) {
    this.session = session
    this.monitors = monitors
    this.#procs = procs
    this.#mutter = mutter
    this.#dir = dir
  }

  static async start(
    options: { monitors?: readonly MonitorLayout[]; withApps?: boolean; startTimeoutMs?: number } = {},
  ): Promise<GnomeDesktop> {
    const monitors = options.monitors ?? [{ width: 1920, height: 1080 }]
    const timeoutMs = options.startTimeoutMs ?? 20_000
    const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX)) // 0700, as a runtime directory must be
    const bus = join(dir, 'bus')
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      XDG_RUNTIME_DIR: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_CURRENT_DESKTOP: 'GNOME',
      DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}`,
      // Settings stay in memory: nothing of the user's dconf is read or written.
      GSETTINGS_BACKEND: 'memory',
      // The portal's dialogs need no accessibility bus (it would be one more daemon to stop).
      NO_AT_BRIDGE: '1',
      LANG: process.env.LANG ?? 'C.UTF-8',
    }
    const procs: ManagedProcess[] = []
    const spawn = async (name: string, command: string, args: string[]): Promise<ManagedProcess> => {
      const proc = await ManagedProcess.spawn({ name, command, args, env, cwd: dir })
      procs.push(proc)
      return proc
    }
    try {
      const dbus = await spawn('dbus-daemon', 'dbus-daemon', [
        '--session',
        `--address=unix:path=${bus}`,
        '--nofork',
        '--nopidfile',
      ])
      await waitFor(() => existsSync(bus), dbus, timeoutMs, 'the D-Bus session bus')
      const pipewire = await spawn('pipewire', 'pipewire', [])
      await waitFor(() => existsSync(join(dir, 'pipewire-0')), pipewire, timeoutMs, 'PipeWire')
      await spawn('wireplumber', 'wireplumber', [])
      const mutter = await spawn('mutter', 'mutter', [
        '--headless',
        '--wayland',
        '--no-x11',
        ...monitors.map((m) => `--virtual-monitor=${m.width}x${m.height}`),
      ])
      const socket = await waitForSocket(dir, mutter, timeoutMs)
      const session: GnomeSession = {
        WAYLAND_DISPLAY: socket,
        XDG_RUNTIME_DIR: dir,
        DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}`,
      }
      await waitForRemoteDesktop(session, mutter, monitors.length, timeoutMs)
      env.WAYLAND_DISPLAY = socket
      await startPortal(spawn, env, timeoutMs)
      const desktop = new GnomeDesktop(session, monitors, procs, mutter, dir)
      if (options.withApps ?? true) await desktop.#startApps()
      log.info({ wayland: socket, monitors }, 'GNOME desktop ready')
      return desktop
    } catch (err) {
      for (const proc of procs.reverse()) await proc.close(2000)
      await removeRuntimeDir(dir)
      throw err
    }
  }

  get description(): string {
    return `GNOME (mutter) on ${this.session.WAYLAND_DISPLAY} (${this.monitors.map((m) => `${m.width}x${m.height}`).join(' + ')})`
  }

  /** Resolves when mutter exits (the desktop is gone). */
  get serverExited(): Promise<unknown> {
    return this.#mutter.exited
  }

  /** Clients of this desktop started by SmolDesk (tests, the benchmark) run with this environment. */
  clientEnv(): NodeJS.ProcessEnv {
    const { DISPLAY: _x, SWAYSOCK: _s, ...rest } = process.env
    return { ...rest, ...this.session, XDG_CURRENT_DESKTOP: 'GNOME', GSETTINGS_BACKEND: 'memory' }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(this.#apps.map((app) => app.close(1000)))
      // mutter first (its clients are gone), then WirePlumber, PipeWire and the bus.
      for (const proc of [...this.#procs].reverse()) await proc.close(3000)
      await removeRuntimeDir(this.#dir)
      log.info('GNOME desktop stopped')
    })()
    return this.#closing
  }

  async #startApps(): Promise<void> {
    const apps: [string, string[]][] = [
      ['SmolDesk demo terminal', []],
      // mutter has no panel: the clock is a small terminal of its own.
      ['SmolDesk clock', ['--window-size-chars=24x3', '--', 'watch', '-t', '-n', '1', 'date', '+%H:%M:%S']],
    ]
    for (const [title, args] of apps) {
      try {
        this.#apps.push(
          await ManagedProcess.spawn({
            name: 'foot',
            command: 'foot',
            args: ['--title', title, ...args],
            env: this.clientEnv(),
            cwd: this.#dir,
          }),
        )
      } catch (err) {
        log.warn({ err: String(err), title }, 'a demo app did not start')
      }
    }
  }
}

const PORTAL = '/usr/libexec/xdg-desktop-portal'
const PORTAL_GNOME = '/usr/libexec/xdg-desktop-portal-gnome'

/**
 * The desktop portal with its GNOME backend, as a GNOME session has them
 * (what SmolDesk's portal backend and sandboxed apps ask to share the
 * screen). Started here, not by D-Bus activation, so they stop with the
 * desktop; the portal is waited for on the bus, so nothing activates a
 * second one. A machine without them gets a desktop without a portal.
 */
async function startPortal(
  spawn: (name: string, command: string, args: string[]) => Promise<ManagedProcess>,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<void> {
  if (!existsSync(PORTAL) || !existsSync(PORTAL_GNOME)) {
    log.warn('xdg-desktop-portal(-gnome) is not installed: this desktop has no portal')
    return
  }
  await spawn('xdg-desktop-portal-gnome', PORTAL_GNOME, [])
  await spawn('xdg-desktop-portal', PORTAL, [])
  const waited = await collectOutput({
    name: 'gdbus wait',
    command: 'gdbus',
    args: [
      'wait',
      '--session',
      '--timeout',
      String(Math.ceil(timeoutMs / 1000)),
      'org.freedesktop.portal.Desktop',
    ],
    env,
    timeoutMs: timeoutMs + 1000,
    maxBytes: 4096,
  })
  if (waited.code !== 0)
    log.warn({ err: waited.stderr.trim() }, 'the desktop portal did not appear on the bus')
}

async function waitFor(
  ready: () => boolean,
  proc: ManagedProcess,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!ready()) {
    if (!proc.running) {
      throw new SmolDeskError(
        'DISPLAY_ERROR',
        `${what} exited at start: ${proc.stderrTail(3) || 'no output'}`,
      )
    }
    if (performance.now() > deadline) {
      throw new SmolDeskError('DISPLAY_ERROR', `${what} did not start within ${timeoutMs} ms`)
    }
    await sleep(25)
  }
}

/** mutter's Wayland socket in the runtime directory, once it exists. */
async function waitForSocket(dir: string, mutter: ManagedProcess, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (!mutter.running) {
      throw new SmolDeskError(
        'DISPLAY_ERROR',
        `mutter exited at start: ${mutter.stderrTail(3) || 'no output'}`,
      )
    }
    const name = (await readdir(dir).catch(() => [] as string[])).find((n) => /^wayland-\d+$/.test(n))
    if (name) return name
    await sleep(50)
  }
  throw new SmolDeskError(
    'DISPLAY_ERROR',
    `mutter did not start within ${timeoutMs} ms: ${mutter.stderrTail(3)}`,
  )
}

/** mutter's remote-desktop APIs answer and list every virtual monitor (they come up after the socket). */
async function waitForRemoteDesktop(
  session: GnomeSession,
  mutter: ManagedProcess,
  monitors: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let last = ''
  while (performance.now() < deadline) {
    if (!mutter.running) {
      throw new SmolDeskError(
        'DISPLAY_ERROR',
        `mutter exited at start: ${mutter.stderrTail(3) || 'no output'}`,
      )
    }
    const client = await MutterSession.open({ ...session }, 1).catch((err: unknown) => {
      last = String(err)
      return undefined
    })
    if (client) {
      const found = await client.monitors().catch((err: unknown) => {
        last = String(err)
        return []
      })
      client.close()
      if (found.length >= monitors) return
    }
    await sleep(100)
  }
  throw new SmolDeskError(
    'DISPLAY_ERROR',
    `mutter's remote-desktop API did not answer within ${timeoutMs} ms: ${last}`,
  )
}

/**
 * Removes the private runtime directory. The portal starts xdg-document-portal on the bus, which
 * mounts its FUSE file system at `doc` in it and outlives the bus by a moment: rm then meets
 * EBUSY (seen in CI). What is still mounted under the directory is unmounted (lazily: its process
 * may still hold it), and the removal tried again for up to 2 s.
 */
async function removeRuntimeDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rm(dir, { recursive: true, force: true })
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 20) throw err
      for (const mount of await mountsUnder(dir)) {
        // fusermount for a user's own FUSE mount; umount when the host runs as root.
        const unmounted = await runToCompletion({
          name: 'fusermount3',
          command: 'fusermount3',
          args: ['-u', '-z', mount],
          timeoutMs: 2000,
        }).catch(() => undefined)
        if (unmounted?.code !== 0)
          await runToCompletion({
            name: 'umount',
            command: 'umount',
            args: ['-l', mount],
            timeoutMs: 2000,
          }).catch(() => undefined)
      }
      await sleep(100)
    }
  }
}

/** The mount points at or below `dir` (from /proc/self/mounts, whose spaces are octal escapes). */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  return table
    .split('\n')
    .map((line) =>
      (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(Number.parseInt(o, 8)),
      ),
    )
    .filter((mount) => mount === dir || mount.startsWith(`${dir}/`))
}
