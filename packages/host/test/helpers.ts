import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type HostStateFile, HostStateFileSchema, IpcClient } from '@smoldesk/protocol'
import { HOST_NODE_FLAGS } from '../src/cli/node-flags.ts'
import { CLOCK_TICKS_PER_S, findProcesses } from '../src/process/proc.ts'

export const REPO_ROOT = resolve(import.meta.dirname, '../../..')
export const CLI_MAIN = join(REPO_ROOT, 'packages/host/src/cli/main.ts')

/** Processes whose environment carries SMOLDESK_OWNER=<tag> (every child SmolDesk starts has one). */
export async function processesTagged(tag: string): Promise<{ pid: number; cmdline: string }[]> {
  const found = await findProcesses((p) => p.owner === tag)
  return found.map(({ pid, cmdline }) => ({ pid, cmdline }))
}

/** CPU time a process has used so far (user + system), ms. */
export async function cpuMs(pid: number): Promise<number> {
  const [p] = await findProcesses((candidate) => candidate.pid === pid)
  assert.ok(p, `process ${pid} is running`)
  return (p.cpuTicks * 1000) / CLOCK_TICKS_PER_S
}

/** Waits until no process carries the tag; returns what is still there after the deadline. */
export async function waitForNoProcesses(
  tag: string,
  timeoutMs = 5000,
): Promise<{ pid: number; cmdline: string }[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = await processesTagged(tag)
    if (left.length === 0 || Date.now() > deadline) return left
    await sleep(100)
  }
}

export function uniqueTag(name: string): string {
  return `test-${name}-${randomBytes(6).toString('hex')}`
}

export interface HostProcess {
  child: ChildProcess
  stateDir: string
  state: HostStateFile
  tag: string
  stdout: () => string
  stderr: () => string
  client(): Promise<IpcClient>
  /** SIGTERM, wait for exit, clean up the state dir. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Runs `smoldesk <command> …` as a real subprocess (the CLI entry, after set-up) with its own state dir and owner tag. */
export async function startHostProcess(
  command: 'host' | 'start',
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<HostProcess> {
  // A state dir of the test's own (what one user keeps between runs), else a fresh one.
  const stateDir = env.SMOLDESK_STATE_DIR ?? (await mkdtemp(join(tmpdir(), 'smoldesk-state-')))
  const tag = uniqueTag(command)
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    SMOLDESK_STATE_DIR: stateDir,
    SMOLDESK_OWNER: tag,
    SMOLDESK_LOG_LEVEL: 'warn',
    ...env,
  }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k]
  // `start` serves on a fixed port by default; tests take a free one so they never collide.
  const fullArgs = command === 'start' && !args.includes('--port') ? [...args, '--port', '0'] : args
  // The host as `./smoldesk start` runs it, V8 flags included.
  const child = spawn(process.execPath, [...HOST_NODE_FLAGS, CLI_MAIN, command, ...fullArgs], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  const state = await waitForStateFile(
    stateDir,
    timeoutMs,
    () => child.exitCode !== null,
    () => err,
  )
  const host: HostProcess = {
    child,
    stateDir,
    state,
    tag,
    stdout: () => out,
    stderr: () => err,
    client: () => IpcClient.connect({ url: `ws://127.0.0.1:${state.port}/ipc`, token: state.token }),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const code = await exited
      await rm(stateDir, { recursive: true, force: true })
      return code
    },
  }
  return host
}

async function waitForStateFile(
  dir: string,
  timeoutMs: number,
  died: () => boolean,
  stderr: () => string,
): Promise<HostStateFile> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (died()) throw new Error(`host exited before it was ready: ${stderr()}`)
    try {
      return HostStateFileSchema.parse(JSON.parse(await readFile(join(dir, 'host.json'), 'utf8')))
    } catch {
      await sleep(50)
    }
  }
  throw new Error(`host did not write host.json within ${timeoutMs} ms: ${stderr()}`)
}

/** Runs the CLI to completion (e.g. `invoke`), returning exit code and output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { ...process.env, SMOLDESK_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.once('exit', (code) => resolvePromise({ code, stdout, stderr }))
  })
}

/** Runs a plain command (xclip, xdpyinfo) to completion with an input and a time limit. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const input = options.input
    const child = spawn(command, args, {
      env: { ...process.env, ...options.env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    const chunks: Buffer[] = []
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000)
    child.stdout?.on('data', (d: Buffer) => chunks.push(d))
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout: Buffer.concat(chunks), stderr })
    })
    if (input !== undefined) {
      child.stdin?.on('error', () => {}) // a command may exit without reading all of it
      child.stdin?.end(input)
    }
  })
}

/** Retries an assertion until it passes or the time is up (for effects that land asynchronously, like a forked xclip taking the selection). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(50)
    }
  }
}

/** An address `smoldesk start` printed ("Open the viewer", "Host control"), once it has. */
export function printedUrl(
  host: HostProcess,
  label: 'Open the viewer' | 'Host control' = 'Open the viewer',
): Promise<string> {
  const pattern = new RegExp(`${label}: +(\\S+)`)
  return eventually(async () => {
    const url = pattern.exec(host.stdout())?.[1]
    assert.ok(url, `no "${label}" line yet`)
    return url
  }, 15_000)
}

/**
 * An xterm on `display` whose shell writes every line typed into it to
 * `file` (what a test reads back to see what was typed), once it is on
 * screen. Without a window manager keyboard focus follows the pointer: the
 * caller points at it (`geometry` says where it is).
 */
export async function typingTerminal(display: string, geometry: string, file: string): Promise<ChildProcess> {
  const xterm = spawn('xterm', ['-geometry', geometry, '-e', 'sh', '-c', `cat > ${file}`], {
    env: { ...process.env, DISPLAY: display, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
    stdio: 'ignore',
  })
  try {
    await eventually(async () => {
      const r = await run('xwininfo', ['-name', 'sh'], { env: { DISPLAY: display } })
      assert.match(r.stdout.toString(), /IsViewable/)
    }, 10_000)
  } catch (err) {
    xterm.kill()
    throw err
  }
  return xterm
}

/** A PNG of one colour (ffmpeg's `color` source: `red`, `0x14a0a0`), written to `path`; returns its bytes. */
export async function solidPng(path: string, colour: string, width: number, height: number): Promise<Buffer> {
  const made = await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', `color=${colour}:s=${width}x${height}`],
    ...['-frames:v', '1', '-y', path],
  ])
  assert.equal(made.code, 0, made.stderr)
  return readFile(path)
}
