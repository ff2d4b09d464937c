import { type ChildProcess, type StdioOptions, spawn, spawnSync } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { SmolDeskError } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'

const log = createLogger('process')

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SpawnOptions {
  /** Short name for logs and errors ("Xorg", "ffmpeg probe H264"). */
  name: string
  command: string
  args: readonly string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Defaults to ['ignore', 'pipe', 'pipe']; extra entries become fds 3, 4, … */
  stdio?: StdioOptions
  /**
   * What the kernel sends the child when SmolDesk dies: TERM lets a server
   * clean up; KILL suits helpers with nothing to save (an encoder probe
   * finishing its frames after a SIGTERM can outlive us by seconds).
   */
  deathSignal?: 'TERM' | 'KILL'
}

/**
 * Every child SmolDesk starts carries this tag in its environment, so a test
 * (or an operator) can find any process a host left behind by scanning
 * /proc/<pid>/environ. A parent that was itself started with a tag passes it on.
 */
export const OWNER_TAG = process.env.SMOLDESK_OWNER ?? `smoldesk-${process.pid}`

const live = new Set<ChildProcess>()
process.on('exit', () => {
  // Last resort for a host that exits without closing its children; a host
  // killed with SIGKILL is covered by the parent-death signal set below.
  for (const child of live) child.kill('SIGKILL')
})

const hasSetpriv = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0

/**
 * A child process with the contract every SmolDesk subprocess follows:
 * `spawn` tells "failed to start" (rejects) from "died later" (the `exit`
 * event, after it started); `close()` is idempotent, asks with SIGTERM and
 * insists with SIGKILL; and the kernel kills the child if this process dies
 * (PR_SET_PDEATHSIG via util-linux setpriv, which then execs the command).
 */
export class ManagedProcess extends EventEmitter<{ exit: [ExitInfo] }> {
  readonly name: string
  readonly pid: number
  readonly exited: Promise<ExitInfo>
  readonly #child: ChildProcess
  readonly #stderrTail: string[] = []
  #exitInfo: ExitInfo | undefined
  #closing: Promise<ExitInfo> | undefined

