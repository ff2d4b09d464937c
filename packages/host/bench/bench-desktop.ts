import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import { GnomeDesktop } from '../src/display/embedded/gnome-desktop.ts'
import { SwayDesktop } from '../src/display/embedded/sway-desktop.ts'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { ManagedProcess } from '../src/process/child.ts'
import { photoBgrx } from './photo.ts'

/** The desktops the latency benchmark measures on: Xorg (the reference) and the headless Wayland compositors. */
export const BENCH_DESKTOPS = ['xorg', 'sway', 'gnome'] as const
export type BenchDesktop = (typeof BENCH_DESKTOPS)[number]

const PATTERN_APP = resolve(import.meta.dirname, 'pattern-app.ts')
const WL_PATTERN = resolve(import.meta.dirname, '../.build/smoldesk-wl-pattern')

/** How the host under test is pointed at a desktop: an X display, or a Wayland session's environment. */
export interface DesktopTarget {
  /** `start`'s arguments for it. */
  args: string[]
  /** Environment for the host (and, for X11, what is taken away). */
  env: Record<string, string | undefined>
  /** The X display, where there is one (x11vnc and the capture-stage probe need it). */
  display: string | undefined
}

/** One desktop of the scene's size with the scene drawn on it (timestamps over busy content). */
export interface SceneDesktop {
  kind: BenchDesktop
  target: DesktopTarget
  close(): Promise<void>
}

/**
 * Starts a desktop of one monitor and the benchmark's scene on it, at `hz`
 * (detuned by the caller). On Xorg the scene is pattern-app.ts; on Wayland
 * it is smoldesk-wl-pattern, a full-screen wl_shm client drawing the same
 * pattern and the same picture (rects and photo; the scrolling-text scene
 * is X11's only).
 */
export async function startSceneDesktop(
  kind: BenchDesktop,
  size: { width: number; height: number },
  hz: number,
  content: 'rects' | 'scroll' | 'photo' | 'fullscreen',
): Promise<SceneDesktop> {
  const monitors = [size]
  if (kind === 'xorg') {
    const desktop = await VirtualDesktop.start({ monitors, withApps: false })
    const scene = await ManagedProcess.spawn({
      name: 'pattern app',
      command: process.execPath,
      args: [
        PATTERN_APP,
        desktop.display,
        '0',
        '0',
        String(size.width),
        String(size.height),
        String(hz),
        content,
      ],
    })
    return {
      kind,
      target: { args: ['--display', desktop.display], env: {}, display: desktop.display },
      close: async () => {
        await scene.close()
        await desktop.close()
      },
    }
  }
  if (content === 'scroll' || content === 'fullscreen') {
    throw new SmolDeskError(
      'INVALID_ARGS',
      `the ${content} scene is drawn on X11 only (--content rects or photo)`,
    )
  }
  const desktop =
    kind === 'sway'
      ? await SwayDesktop.start({ monitors, withApps: false })
      : await GnomeDesktop.start({ monitors, withApps: false })
  try {
    const env = desktop.clientEnv()
    const args = [String(hz), content, String(size.width), String(size.height)]
    if (content === 'photo') {
      const file = join(desktop.session.XDG_RUNTIME_DIR, 'photo.bgrx')
      await writeFile(file, photoBgrx(size.width, size.height), { mode: 0o644 })
      args.push(file)
    }
    const scene = await ManagedProcess.spawn({ name: 'wayland pattern', command: WL_PATTERN, args, env })
    await sleep(1000) // mapped and full screen
    if (!scene.running) {
      throw new SmolDeskError('DISPLAY_ERROR', `the Wayland scene did not start: ${scene.stderrTail(2)}`)
    }
    return {
      kind,
      target: {
        args: [],
        env: {
          DISPLAY: undefined,
          ...desktop.session,
          ...(kind === 'gnome' && { XDG_CURRENT_DESKTOP: 'GNOME' }),
        },
        display: undefined,
      },
      close: async () => {
        await scene.close()
        await desktop.close()
      },
    }
  } catch (err) {
    await desktop.close()
    throw err
  }
}
