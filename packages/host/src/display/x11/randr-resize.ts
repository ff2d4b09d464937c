import { type MonitorInfo, SmolDeskError } from '@smoldesk/protocol'
import { runToCompletion } from '../../process/child.ts'
import { MAX_VIRTUAL_HEIGHT, MAX_VIRTUAL_WIDTH, modeline } from '../embedded/xorg-config.ts'

/** Outputs that take any mode SmolDesk makes: the dummy driver's virtual monitors. */
const VIRTUAL_OUTPUT = /^DUMMY\d{1,2}$/

/** Whether a monitor can be given any size (a virtual output), as opposed to a real screen's own modes. */
export function isVirtualMonitor(monitor: Pick<MonitorInfo, 'name'>): boolean {
  return VIRTUAL_OUTPUT.test(monitor.name)
}

/**
 * Sizes one virtual monitor with xrandr: a mode of that size at the
 * monitor's refresh rate, the monitors right of it moved along so nothing
 * overlaps, and the framebuffer fitted to the new layout. A set-up step run
 * at most a few times a second (the caller coalesces), so spawning xrandr
 * is fine; every argument is a number or a RandR output name.
 */
export async function setVirtualMonitorSize(
  display: string,
  monitors: readonly MonitorInfo[],
  index: number,
  width: number,
  height: number,
): Promise<void> {
  const target = monitors[index]
  if (!target) throw new SmolDeskError('MONITOR_NOT_FOUND', `monitor ${index} does not exist`)
  if (!isVirtualMonitor(target) || !monitors.every(isVirtualMonitor))
    throw new SmolDeskError(
      'UNAVAILABLE',
      `${target.name} is a real screen: only virtual monitors take any size`,
    )
  const env = { ...process.env, DISPLAY: display }
  const xrandr = async (args: string[], mayFail = false) => {
    const r = await runToCompletion({ name: 'xrandr', command: 'xrandr', args, env, timeoutMs: 10_000 })
    if (r.code !== 0 && !mayFail)
      throw new SmolDeskError('DISPLAY_ERROR', `xrandr ${args.join(' ')} failed: ${r.stderr.trim()}`)
    return r
  }
  const mode = modeline(width, height, Math.max(1, Math.round(target.refresh_rate || 60)))
  // A mode made before (by an earlier resize, or at start-up) is there already: xrandr then refuses, harmlessly.
  await xrandr(['--newmode', mode.name, ...mode.args], true)
  await xrandr(['--addmode', target.name, mode.name], true)
  const dx = width - target.width
  const args: string[] = []
  let fbWidth = 0
  let fbHeight = 0
  for (const m of monitors) {
    const x = m.x > target.x ? m.x + dx : m.x
    const [w, h] = m.index === index ? [width, height] : [m.width, m.height]
    fbWidth = Math.max(fbWidth, x + w)
    fbHeight = Math.max(fbHeight, m.y + h)
    args.push('--output', m.name, '--pos', `${x}x${m.y}`)
    if (m.index === index) args.push('--mode', mode.name)
  }
  // The framebuffer grows before and shrinks after the outputs move (xrandr orders this itself).
  await xrandr(['--fb', `${fbWidth}x${fbHeight}`, ...args])
}

/**
 * The largest screen SmolDesk gives the display: what RandR allows, and at
 * most the embedded Xorg's Virtual size (RandR says 32767 on the dummy
 * driver, whose framebuffer is only its Virtual size: a larger one is BadMatch).
 */
export async function maxScreenSize(display: string): Promise<{ width: number; height: number }> {
  const r = await runToCompletion({
    name: 'xrandr',
    command: 'xrandr',
    args: ['-q'],
    env: { ...process.env, DISPLAY: display },
    timeoutMs: 10_000,
  })
  const m = /maximum (\d+) x (\d+)/.exec(r.stdout)
  if (!m) throw new SmolDeskError('DISPLAY_ERROR', 'xrandr did not say how large the screen may be')
  return {
    width: Math.min(Number(m[1]), MAX_VIRTUAL_WIDTH),
    height: Math.min(Number(m[2]), MAX_VIRTUAL_HEIGHT),
  }
}
