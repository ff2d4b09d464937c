import type { MonitorInfo } from '@smoldesk/protocol'
import type { X11Connection } from './connection.ts'
import { Randr } from './randr.ts'

/**
 * Every active RandR 1.5 monitor, in RandR's order (which is also xrandr
 * --listmonitors' order), with the refresh rate of the mode that drives it.
 * Without RandR 1.5 the one X screen is the one monitor: its geometry is
 * still the server's own, never a made-up default.
 */
export async function listX11Monitors(conn: X11Connection): Promise<MonitorInfo[]> {
  const scale = await scaleFactor(conn)
  const randr = await Randr.query(conn)
  if (!randr) {
    const screen = conn.display.screen[0]
    if (!screen) return []
    return [
      {
        index: 0,
        name: 'screen',
        x: 0,
        y: 0,
        width: screen.width_in_pixels,
        height: screen.height_in_pixels,
        refresh_rate: 0,
        scale_factor: scale,
        is_primary: true,
      },
    ]
  }
  const [monitors, rates] = await Promise.all([
    randr.getMonitors(conn.root),
    randr.refreshRatesByOutput(conn.root),
  ])
  const names = await Promise.all(monitors.map((m) => conn.atomName(m.name)))
  return monitors.map((m, index) => ({
    index,
    name: names[index] ?? `monitor-${index}`,
    x: m.x,
    y: m.y,
    width: m.width,
    height: m.height,
    refresh_rate: m.outputs.map((o) => rates.get(o)).find((r) => r !== undefined) ?? 0,
    scale_factor: scale,
    is_primary: m.primary,
  }))
}

/**
 * X11 has one scale for the whole screen: Xft.dpi in the RESOURCE_MANAGER
 * property (what GTK and Qt read), relative to 96 dpi.
 */
async function scaleFactor(conn: X11Connection): Promise<number> {
  const property = await conn.atom('RESOURCE_MANAGER')
  const reply = await conn.getProperty(conn.root, property, { maxBytes: 1024 * 1024 })
  const match = /^Xft\.dpi:\s*([0-9.]+)\s*$/m.exec(reply.data.toString('latin1'))
  const dpi = match?.[1] ? Number.parseFloat(match[1]) : Number.NaN
  return Number.isFinite(dpi) && dpi > 0 ? Math.round((dpi / 96) * 100) / 100 : 1
}