  private constructor(name: string, child: ChildProcess, pid: number) {
    super()
    this.name = name
    this.#child = child
    this.pid = pid
    live.add(child)
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child)
        this.#exitInfo = { code, signal }
        log.debug({ child: name, pid, code, signal }, 'child exited')
        this.emit('exit', this.#exitInfo)
        resolve(this.#exitInfo)
      })
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (line.trim() === '') continue
        this.#stderrTail.push(line)
        if (this.#stderrTail.length > 30) this.#stderrTail.shift()
      }
    })
  }

  static spawn(options: SpawnOptions): Promise<ManagedProcess> {
    const [command, args] = hasSetpriv
      ? ['setpriv', ['--pdeathsig', options.deathSignal ?? 'TERM', '--', options.command, ...options.args]]
      : [options.command, [...options.args]]
    const child = spawn(command, args, {
      cwd: options.cwd,
      // A caller may give a child a tag of its own (a supervised sub-tree); otherwise it inherits ours.
      env: { ...(options.env ?? process.env), SMOLDESK_OWNER: options.env?.SMOLDESK_OWNER ?? OWNER_TAG },
      stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    })
    return new Promise((resolve, reject) => {
      child.once('error', (err) => {
        reject(
          new SmolDeskError('UNAVAILABLE', `${options.name} failed to start: ${err.message}`, { cause: err }),
        )
      })
      child.once('spawn', () => {
        if (child.pid === undefined) {
          reject(new SmolDeskError('INTERNAL', `${options.name} started without a pid`))
          return
        }
        log.debug({ child: options.name, pid: child.pid }, 'child started')
        resolve(new ManagedProcess(options.name, child, child.pid))
      })
    })
  }

  get child(): ChildProcess {
    return this.#child
  }

  get running(): boolean {
    return this.#exitInfo === undefined
  }

  /**
   * How a fresh child's start went: `first` (its first output, as its owner
   * recognizes it) came, the child exited first, or neither within `timeoutMs`.
   */
  async started(first: Promise<unknown>, timeoutMs: number): Promise<'ok' | 'exited' | 'timeout'> {
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      first.then(() => 'ok' as const),
      this.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    return outcome
  }

  /** The last lines the child wrote to stderr, for error messages. */
  stderrTail(lines = 10): string {
    return this.#stderrTail.slice(-lines).join('\n')
  }

  close(graceMs = 3000): Promise<ExitInfo> {
    if (this.#exitInfo) return Promise.resolve(this.#exitInfo)
    if (this.#closing) return this.#closing
    this.#child.kill('SIGTERM')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs)
    this.#closing = this.exited.finally(() => clearTimeout(timer))
    return this.#closing
  }
}

/** Runs a command to completion with a time limit; output is collected (bounded). */
export async function runToCompletion(
  options: SpawnOptions & { timeoutMs: number; maxOutputBytes?: number },
): Promise<ExitInfo & { stdout: string; stderr: string; timedOut: boolean }> {
  const proc = await ManagedProcess.spawn({ deathSignal: 'KILL', ...options })
  const max = options.maxOutputBytes ?? 1024 * 1024
  let stdout = ''
  let stderr = ''
  proc.child.stdout?.setEncoding('utf8')
  proc.child.stdout?.on('data', (chunk: string) => {
    if (stdout.length < max) stdout += chunk
  })
  proc.child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < max) stderr += chunk
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void proc.close(500)
  }, options.timeoutMs)
  const exit = await proc.exited
  await outputRead(proc)
  clearTimeout(timer)
  return { ...exit, stdout, stderr, timedOut }
}

/**
 * Runs a process to its end for its stdout as bytes (pictures, clipboard
 * contents): `input` goes to its stdin, at most `maxBytes` of output are
 * kept (`overflow` says more came), and it is killed after `timeoutMs`.
 */
export async function collectOutput(
  options: SpawnOptions & { timeoutMs: number; maxBytes: number; input?: Uint8Array },
): Promise<ExitInfo & { stdout: Buffer; overflow: boolean; stderr: string }> {
  const { input, timeoutMs, maxBytes, ...spawn } = options
  const proc = await ManagedProcess.spawn({
    deathSignal: 'KILL',
    ...spawn,
    stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  })
  proc.child.stdin?.on('error', () => {})
  proc.child.stdin?.end(input)
  const chunks: Buffer[] = []
  let size = 0
  let stderr = ''
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size <= maxBytes) chunks.push(chunk)
  })
  proc.child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 2000) stderr += chunk.toString()
  })
  const timer = setTimeout(() => void proc.close(200), timeoutMs)
  const exit = await proc.exited
  await outputRead(proc)
  clearTimeout(timer)
  return { ...exit, stdout: Buffer.concat(chunks), overflow: size > maxBytes, stderr }
}

/**
 * After 'exit', what is still in the pipes: 'exit' can come before the last
 * of the output has been read (seen: pactl's JSON cut short, "Unexpected end
 * of JSON input"). At most a second, for a child whose own child kept a pipe.
 */
async function outputRead(proc: ManagedProcess): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all([drained(proc.child.stdout), drained(proc.child.stderr)]),
    new Promise((resolve) => {
      timer = setTimeout(resolve, 1000)
    }),
  ])
  clearTimeout(timer)
}

/** Resolves when a child's pipe has delivered everything (or there is none). */
function drained(stream: NodeJS.ReadableStream | null | undefined): Promise<void> {
  if (!stream) return Promise.resolve()
  const readable = stream as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean }
  if (readable.readableEnded || readable.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    stream.once('end', () => resolve())
    stream.once('close', () => resolve())
    stream.once('error', () => resolve())
  })
}
