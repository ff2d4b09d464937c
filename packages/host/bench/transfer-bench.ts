import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import type { EventPayload } from '@smoldesk/protocol'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { CLOCK_TICKS_PER_S, findProcesses, residentKb } from '../src/process/proc.ts'
import { startBenchHost, waitFor } from './bench-host.ts'
import { launchChromium } from './chromium.ts'

export interface TransferRun {
  direction: 'host-to-viewer' | 'viewer-to-host'
  mb: number
  mb_per_s: number
  seconds: number
  host_cpu_pct: number
  /** Peak growth of the host process's resident memory during the transfer. */
  host_rss_growth_mb: number
  sha256_ok: boolean
  /** The bare channel between the same stacks, nothing read, hashed or stored (see channel-ceiling.ts). */
  ceiling_mb_per_s?: number
}

export interface TransferBenchResult {
  bench: 'transfer'
  stack: string
  runs: TransferRun[]
}

const MiB = 1024 * 1024
const CEILING_MAIN = resolve(import.meta.dirname, 'channel-ceiling-main.ts')
const execFileAsync = promisify(execFile)
const STACKS = {
  native: 'libdatachannel (native SCTP, a data-only peer connection) ↔ Chromium',
  werift: 'werift (SCTP in JavaScript) ↔ Chromium (SMOLDESK_DATA_STACK=werift)',
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

const rssMb = async (pid: number) => (await residentKb(pid)) / 1024

async function hostTicks(tag: string): Promise<number> {
  return (await findProcesses((p) => p.owner === tag)).reduce((sum, p) => sum + p.cpuTicks, 0)
}

/**
 * `smoldesk bench transfer`: a file of `mb` MiB each way between the real
 * host (`smoldesk start`, video stopped once the viewer is connected) and
 * the viewer page in Chromium on this machine, over the files data channel.
 * Time from transfer-started to transfer-completed (the receiver verified
 * the SHA-256), the host's CPU over that time, and its RSS growth (sampled
 * every 100 ms).
 */
export async function benchTransfer(options: {
  mb: number
  directions?: TransferRun['direction'][]
  log: (line: string) => void
}): Promise<TransferBenchResult> {
  const { mb, log } = options
  let stack = STACKS.werift
  const directions = options.directions ?? ['viewer-to-host', 'host-to-viewer']
  const scratch = await mkdtemp(join(tmpdir(), 'smoldesk-bench-transfer-'))
  const downloads = join(scratch, 'downloads')
  const desktop = await VirtualDesktop.start({ monitors: [{ width: 320, height: 240 }], withApps: false })
  const browser = await launchChromium()
  const runs: TransferRun[] = []
  try {
    const host = await startBenchHost(
      browser,
      desktop.display,
      { width: 320, height: 240 },
      { fps: 10 },
      {
        args: ['--download-dir', downloads, '--auto-accept-files', '--max-file-mb', String(mb + 1)],
        video: false,
      },
    )
    try {
      const { page, client, tag, pid } = host
      await waitFor('the files channel', async () =>
        (await page.evaluate('window.smoldesk?.files.connected === true')) ? true : undefined,
      )
      // Which stack carries the files channel: the data-only peer connection exists only with the native one.
      stack = (await page.evaluate('Boolean(window.smoldesk?.connection.dataPeerConnection)'))
        ? STACKS.native
        : STACKS.werift
      const events: { event: string; at: number; payload: Record<string, unknown> }[] = []
      for (const event of ['transfer-started', 'transfer-completed', 'transfer-error'] as const) {
        await client.listen(event, (e) =>
          events.push({ event, at: performance.now(), payload: e.payload as Record<string, unknown> }),
        )
      }
      const measure = async (
        direction: TransferRun['direction'],
        begin: () => Promise<string>,
        verify: (completed: EventPayload<'transfer-completed'>) => Promise<boolean>,
      ): Promise<TransferRun> => {
        const baseRss = await rssMb(pid)
        let peakRss = baseRss
        const sampler = setInterval(() => {
          rssMb(pid)
            .then((rss) => {
              peakRss = Math.max(peakRss, rss)
            })
            .catch(() => {})
        }, 100)
        const id = await begin()
        const find = (event: string) => events.find((e) => e.event === event && e.payload.transferId === id)
        const started = await waitFor('transfer-started', async () => find('transfer-started'), 60_000)
        const ticks0 = await hostTicks(tag)
        const done = await waitFor(
          'transfer-completed',
          async () => {
            const failed = find('transfer-error')
            if (failed) throw new Error(`transfer failed: ${JSON.stringify(failed.payload)}`)
            return find('transfer-completed')
          },
          600_000,
        )
        const ticks1 = await hostTicks(tag)
        clearInterval(sampler)
        const seconds = (done.at - started.at) / 1000
        const run: TransferRun = {
          direction,
          mb,
          mb_per_s: Math.round(((mb * MiB) / 1e6 / seconds) * 10) / 10,
          seconds: Math.round(seconds * 100) / 100,
          host_cpu_pct: Math.round(((ticks1 - ticks0) / CLOCK_TICKS_PER_S / seconds) * 1000) / 10,
          host_rss_growth_mb: Math.round((peakRss - baseRss) * 10) / 10,
          sha256_ok: await verify(done.payload as EventPayload<'transfer-completed'>),
        }
        log(`${direction}: ${JSON.stringify(run)}`)
        return run
      }

      // viewer → host: random bytes generated in the page as they are read (a 1 GiB Blob would
      // measure the browser's blob store, and stall it), written to disk by the host
      if (directions.includes('viewer-to-host')) {
        runs.push(
          await measure(
            'viewer-to-host',
            async () =>
              String(
                await page.evaluate(`window.smoldesk.files.sendSource('bench-up.bin', {
                  size: ${mb * MiB},
                  read: async (offset, length) => {
                    const bytes = new Uint8Array(length)
                    for (let at = 0; at < length; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536))
                    return bytes
                  },
                  close: async () => {},
                }).id`),
              ),
            async (completed) => completed.sha256 === (await sha256File(join(downloads, 'bench-up.bin'))),
          ),
        )
        await rm(join(downloads, 'bench-up.bin'), { force: true })
      }
      if (directions.includes('host-to-viewer')) {
        // host → viewer: a random file read from disk by the host, kept as a Blob by the page
        const path = join(scratch, 'bench-down.bin')
        const file = await open(path, 'w')
        for (let i = 0; i < mb; i++) await file.write(randomBytes(MiB))
        await file.close()
        const expected = await sha256File(path)
        runs.push(
          await measure(
            'host-to-viewer',
            async () => {
              const { transferId } = await client.invoke<{ transferId: string }>('send_file', { path })
              await page.evaluate(`(async () => {
              for (;;) {
                const t = window.smoldesk.files.list().find((t) => t.id === '${transferId}')
                if (t && t.state === 'pending') return window.smoldesk.files.accept(t.id)
                await new Promise((r) => setTimeout(r, 20))
              }
            })()`)
              return transferId
            },
            async (completed) => {
              const inPage = String(
                await page.evaluate(`(async () => {
                const blob = [...window.smoldesk.files.downloads.values()].at(-1)
                const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))
                return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
              })()`),
              )
              return completed.sha256 === expected && inPage === expected
            },
          ),
        )
      }
    } finally {
      await host.close()
    }
    // The reference, with the host gone: the same stacks with nothing to do but move bytes.
    for (const run of stack === STACKS.native ? runs : []) {
      const { stdout } = await execFileAsync(process.execPath, [CEILING_MAIN, String(mb), run.direction], {
        timeout: 300_000,
      })
      run.ceiling_mb_per_s = Math.round(Number(stdout) * 10) / 10
      log(`${run.direction} ceiling: ${run.ceiling_mb_per_s} MB/s`)
    }
    return { bench: 'transfer', stack, runs }
  } finally {
    await browser.close()
    await desktop.close()
    await rm(scratch, { recursive: true, force: true })
  }
}
