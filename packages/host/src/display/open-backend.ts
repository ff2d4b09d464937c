import { existsSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { CLIPBOARD_MAX_BYTES } from '../clipboard/clipboard.ts'
import { resolveStateDir } from '../ipc/state-file.ts'
import { createLogger } from '../log.ts'
import { HOST_DEFAULTS, type HostOptions, type PortalMode, type WaylandTarget } from '../options.ts'
import type { DisplayBackend } from './backend.ts'
import { waylandAnswers } from './detect.ts'
import { GnomeBackend } from './gnome/gnome-backend.ts'
import { PortalBackend } from './portal/portal-backend.ts'
import { WlrootsBackend } from './wlroots/wlroots-backend.ts'
import { X11Backend } from './x11/x11-backend.ts'

const log = createLogger('display')

/**
 * The display backend the host shares, chosen at start: a Wayland session
 * SmolDesk was handed (its embedded sway) or an explicit X display
 * (`--display`) wins; then a live Wayland compositor in the environment
 * that SmolDesk can drive (sway: its IPC socket answers; GNOME: the
 * session says so and has a session bus; any other with a session bus:
 * the desktop portal, as when `portal` asks for it); then the X
 * display from $DISPLAY. With none, an X11 backend without a display
 * answers NO_DISPLAY to every use, so the host still runs (IPC, signaling)
 * and says why there is no picture.
 */
export async function openDisplayBackend(options: HostOptions): Promise<DisplayBackend> {
  const clipboardMaxBytes = options.clipboardMaxBytes ?? CLIPBOARD_MAX_BYTES
  const found = options.display ? undefined : (options.wayland ?? (await waylandInEnvironment(process.env)))
  const wayland = throughPortal(found, options.portal, process.env)
  const backend: DisplayBackend =
    wayland?.kind === 'portal'
      ? new PortalBackend({
          env: wayland.env,
          mode: wayland.mode,
          stateDir: options.stateDir ?? resolveStateDir(),
        })
      : wayland?.kind === 'wlroots'
        ? new WlrootsBackend({ env: wayland.env, clipboardMaxBytes })
        : wayland?.kind === 'gnome'
          ? new GnomeBackend({ env: wayland.env, clipboardMaxBytes })
          : new X11Backend({
              display: options.display ?? process.env.DISPLAY ?? undefined,
              captureHelper: options.captureHelper ?? HOST_DEFAULTS.captureHelper,
              clipboardMaxBytes,
            })
  log.info({ backend: backend.description }, 'display backend chosen')
  return backend
}

/** The Wayland compositor this process runs under, when SmolDesk knows how to drive it. */
async function waylandInEnvironment(env: NodeJS.ProcessEnv): Promise<WaylandTarget | undefined> {
  const { WAYLAND_DISPLAY, XDG_RUNTIME_DIR, SWAYSOCK } = env
  if (!WAYLAND_DISPLAY || !XDG_RUNTIME_DIR || !(await waylandAnswers(env))) return undefined
  const socket = isAbsolute(WAYLAND_DISPLAY) ? WAYLAND_DISPLAY : join(XDG_RUNTIME_DIR, WAYLAND_DISPLAY)
  if (SWAYSOCK && existsSync(SWAYSOCK)) {
    return { kind: 'wlroots', env: { WAYLAND_DISPLAY: socket, XDG_RUNTIME_DIR, SWAYSOCK } }
  }
  const { XDG_CURRENT_DESKTOP, DBUS_SESSION_BUS_ADDRESS } = env
  if (DBUS_SESSION_BUS_ADDRESS && /(^|:)GNOME(:|$)/i.test(XDG_CURRENT_DESKTOP ?? '')) {
    return { kind: 'gnome', env: { WAYLAND_DISPLAY: socket, XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS } }
  }
  if (DBUS_SESSION_BUS_ADDRESS) {
    // KDE and the rest: no way of SmolDesk's own, but the desktop's portal asks its user.
    log.info({ desktop: XDG_CURRENT_DESKTOP }, 'sharing this Wayland desktop through the desktop portal')
    return {
      kind: 'portal',
      mode: 'control',
      env: { WAYLAND_DISPLAY: socket, XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS },
    }
  }
  log.warn(
    { wayland: WAYLAND_DISPLAY },
    'a Wayland compositor without a session bus SmolDesk cannot drive; trying X11',
  )
  return undefined
}

/** The portal instead of SmolDesk's own way in, when asked for (SMOLDESK_PORTAL) and there is a session bus. */
function throughPortal(
  target: WaylandTarget | undefined,
  mode: PortalMode | undefined,
  env: NodeJS.ProcessEnv,
): WaylandTarget | undefined {
  if (!target || !mode) return target
  if (target.kind === 'portal') return { ...target, mode }
  const bus =
    'DBUS_SESSION_BUS_ADDRESS' in target.env
      ? target.env.DBUS_SESSION_BUS_ADDRESS
      : env.DBUS_SESSION_BUS_ADDRESS
  if (!bus) {
    log.warn('the desktop portal was asked for, but there is no D-Bus session bus; sharing without it')
    return target
  }
  const { WAYLAND_DISPLAY, XDG_RUNTIME_DIR } = target.env
  return { kind: 'portal', mode, env: { WAYLAND_DISPLAY, XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS: bus } }
}
