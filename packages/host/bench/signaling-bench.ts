import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ManagedProcess } from '../src/process/child.ts'
import { CLOCK_TICKS_PER_S, findProcesses, residentKb } from '../src/process/proc.ts'
import { LocalRedis } from './redis-server.ts'
import type { LoadResult } from './signaling-load-main.ts'
import type { StormResult } from './signaling-storm-main.ts'
import { percentile, round1 } from './stats.ts'

const SERVER_MAIN = resolve(import.meta.dirname, 'signaling-server-main.ts')

export interface SignalingRun {
  instances: 1 | 2
  peers: number
  /** Relay messages offered per second by the load generator. */
  offered_msgs_per_s: number
  relayed_msgs_per_s: number
  p50_ms: number
  p99_ms: number
  /** p99 of the relays sent after the first 2 s (caches warm, connections settled). */
  p99_warm_ms: number
  /** Server RSS growth per connected peer (in a room), summed over instances. */
  mem_per_peer_kb: number
  connect_s: number
  /** Relays neither delivered nor answered with an error 20 s after the window. */
  lost: number
  /** Relays the server refused with a coded error (the sender was told). */
  errored: number
  /** The refusals by code. */
  error_codes: Record<string, number>
  /** CPU of the load generators (percent of one core, all of them together): their share of the machine. */
  generator_cpu_pct: number
  /** CPU of the server side (its instances, and redis-server with two). */
  server_cpu_pct: number
  /** How long after the window the last relays took to arrive or be refused (at most 20 s). */
  drain_s: number
  /** Connection attempts turned away (OVERLOADED) while the rooms were made (each tried again). */
  turned_away: number
  /** With a storm of newcomers during the relay: what became of them, and what the server held at its peak. */
  storm?: StormFigures
}

export interface StormFigures {
  /** Connections kept open or opening at once by the storm. */
  concurrency: number
  attempts_per_s: number
  admitted: number
  shed: number
  failed: number
  rate_limited: number
  /** The storm generator's CPU, percent of one core (not in generator_cpu_pct). */
  cpu_pct: number
  /** Most clients the instance held at once (rooms and storm). */
  peak_clients: number
  /** Server RSS growth at its peak over the most clients held: the memory bound under the storm. */
  peak_mem_per_peer_kb: number
}

/** The runs: one instance, two over Redis, one instance under a storm of newcomers. */
export const SIGNALING_RUN_KINDS = ['one', 'two', 'storm'] as const
export type SignalingRunKind = (typeof SIGNALING_RUN_KINDS)[number]

export interface SignalingBenchResult {
  bench: 'signaling'
  runs: SignalingRun[]
}

export interface Instance {
  url: string
  pid: number
  close: () => Promise<unknown>
  /** SIGKILL, as a crash: nothing is closed, nothing is said. */
  kill: () => void
}

/** One signaling instance in a process of its own (sharing Redis at redisUrl, if given). */
export async function startInstance(redisUrl: string | undefined): Promise<Instance> {
  const proc = await ManagedProcess.spawn({
    name: 'signaling bench server',
    command: process.execPath,
    args: [SERVER_MAIN, ...(redisUrl ? [redisUrl] : [])],
    env: { ...process.env, SMOLDESK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error('signaling bench server did not start')), 10_000)
    proc.child.stdout?.once('data', (d: Buffer) => {
      clearTimeout(timer)
      resolvePort(Number(String(d).trim()))
    })
  })
  return {
    url: `ws://127.0.0.1:${port}`,
    pid: proc.pid,
    close: () => proc.close(),
    kill: () => proc.child.kill('SIGKILL'),
  }
}

const LOAD_MAIN = resolve(import.meta.dirname, 'signaling-load-main.ts')
const STORM_MAIN = resolve(import.meta.dirname, 'signaling-storm-main.ts')
/** Newcomers the storm keeps open or opening at once (by default). */
const STORM_CONCURRENCY = 1000
/** Load generators, each a process of its own (two cores: more would only queue behind each other). */
const GENERATORS = 2

interface Generator<T = LoadResult> {
  proc: ManagedProcess
  /** Resolves with the generator's one result line. */
  result: Promise<T>
}

