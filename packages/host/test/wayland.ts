import { createInterface } from 'node:readline'
import type { SwayIpc } from '../src/display/wlroots/sway-ipc.ts'
import { ManagedProcess } from '../src/process/child.ts'
import type { Rgb } from './x11-paint.ts'

/** Paints a sway output one solid colour (sway's own background client does it). */
export async function paintOutput(ipc: SwayIpc, output: string, [r, g, b]: Rgb): Promise<void> {
  const hex = [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')
  await ipc.command(`output ${output} background #${hex} solid_color`)
}

/**
 * wev, a Wayland client that prints every input event it gets: the probe
 * for "the click and the key reached an application". It opens on the
 * focused output and, tiled alone, fills it.
 */
export class InputProbe {
  readonly #proc: ManagedProcess
  readonly lines: string[] = []

  private constructor(proc: ManagedProcess) {
    this.#proc = proc
    createInterface({ input: proc.child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
      this.lines.push(line),
    )
  }

  static async open(env: NodeJS.ProcessEnv): Promise<InputProbe> {
    return new InputProbe(
      await ManagedProcess.spawn({ name: 'wev', command: 'stdbuf', args: ['-oL', 'wev'], env }),
    )
  }

  /** Whether the probe has been shown a surface (it is mapped and gets input). */
  get mapped(): boolean {
    return this.lines.some((l) => l.includes('xdg_surface') || l.includes('wl_keyboard] enter'))
  }

  /** Pointer button presses seen, by evdev code (wev prints each event once per pointer object: one per serial). */
  buttonsPressed(): number[] {
    const bySerial = new Map<string, number>()
    for (const l of this.lines) {
      const m = /wl_pointer\] button: serial: (\d+); .*button: (\d+) .*state: 1/.exec(l)
      if (m) bySerial.set(m[1] ?? '', Number(m[2]))
    }
    return [...bySerial.values()]
  }

  /** The text typed into it: the UTF-8 of each key press (releases print an empty one). */
  typed(): string {
    return this.lines
      .flatMap((l) => {
        const m = /utf8: '(.+)'$/.exec(l)
        return m ? [m[1] ?? ''] : []
      })
      .join('')
  }

  close(): Promise<unknown> {
    return this.#proc.close(1000)
  }
}
