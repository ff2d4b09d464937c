import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { SwayIpc } from '../src/display/wlroots/sway-ipc.ts'
import { ManagedProcess } from '../src/process/child.ts'
import type { Rgb } from './x11-paint.ts'

/** Paints a sway output one solid colour (sway's own background client does it). */
export async function paintOutput(ipc: SwayIpc, output: string, colour: Rgb): Promise<void> {
  await ipc.command(`output ${output} background ${hex(colour)} solid_color`)
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

/** SGR mouse reports as a terminal sends them (ESC is built, not written, to keep the pattern readable). */
const ESC = String.fromCharCode(0x1b)
const MOUSE_PRESS = new RegExp(`${ESC}\\[<(\\d+);\\d+;\\d+M`, 'g')
const MOUSE_REPORT = new RegExp(`${ESC}\\[<\\d+;\\d+;\\d+[Mm]`, 'g')

/**
 * A full-screen terminal (foot) of one colour on a Wayland desktop, running
 * terminal-probe.mjs: the probe for "the click and the key reached an
 * application" where wev cannot be placed (mutter puts windows where it
 * likes; a full-screen one covers its monitor). Typed text and SGR mouse
 * reports land in a file; the colour can be changed while it runs.
 */
export class TerminalProbe {
  readonly #proc: ManagedProcess
  readonly #dir: string

  private constructor(proc: ManagedProcess, dir: string) {
    this.#proc = proc
    this.#dir = dir
  }

  static async open(env: NodeJS.ProcessEnv, colour: Rgb): Promise<TerminalProbe> {
    const dir = await mkdtemp(join(tmpdir(), 'smoldesk-probe-'))
    await writeFile(join(dir, 'colour'), hex(colour))
    await writeFile(join(dir, 'input'), '')
    const script = join(import.meta.dirname, 'terminal-probe.mjs')
    // biome-ignore format: one option per line
    const args = ['--fullscreen', '-o', `colors.background=${hex(colour).slice(1)}`, '--',
      process.execPath, script, join(dir, 'input'), join(dir, 'colour')]
    const proc = await ManagedProcess.spawn({ name: 'foot probe', command: 'foot', args, env })
    return new TerminalProbe(proc, dir)
  }

  setColour(colour: Rgb): Promise<void> {
    return writeFile(join(this.#dir, 'colour'), hex(colour))
  }

  async #input(): Promise<string> {
    return readFile(join(this.#dir, 'input'), 'utf8')
  }

  /** Mouse button presses reported (SGR: ESC [ < button ; x ; y M), by button (0 left, 1 middle, 2 right). */
  async buttonsPressed(): Promise<number[]> {
    return [...(await this.#input()).matchAll(MOUSE_PRESS)].map((m) => Number(m[1]))
  }

  /** What was typed, mouse reports left out. */
  async typed(): Promise<string> {
    return (await this.#input()).replace(MOUSE_REPORT, '')
  }

  async close(): Promise<void> {
    await this.#proc.close(1000)
    await rm(this.#dir, { recursive: true, force: true })
  }
}

function hex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`
}
