import type { DesktopBackend } from '../display/embedded/virtual-desktop.ts'
import { VirtualDesktop } from '../display/embedded/virtual-desktop.ts'
import type { MonitorLayout } from '../display/embedded/xorg-config.ts'
import { Host } from '../host.ts'
import { onShutdownSignal } from './output.ts'

/** `smoldesk host`: the daemon alone, until a signal. */
export async function runHost(options: {
  display: string | undefined
  ipcPort: number | undefined
}): Promise<void> {
  const host = await Host.start({
    display: options.display,
    ...(options.ipcPort !== undefined && { ipcPort: options.ipcPort }),
  })
  onShutdownSignal(() => host.close())
  process.stdout.write(`SmolDesk host: IPC at ${host.ipcUrl} (display ${host.display ?? 'none'})\n`)
}

/**
 * `smoldesk start`: the whole product on one machine. Without a display it
 * brings up an embedded virtual desktop first; everything it started stops
 * with it (Ctrl-C, SIGTERM, or the desktop's X server dying).
 */
export async function runStart(options: {
  display: string | undefined
  ipcPort: number | undefined
  monitors: MonitorLayout[]
  backend: DesktopBackend | 'auto'
}): Promise<void> {
  let desktop: VirtualDesktop | undefined
  let display = options.display ?? process.env.DISPLAY
  if (!display && !process.env.WAYLAND_DISPLAY) {
    process.stdout.write('No display found: starting an embedded virtual desktop…\n')
    desktop = await VirtualDesktop.start({ monitors: options.monitors, backend: options.backend })
    display = desktop.display
  }
  let host: Host
  try {
    host = await Host.start({ display, ...(options.ipcPort !== undefined && { ipcPort: options.ipcPort }) })
  } catch (err) {
    await desktop?.close()
    throw err
  }
  let stopping = false
  const shutdown = async () => {
    stopping = true
    await host.close()
    await desktop?.close()
  }
  onShutdownSignal(shutdown)
  desktop?.serverExited.then(async () => {
    if (stopping) return
    process.stderr.write("smoldesk: the virtual desktop's X server exited; stopping\n")
    await shutdown()
    process.exit(1)
  })
  const lines = [
    '',
    'SmolDesk is running.',
    desktop
      ? `  Desktop:  embedded ${desktop.backend} on ${desktop.display} (${desktop.monitors.map((m) => `${m.width}x${m.height}`).join(' + ')})`
      : `  Desktop:  your display ${display ?? '(none)'}`,
    `  Host IPC: ${host.ipcUrl} (token in ${host.stateDir}/host.json)`,
    '',
    'What works in this build: display and monitor detection, encoder probes, the clipboard and',
    'the security key, through the IPC. Try in another terminal:',
    '  ./smoldesk invoke get_monitors',
    '  ./smoldesk invoke get_video_codecs',
    `  ./smoldesk invoke set_clipboard_text '{"text":"hello"}'`,
    'The browser viewer (video, input) is not in this build yet.',
    'Press Ctrl-C to stop.',
    '',
  ]
  process.stdout.write(lines.join('\n'))
}
