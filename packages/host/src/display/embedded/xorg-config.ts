import { SmolDeskError } from '@smoldesk/protocol'
/*
 * Configuration for Xorg's dummy driver: a headless X server with real RandR
 * outputs (DUMMY0…DUMMY15) that can be resized and split into monitors,
 * which Xvfb cannot do.
 */

export interface MonitorLayout {
  width: number
  height: number
}

export const MAX_VIRTUAL_WIDTH = 8192
export const MAX_VIRTUAL_HEIGHT = 4096

export function xorgDummyConfig(virtualWidth: number, virtualHeight: number): string {
  return `# written by SmolDesk for its embedded virtual desktop
Section "ServerFlags"
  Option "AutoAddDevices" "false"
  Option "AutoEnableDevices" "false"
  Option "DontVTSwitch" "true"
  Option "AllowMouseOpenFail" "true"
  Option "BlankTime" "0"
  Option "StandbyTime" "0"
  Option "SuspendTime" "0"
  Option "OffTime" "0"
EndSection
Section "Device"
  Identifier "smoldesk-dummy"
  Driver "dummy"
  VideoRam 256000
EndSection
Section "Monitor"
  Identifier "smoldesk-monitor"
  HorizSync 5.0-1000.0
  VertRefresh 5.0-200.0
EndSection
Section "Screen"
  Identifier "smoldesk-screen"
  Device "smoldesk-dummy"
  Monitor "smoldesk-monitor"
  DefaultDepth 24
  SubSection "Display"
    Depth 24
    Virtual ${virtualWidth} ${virtualHeight}
  EndSubSection
EndSection
`
}

/**
 * A reduced-blanking modeline for `xrandr --newmode` whose refresh rate is
 * exactly `refreshHz`: the pixel clock is chosen from the totals, so
 * clock / (htotal × vtotal) has no rounding error.
 */
export function modeline(width: number, height: number, refreshHz: number): { name: string; args: string[] } {
  const hTotal = width + 160
  const vTotal = height + Math.max(23, Math.ceil(height * 0.03))
  const clockMhz = (hTotal * vTotal * refreshHz) / 1e6
  return {
    name: `smoldesk-${width}x${height}@${refreshHz}`,
    args: [
      clockMhz.toFixed(6),
      String(width),
      String(width + 48),
      String(width + 80),
      String(hTotal),
      String(height),
      String(height + 3),
      String(height + 8),
      String(vTotal),
      '+hsync',
      '-vsync',
    ],
  }
}

/** Monitors side by side, left to right, top-aligned: the xrandr arguments and the framebuffer size. */
export function layoutArgs(
  monitors: readonly MonitorLayout[],
  modeNames: readonly string[],
): { fbWidth: number; fbHeight: number; args: string[] } {
  const args: string[] = []
  let x = 0
  let fbHeight = 0
  monitors.forEach((m, i) => {
    args.push('--output', `DUMMY${i}`, '--mode', modeNames[i] ?? '', '--pos', `${x}x0`)
    if (i === 0) args.push('--primary')
    x += m.width
    fbHeight = Math.max(fbHeight, m.height)
  })
  return { fbWidth: x, fbHeight, args: ['--fb', `${x}x${fbHeight}`, ...args] }
}

/** Parses "1920x1080" or "1920x1080,1280x720" into a layout. */
export function parseLayout(spec: string): MonitorLayout[] {
  const monitors = spec.split(',').map((part) => {
    const match = /^\s*(\d{2,5})x(\d{2,5})\s*$/.exec(part)
    if (!match?.[1] || !match[2])
      throw new SmolDeskError(
        'INVALID_ARGS',
        `bad monitor size '${part}' in '${spec}' (expected WIDTHxHEIGHT, e.g. 1920x1080,1280x720)`,
      )
    return { width: Number(match[1]), height: Number(match[2]) }
  })
  if (monitors.length > 16) throw new SmolDeskError('INVALID_ARGS', 'at most 16 monitors (DUMMY0–DUMMY15)')
  const width = monitors.reduce((sum, m) => sum + m.width, 0)
  const height = Math.max(...monitors.map((m) => m.height))
  if (width > MAX_VIRTUAL_WIDTH || height > MAX_VIRTUAL_HEIGHT) {
    throw new SmolDeskError(
      'INVALID_ARGS',
      `desktop ${width}x${height} exceeds ${MAX_VIRTUAL_WIDTH}x${MAX_VIRTUAL_HEIGHT}`,
    )
  }
  return monitors
}
