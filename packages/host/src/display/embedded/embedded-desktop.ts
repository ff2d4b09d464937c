import { PrivateSoundServer } from '../../audio/private-sound-server.ts'
import { createLogger } from '../../log.ts'
import type { HostOptions } from '../../options.ts'
import { GnomeDesktop } from './gnome-desktop.ts'
import { SwayDesktop } from './sway-desktop.ts'
import { type DesktopBackend, VirtualDesktop } from './virtual-desktop.ts'
import type { MonitorLayout } from './xorg-config.ts'

/**
 * The desktops `./smoldesk start --desktop` can bring up on a machine
 * without one: Xorg (dummy driver) or Xvfb by name, `x11` for Xorg with
 * Xvfb as the fallback (what `start` does without a display), and the
 * headless Wayland compositors.
 */
export const EMBEDDED_DESKTOPS = ['xorg', 'xvfb', 'x11', 'sway', 'gnome'] as const
export type EmbeddedDesktopKind = (typeof EMBEDDED_DESKTOPS)[number]

const log = createLogger('display.embedded')

/** An embedded desktop as `start` uses it: what the host shares, words for the banner, its end. */
export interface EmbeddedDesktop {
  /** What the host is told to share, and the desktop's sound server (when one started). */
  readonly target: Pick<HostOptions, 'display' | 'wayland' | 'soundServer'>
  readonly description: string
  readonly serverExited: Promise<unknown>
  close(): Promise<void>
}

/**
 * Brings up the desktop with a sound server of its own (a PulseAudio whose
 * null sink is the desktop's speaker: what viewers hear). No sound server
 * is no reason to refuse a desktop: it then runs silent, and the host says so.
 */
export async function startEmbeddedDesktop(
  kind: EmbeddedDesktopKind,
  monitors: readonly MonitorLayout[],
  x11Backend: DesktopBackend | 'auto',
): Promise<EmbeddedDesktop> {
  const sound = await PrivateSoundServer.start().catch((err: unknown) => {
    log.warn({ err: String(err) }, 'the embedded desktop runs without sound')
    return undefined
  })
  try {
    const desktop = await startDisplay(kind, monitors, x11Backend, sound)
    return {
      ...desktop,
      target: { ...desktop.target, ...(sound && { soundServer: sound.address }) },
      close: async () => {
        await desktop.close()
        await sound?.close()
      },
    }
  } catch (err) {
    await sound?.close()
    throw err
  }
}

async function startDisplay(
  kind: EmbeddedDesktopKind,
  monitors: readonly MonitorLayout[],
  x11Backend: DesktopBackend | 'auto',
  sound: PrivateSoundServer | undefined,
): Promise<EmbeddedDesktop> {
  if (kind === 'sway') {
    const sway = await SwayDesktop.start({ monitors })
    return {
      target: { wayland: { kind: 'wlroots', env: sway.session } },
      description: sway.description,
      serverExited: sway.serverExited,
      close: () => sway.close(),
    }
  }
  if (kind === 'gnome') {
    const gnome = await GnomeDesktop.start({ monitors })
    return {
      target: { wayland: { kind: 'gnome', env: gnome.session } },
      description: gnome.description,
      serverExited: gnome.serverExited,
      close: () => gnome.close(),
    }
  }
  const x = await VirtualDesktop.start({
    monitors,
    backend: kind === 'x11' ? x11Backend : kind,
    ...(sound && { appEnv: { PULSE_SERVER: sound.address } }),
  })
  return {
    target: { display: x.display },
    description: `${x.backend} on ${x.display} (${x.monitors.map((m) => `${m.width}x${m.height}`).join(' + ')})`,
    serverExited: x.serverExited,
    close: () => x.close(),
  }
}
