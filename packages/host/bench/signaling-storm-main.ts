/*
 * The storm of `smoldesk bench signaling`: while the rooms relay, this
 * process keeps CONCURRENCY new connections open or opening against URL, as
 * a flood of newcomers (or an attacker) would. Each one that gets in creates
 * a room, sends a burst of relays to nobody (past its rate limit), and
 * leaves after HOLD_MS; one turned away (OVERLOADED) is replaced at once, not
 * after the wait it was told: a storm does not wait.
 *
 *   node signaling-storm-main.ts URL CONCURRENCY SECONDS
 *
 * Prints `ready`, waits for `go` on stdin, storms for SECONDS, prints one
 * JSON line (StormResult).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'

export interface StormResult {
  /** Connection attempts made. */
  attempts: number
  /** Let in (welcomed). */
  admitted: number
  /** Turned away with OVERLOADED before a welcome. */
  shed: number
  /** Refused otherwise: HTTP 429, a reset, no answer. */
  failed: number
  /** Messages refused with RATE_LIMITED (the burst past a connection's limit). */
  rate_limited: number
  /** This process's CPU time over the storm, ms. */
  cpu_ms: number
}

const [url = '', concurrencyArg, secondsArg] = process.argv.slice(2)
const concurrency = Number(concurrencyArg)
const seconds = Number(secondsArg)
/** How long an admitted storm connection stays. */
const HOLD_MS = 2000
/** Relays each admitted connection sends at once: its limit's burst is 200. */
const BURST = 300

const result: StormResult = { attempts: 0, admitted: 0, shed: 0, failed: 0, rate_limited: 0, cpu_ms: 0 }
let stopping = false

/** One newcomer, from its connection attempt to its leaving. */
function newcomer(): Promise<void> {
  result.attempts++
  return new Promise((done) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let welcomed = false
    let settled = false
    let hold: NodeJS.Timeout | undefined
    const finish = () => {
      settled = true
      clearTimeout(hold)
      ws.terminate()
      done()
    }
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type?: string; code?: string }
      if (msg.type === 'welcome') {
        welcomed = true
        result.admitted++
        ws.send(JSON.stringify({ type: 'create-room' }))
        const candidate =
          '{"type":"ice-candidate","targetId":"nobody","candidate":{"candidate":"x","sdpMid":"0"}}'
        for (let i = 0; i < BURST; i++) ws.send(candidate)
        hold = setTimeout(finish, HOLD_MS)
      } else if (msg.type === 'error' && !welcomed) {
        if (msg.code === 'OVERLOADED') result.shed++
        else result.failed++
        finish()
      } else if (msg.type === 'error' && msg.code === 'RATE_LIMITED') result.rate_limited++
    })
    // Whatever ends a connection that was not let in, and was not a coded refusal, is a failure.
    const failed = () => {
      if (settled) return
      if (!welcomed) result.failed++
      finish()
    }
    ws.on('error', failed)
    ws.on('close', failed)
  })
}

async function lane(): Promise<void> {
  while (!stopping) await newcomer()
}

process.stdout.write('ready\n')
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))
const cpuBefore = process.cpuUsage()
const lanes = Array.from({ length: concurrency }, () => lane())
await sleep(seconds * 1000)
stopping = true
await Promise.all(lanes)
const cpu = process.cpuUsage(cpuBefore)
result.cpu_ms = (cpu.user + cpu.system) / 1000
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
