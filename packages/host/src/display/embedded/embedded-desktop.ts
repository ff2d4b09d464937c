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

/** An embedded desktop as `start` uses it: what the host shares, words for the banner, its end. */
export interface EmbeddedDesktop {
  /** What the host is told to share. */
  readonly target: Pick<HostOptions, 'display' | 'wayland'>
  readonly description: string
  readonly serverExited: Promise<unknown>
  close(): Promise<void>
}

export async function startEmbeddedDesktop(
  kind: EmbeddedDesktopKind,
  monitors: readonly MonitorLayout[],
  x11Backend: DesktopBackend | 'auto',
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
  const x = await VirtualDesktop.start({ monitors, backend: kind === 'x11' ? x11Backend : kind })
  return {
    target: { display: x.display },
    description: `${x.backend} on ${x.display} (${x.monitors.map((m) => `${m.width}x${m.height}`).join(' + ')})`,
    serverExited: x.serverExited,
    close: () => x.close(),
  }
}