/** A generator process (a load or a storm), once it says `ready`; `go` on its stdin starts it. */
async function startGenerator<T>(name: string, script: string, args: string[]): Promise<Generator<T>> {
  const proc = await ManagedProcess.spawn({
    name,
    command: process.execPath,
    args: [script, ...args],
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let onReady: (() => void) | undefined
  const ready = new Promise<void>((r) => {
    onReady = r
  })
  const result = new Promise<T>((resolveResult, reject) => {
    proc.child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.startsWith('ready\n')) onReady?.()
      // Only whole lines: the result is one long line that arrives in many chunks.
      const json = out
        .split('\n')
        .slice(0, -1)
        .find((l) => l.startsWith('{'))
      if (json) resolveResult(JSON.parse(json) as T)
    })
    proc.once('exit', () => reject(new Error(`${name} ended: ${proc.stderrTail(5)}`)))
  })
  result.catch(() => {})
  await Promise.race([ready, result])
  return { proc, result }
}

/** Samples an instance's clients and RSS until stopped; the peak of each. */
function samplePeak(inst: Instance): { stop: () => Promise<{ clients: number; rssKb: number }> } {
  const peak = { clients: 0, rssKb: 0 }
  let running = true
  const healthUrl = `${inst.url.replace(/^ws/, 'http')}/health`
  const loop = (async () => {
    while (running) {
      const [health, rss] = await Promise.all([
        fetch(healthUrl, { signal: AbortSignal.timeout(2000) })
          .then((r) => r.json() as Promise<{ clients: number }>)
          .catch(() => ({ clients: 0 })),
        residentKb(inst.pid),
      ])
      peak.clients = Math.max(peak.clients, health.clients)
      peak.rssKb = Math.max(peak.rssKb, rss)
      await sleep(250)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return peak
    },
  }
}

/** CPU time of processes so far, in clock ticks. */
async function ticks(pids: number[]): Promise<number> {
  const procs = await findProcesses((p) => pids.includes(p.pid))
  return procs.reduce((sum, p) => sum + p.cpuTicks, 0)
}

async function runOnce(
  instanceCount: 1 | 2,
  peers: number,
  rate: number,
  seconds: number,
  log: (line: string) => void,
  /** Newcomers the storm keeps open or opening at once; 0, no storm. */
  storm = 0,
): Promise<SignalingRun> {
  const redis = instanceCount === 2 ? await LocalRedis.start() : undefined
  const instances: Instance[] = []
  const generators: Generator[] = []
  let stormer: Generator<StormResult> | undefined
  try {
    for (let i = 0; i < instanceCount; i++) instances.push(await startInstance(redis?.url))
    const before = await Promise.all(instances.map((inst) => residentKb(inst.pid)))
    const connectStart = performance.now()
    // Hosts on the first instance, viewers on the last: with two, every relay crosses Redis.
    const hostUrl = instances[0]?.url ?? ''
    const viewerUrl = instances.at(-1)?.url ?? ''
    const pairs = peers / 2
    for (let g = 0; g < GENERATORS; g++) {
      const share = Math.floor(pairs / GENERATORS) + (g < pairs % GENERATORS ? 1 : 0)
      generators.push(
        await startGenerator<LoadResult>('signaling load generator', LOAD_MAIN, [
          hostUrl,
          viewerUrl,
          String(share),
          String(rate / GENERATORS),
          String(seconds),
          `bench-${instanceCount}-${g}`,
        ]),
      )
    }
    const connectS = (performance.now() - connectStart) / 1000
    await sleep(500)
    const after = await Promise.all(instances.map((inst) => residentKb(inst.pid)))
    const memPerPeerKb = after.reduce((sum, kb, i) => sum + kb - (before[i] ?? 0), 0) / peers
    log(`  ${instanceCount} instance(s): ${peers} peers in rooms of two after ${connectS.toFixed(1)} s`)

    const serverPids = [...instances.map((i) => i.pid), ...(redis ? [redis.pid] : [])]
    // The storm goes to the instance the hosts are on (with one, the only one).
    stormer = storm
      ? await startGenerator<StormResult>('signaling storm', STORM_MAIN, [
          hostUrl,
          String(storm),
          String(seconds),
        ])
      : undefined
    const sampler = stormer && instances[0] ? samplePeak(instances[0]) : undefined
    const serverBefore = await ticks(serverPids)
    const started = performance.now()
    for (const g of [...generators, ...(stormer ? [stormer] : [])]) g.proc.child.stdin?.write('go\n')
    const results = await Promise.all(generators.map((g) => g.result))
    const stormResult = await stormer?.result
    const peak = await sampler?.stop()
    // The generators' window is `seconds` plus the wait for the last relays (delivered or refused).
    const elapsed = (performance.now() - started) / 1000
    const window = seconds + Math.max(...results.map((r) => r.drain_ms)) / 1000
    const serverCpu = round1((((await ticks(serverPids)) - serverBefore) / CLOCK_TICKS_PER_S / elapsed) * 100)
    // The generators count their own (they are gone by now): percent of one core over the same window.
    const generatorCpu = round1((results.reduce((ms, r) => ms + r.cpu_ms, 0) / 1000 / elapsed) * 100)
    const sent = results.reduce((n, r) => n + r.sent, 0)
    const received = results.reduce((n, r) => n + r.received, 0)
    const errored = results.reduce((n, r) => n + r.errored, 0)
    const errorCodes: Record<string, number> = {}
    for (const r of results)
      for (const [code, n] of Object.entries(r.error_codes)) errorCodes[code] = (errorCodes[code] ?? 0) + n
    const latencies = results.flatMap((r) => r.latencies)
    const warm = results.flatMap((r) => r.warm_latencies)
    return {
      instances: instanceCount,
      peers,
      offered_msgs_per_s: Math.round(sent / seconds),
      // Over the time it took to get them there: a relay arriving late counts, but slows this.
      relayed_msgs_per_s: Math.round(received / window),
      drain_s: round1(window - seconds),
      p50_ms: round1(percentile(latencies, 50)),
      p99_ms: round1(percentile(latencies, 99)),
      p99_warm_ms: round1(percentile(warm, 99)),
      mem_per_peer_kb: round1(memPerPeerKb),
      connect_s: round1(connectS),
      lost: Math.max(0, sent - received - errored),
      errored,
      error_codes: errorCodes,
      generator_cpu_pct: generatorCpu,
      server_cpu_pct: serverCpu,
      turned_away: results.reduce((n, r) => n + r.turned_away, 0),
      ...(stormResult &&
        peak && {
          storm: {
            concurrency: storm,
            attempts_per_s: Math.round(stormResult.attempts / seconds),
            admitted: stormResult.admitted,
            shed: stormResult.shed,
            failed: stormResult.failed,
            rate_limited: stormResult.rate_limited,
            cpu_pct: round1((stormResult.cpu_ms / 1000 / seconds) * 100),
            peak_clients: peak.clients,
            peak_mem_per_peer_kb: round1((peak.rssKb - (before[0] ?? 0)) / Math.max(1, peak.clients)),
          },
        }),
    }
  } finally {
    for (const g of generators) await g.proc.close()
    await stormer?.proc.close()
    for (const inst of instances) await inst.close()
    await redis?.close()
  }
}

/**
 * `smoldesk bench signaling`: peers in rooms of two on one instance, then on
 * two instances over Redis (hosts on one, viewers on the other, so every
 * relay crosses Redis), then one instance again with a storm of newcomers
 * while its rooms relay; relayed messages per second at the offered rate,
 * p50/p99 relay latency (send → receive, same clock), memory per peer, and
 * under the storm what was let in, turned away, and the memory at the peak.
 */
export async function benchSignaling(options: {
  peers: number
  rate: number
  seconds: number
  log: (line: string) => void
  /** Which runs (default all three, in this order). */
  runs?: readonly SignalingRunKind[]
  /** Newcomers the storm keeps open or opening at once (default 1,000). */
  stormConcurrency?: number
}): Promise<SignalingBenchResult> {
  const runs: SignalingRun[] = []
  const { peers, rate, seconds, log } = options
  for (const kind of options.runs ?? SIGNALING_RUN_KINDS) {
    const instances = kind === 'two' ? 2 : 1
    const storm = kind === 'storm' ? (options.stormConcurrency ?? STORM_CONCURRENCY) : 0
    runs.push(await runOnce(instances, peers, rate, seconds, log, storm))
  }
  return { bench: 'signaling', runs }
}
