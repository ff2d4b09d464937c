import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import type { CommandResult, EventName, EventPayload, IpcClient } from '@smoldesk/protocol'
import type { BrowserContext, Page } from 'playwright-core'
import type { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { makeUpload } from './browser.ts'
import { eventually, type HostProcess, printedUrl, run, solidPng, startHostProcess } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'

/*
 * Size (over 350 lines): one suite, clipboard and files with a real browser, on one scene set up once (it
 * costs seconds); each case is a flow a user would notice, and splitting the
 * file would set the scene up again for each part.
 */

/*
 * Clipboard and files between the real host (`smoldesk start` on a virtual
 * X server) and the real viewer page in Chromium, over werift's data
 * channels. Clipboard contents are read back from the X CLIPBOARD with
 * xclip; files by their SHA-256 on disk and in the browser.
 */

// What the page exposes (window.smoldesk) as these tests use it; the DOM is not in the Node types.
interface PageTransfer {
  id: string
  name: string
  state: string
  transferred: number
  size: number
  direction: string
  error?: string
}
declare const window: {
  smoldesk?: {
    state: string
    role?: string
    connection: {
      restartMedia(): void
      dataChannel(label: string): { send(data: Uint8Array): void; bufferedAmount: number } | undefined
      dataPeerConnection?: { connectionState: string; close(): void }
    }
    files: {
      connected: boolean
      list(): PageTransfer[]
      sendFile(blob: unknown, name: string): PageTransfer
      downloads: Map<string, { arrayBuffer(): Promise<ArrayBuffer> }>
    }
    clipboard: {
      remote?: { content: { kind: string; text?: string; png?: Uint8Array }; copied: boolean }
      send(content: { kind: 'text'; text: string } | { kind: 'image'; png: Uint8Array }): Promise<boolean>
      syncFromBrowser(): Promise<{ sent: boolean; why?: string }>
    }
  }
  __upload?: unknown
  dispatchEvent(event: unknown): void
}
declare const Blob: new (parts: unknown[]) => unknown
declare const Event: new (type: string) => unknown
declare const crypto: {
  getRandomValues(array: Uint8Array): Uint8Array
  subtle: { digest(alg: string, data: ArrayBuffer | Uint8Array): Promise<ArrayBuffer> }
}
declare const navigator: {
  clipboard: { writeText(text: string): Promise<void>; readText(): Promise<string> }
}

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
const MB = 1024 * 1024

/** Cuts the viewer's media connection (it reconnects at once); returns the transfer's state right after. */
function cut(page: Page, id: string): Promise<string | undefined> {
  return page.evaluate((transferId) => {
    window.smoldesk?.connection.restartMedia()
    return window.smoldesk?.files.list().find((t) => t.id === transferId)?.state
  }, id)
}

function transfers(page: Page): Promise<PageTransfer[]> {
  return page.evaluate(() => window.smoldesk?.files.list() ?? [])
}

describe('clipboard and files between the host and a browser', () => {
  let scene: Scene
  let desktop: VirtualDesktop
  let start: HostProcess
  let client: IpcClient
  let context: BrowserContext
  let linkUrl: string
  let downloads: string
  let scratch: string
  let page: Page
  const events: { event: EventName; payload: unknown }[] = []
  const xclip = (args: string[], input?: Buffer | string) =>
    run('xclip', ['-selection', 'clipboard', ...args], {
      env: { DISPLAY: desktop.display },
      timeoutMs: 10_000,
      ...(input !== undefined && { input }),
    })
  const hostEvent = <E extends EventName>(event: E, match: (p: EventPayload<E>) => boolean = () => true) =>
    eventually(async () => {
      const found = events.find((e) => e.event === event && match(e.payload as EventPayload<E>))
      assert.ok(found, `no ${event} yet`)
      return found.payload as EventPayload<E>
    }, 60_000)

  async function openViewer(): Promise<Page> {
    const viewer = await context.newPage()
    await viewer.goto(linkUrl)
    await eventually(async () => {
      const ready = await viewer.evaluate(
        () => window.smoldesk?.state === 'connected' && window.smoldesk.files.connected,
      )
      assert.ok(ready, 'viewer connected with its files channel')
    }, 20_000)
    return viewer
  }

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'smoldesk-e2e-files-'))
    downloads = join(scratch, 'downloads')
    scene = await openScene({
      monitors: [{ width: 640, height: 480 }],
      hostArgs: ['--download-dir', downloads, '--max-file-mb', '60', '--clipboard-max-mb', '1'],
      hostEnv: { SMOLDESK_LOG_LEVEL: 'info' },
      playwright: true,
    })
    ;({ desktop, host: start } = scene)
    linkUrl = await scene.url()
    client = await scene.client()
    for (const event of [
      'transfer-offered',
      'transfer-started',
      'transfer-progress',
      'transfer-completed',
      'transfer-error',
      'clipboard-changed',
    ] as const) {
      await client.listen(event, (e) => events.push({ event, payload: e.payload }))
    }
    context = await scene.playwright.newContext({ acceptDownloads: true })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(linkUrl).origin })
    page = await openViewer()
  })

  // A transfer that stalls shows only a timeout: say where each side stood, and what the host logged.
  afterEach(async (t) => {
    if (!('passed' in t) || t.passed) return
    const hostList = await client.invoke('list_transfers').catch(String)
    const pageSide = await page
      .evaluate(() => ({
        state: window.smoldesk?.state,
        filesConnected: window.smoldesk?.files.connected,
        dataLink: window.smoldesk?.connection.dataPeerConnection?.connectionState,
        transfers: window.smoldesk?.files.list(),
      }))
      .catch(String)
    const log = `${start.stdout()}${start.stderr()}`.split('\n').filter((l) => !l.includes('"progress"'))
    console.error(`${t.name} failed; transfers: ${JSON.stringify({ hostList, pageSide })}`)
    console.error(`host log (last 80 lines):\n${log.slice(-80).join('\n')}`)
  })

  after(async () => {
    await scene?.close()
    await rm(scratch, { recursive: true, force: true })
  })

  it('uploads 50 MB from the browser: offered, accepted, equal SHA-256 on disk, progress with rate and ETA', async () => {
    // Files travel on the data-only connection to the host's native SCTP stack (libdatachannel).
    assert.equal(
      await page.evaluate(() => window.smoldesk?.connection.dataPeerConnection?.connectionState),
      'connected',
    )
    const expected = await makeUpload(page, 50 * MB)
    const id = await page.evaluate(
      () => window.smoldesk?.files.sendFile(window.__upload, 'upload-50mb.bin').id ?? '',
    )
    const offered = await hostEvent('transfer-offered', (p) => p.transferId === id)
    assert.equal(offered.size, 50 * MB)
    assert.equal(await client.invoke('accept_transfer', { transferId: id }), null)
    const done = await hostEvent('transfer-completed', (p) => p.transferId === id)
    assert.equal(done.sha256, expected)
    assert.equal(sha(await readFile(join(downloads, 'upload-50mb.bin'))), expected)
    const progress = events
      .filter((e) => e.event === 'transfer-progress')
      .map((e) => e.payload as EventPayload<'transfer-progress'>)
      .filter((p) => p.transferId === id)
    assert.ok(progress.length >= 2, `${progress.length} progress events`)
    assert.ok(progress.some((p) => p.rate_bytes_per_s > 0 && p.eta_s !== null))
    const listed = (await client.invoke<CommandResult<'list_transfers'>>('list_transfers')).find(
      (t) => t.id === id,
    )
    assert.equal(listed?.state, 'completed')
    assert.equal(listed?.direction, 'viewer-to-host')
    await eventually(async () => {
      const mine = (await transfers(page)).find((t) => t.id === id)
      assert.equal(mine?.state, 'completed')
    })
  })

  it('downloads 50 MB from the host after a click on Accept: the browser saves it with equal SHA-256', async () => {
    const data = randomBytes(50 * MB)
    const path = join(scratch, 'host-50mb.bin')
    await writeFile(path, data)
    const { transferId } = await client.invoke<CommandResult<'send_file'>>('send_file', { path })
    const accept = page.locator(`li[data-transfer-id="${transferId}"] button`, { hasText: 'Accept' })
    const download = page.waitForEvent('download', { timeout: 60_000 })
    await accept.click()
    const saved = await (await download).path()
    assert.equal(sha(await readFile(saved)), sha(data))
    assert.equal((await download).suggestedFilename(), 'host-50mb.bin')
    const done = await hostEvent('transfer-completed', (p) => p.transferId === transferId)
    assert.equal(done.sha256, sha(data))
  })

  it('resumes an upload from where it stopped after the connection is cut at about 50 %', async () => {
    const size = 30 * MB
    const expected = await makeUpload(page, size)
    const id = await page.evaluate(
      () => window.smoldesk?.files.sendFile(window.__upload, 'resumed.bin').id ?? '',
    )
    await hostEvent('transfer-offered', (p) => p.transferId === id)
    await client.invoke('accept_transfer', { transferId: id })
    const half = await hostEvent('transfer-progress', (p) => p.transferId === id && p.bytes >= size / 2)
    const cutAt = half.bytes
    assert.equal(await cut(page, id), 'interrupted')
    const done = await hostEvent('transfer-completed', (p) => p.transferId === id)
    assert.equal(done.sha256, expected)
    assert.equal(sha(await readFile(join(downloads, 'resumed.bin'))), expected)
    const after = events
      .filter((e) => e.event === 'transfer-progress')
      .map((e) => e.payload as EventPayload<'transfer-progress'>)
      .filter((p) => p.transferId === id)
    const index = after.findIndex((p) => p.bytes === cutAt)
    assert.ok(
      after.slice(index).every((p) => p.bytes >= cutAt),
      'progress never went back: the transfer went on from its offset, not from 0',
    )
    await eventually(async () => {
      const state = await page.evaluate(() => window.smoldesk?.state)
      assert.equal(state, 'connected')
    }, 20_000)
  })

  it('resumes a download after the connection is cut at about 50 %', async () => {
    const data = randomBytes(30 * MB)
    const path = join(scratch, 'host-30mb.bin')
    await writeFile(path, data)
    const { transferId } = await client.invoke<CommandResult<'send_file'>>('send_file', { path })
    const download = page.waitForEvent('download', { timeout: 60_000 })
    await page.locator(`li[data-transfer-id="${transferId}"] button`, { hasText: 'Accept' }).click()
    let cutAt = 0
    await eventually(async () => {
      const mine = (await transfers(page)).find((t) => t.id === transferId)
      assert.ok(mine && mine.transferred >= data.length / 2, `at ${mine?.transferred}`)
      cutAt = mine.transferred
    }, 30_000)
    assert.equal(await cut(page, transferId), 'interrupted')
    const saved = await (await download).path()
    assert.equal(sha(await readFile(saved)), sha(data))
    // The page saves the file once it verified it; the host hears 'done' a moment later.
    await eventually(async () => {
      const listed = (await client.invoke<CommandResult<'list_transfers'>>('list_transfers')).find(
        (t) => t.id === transferId,
      )
      assert.equal(listed?.state, 'completed')
    })
    assert.ok(cutAt < data.length, 'the cut came before the end')
  })

  it('moves files to the main connection when the data link goes down mid-transfer; the file arrives whole', async () => {
    const viewer = await openViewer()
    try {
      const size = 50 * MB
      const expected = await makeUpload(viewer, size)
      const id = await viewer.evaluate(
        () => window.smoldesk?.files.sendFile(window.__upload, 'link-down.bin').id ?? '',
      )
      await hostEvent('transfer-offered', (p) => p.transferId === id)
      await client.invoke('accept_transfer', { transferId: id })
      await hostEvent('transfer-progress', (p) => p.transferId === id && p.bytes >= size / 8)
      // Only the data link goes down (as when the path it took disappears); the main connection stays.
      await viewer.evaluate(() => window.smoldesk?.connection.dataPeerConnection?.close())
      const done = await hostEvent('transfer-completed', (p) => p.transferId === id)
      assert.equal(done.sha256, expected)
      assert.equal(sha(await readFile(join(downloads, 'link-down.bin'))), expected)
      assert.equal(await viewer.evaluate(() => window.smoldesk?.state), 'connected')
      assert.equal(await viewer.evaluate(() => window.smoldesk?.files.connected), true)
    } finally {
      await viewer.close()
    }
  })

  it('survives 10,000 fuzzed frames on the files channel, then still takes a file', async () => {
    const sent = await page.evaluate(async () => {
      const channel = window.smoldesk?.connection.dataChannel('files')
      if (!channel) return 0
      const enc = new TextEncoder()
      const control = (o: unknown) => Uint8Array.of(0, ...enc.encode(JSON.stringify(o)))
      const hostile = [
        { type: 'offer', id: '../../etc', name: 'x', size: 1 },
        { type: 'offer', id: 'ok', name: '', size: 1 },
        { type: 'offer', id: 'neg', name: 'a', size: -5 },
        { type: 'offer', id: 'huge', name: 'a', size: 2 ** 62 },
        { type: 'accept', id: 'nope', offset: 1e300 },
        { type: 'end', id: 'nope', sha256: 'zz' },
        { type: 'constructor', id: 'x' },
        JSON.parse('{"type":"offer","id":"p1","name":"a","size":1,"__proto__":{"polluted":1}}'),
      ]
      let seed = 7
      const rand = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        return seed / 0x7fffffff
      }
      let n = 0
      for (let i = 0; i < 10_000; i++) {
        const pick = rand()
        let frame: Uint8Array
        if (pick < 0.3) frame = crypto.getRandomValues(new Uint8Array(1 + Math.floor(rand() * 200)))
        else if (pick < 0.6) frame = control(hostile[i % hostile.length])
        else if (pick < 0.8) {
          frame = control({ type: 'offer', id: `z${i}`, name: 'a', size: 10 })
          frame[1 + Math.floor(rand() * (frame.length - 1))] = Math.floor(rand() * 256)
        } else {
          // data frames for transfers that do not exist
          frame = new Uint8Array(2 + 3 + 8 + 20)
          frame.set([1, 3, 0x61, 0x62, 0x63])
        }
        while (channel.bufferedAmount > 1024 * 1024) await new Promise((r) => setTimeout(r, 5))
        channel.send(frame)
        n++
      }
      return n
    })
    assert.equal(sent, 10_000)
    // Some fuzzed offers were well-formed: they wait for the host, at most 64 from one viewer
    // (more are refused with RATE_LIMITED). The host turns them down, as its user would.
    // The host may still be reading the channel: wait until what it holds stops changing.
    const pendingNow = async () =>
      (await client.invoke<CommandResult<'list_transfers'>>('list_transfers')).filter(
        (t) => t.state === 'pending' && t.direction === 'viewer-to-host',
      )
    let pending = await pendingNow()
    for (let settled = 0; settled < 3; ) {
      await new Promise((r) => setTimeout(r, 300))
      const next = await pendingNow()
      settled = next.length === pending.length ? settled + 1 : 0
      pending = next
    }
    assert.ok(pending.length > 0)
    assert.ok(pending.length <= 64, `${pending.length} offers kept open`)
    for (const t of pending) await client.invoke('reject_transfer', { transferId: t.id })
    const expected = await makeUpload(page, 1 * MB)
    const id = await page.evaluate(
      () => window.smoldesk?.files.sendFile(window.__upload, 'after-fuzz.bin').id ?? '',
    )
    await hostEvent('transfer-offered', (p) => p.transferId === id)
    await client.invoke('accept_transfer', { transferId: id })
    const done = await hostEvent('transfer-completed', (p) => p.transferId === id)
    assert.equal(done.sha256, expected)
    assert.equal(start.child.exitCode, null, 'the host is still running')
  })

  it('falls back to the files channel on the main connection when the native data link does not open', async () => {
    // A host whose data link "times out" at once: files must still move, over werift.
    const other = await startHostProcess(
      'start',
      ['--display', desktop.display, '--download-dir', downloads, '--auto-accept-files'],
      { SMOLDESK_DATA_LINK_TIMEOUT_MS: '0' },
    )
    const page2 = await context.newPage()
    try {
      await page2.goto(await printedUrl(other))
      await eventually(async () => {
        const ready = await page2.evaluate(
          () => window.smoldesk?.state === 'connected' && window.smoldesk.files.connected,
        )
        assert.ok(ready, 'files channel attached')
      }, 20_000)
      const otherClient = await other.client()
      try {
        const completed = new Promise<EventPayload<'transfer-completed'>>((resolve) =>
          otherClient.listen<EventPayload<'transfer-completed'>>('transfer-completed', (e) =>
            resolve(e.payload),
          ),
        )
        const expected = await makeUpload(page2, 1 * MB)
        await page2.evaluate(() => window.smoldesk?.files.sendFile(window.__upload, 'fallback.bin'))
        assert.equal((await completed).sha256, expected)
        assert.notEqual(
          await page2.evaluate(() => window.smoldesk?.connection.dataPeerConnection?.connectionState),
          'connected',
          'the files did not take the data link',
        )
      } finally {
        otherClient.close()
      }
    } finally {
      await page2.close()
      await other.stop()
    }
  })

  it('refuses a file over --max-file-mb with TRANSFER_TOO_LARGE on both sides', async () => {
    const id = await page.evaluate(
      () =>
        window.smoldesk?.files.sendFile(new Blob([new Uint8Array(61 * 1024 * 1024)]), 'too-big.iso').id ?? '',
    )
    const error = await hostEvent('transfer-error', (p) => p.transferId === id)
    assert.equal(error.code, 'TRANSFER_TOO_LARGE')
    await eventually(async () => {
      const mine = (await transfers(page)).find((t) => t.id === id)
      assert.equal(mine?.state, 'failed')
      assert.match(mine?.error ?? '', /TRANSFER_TOO_LARGE/)
    })
    assert.ok(!(await readdir(downloads)).includes('too-big.iso'))
  })

  it('puts text copied in the browser on the X CLIPBOARD, and never echoes it back', async () => {
    const text = 'from the browser: Grüße ✓ 你好'
    const remoteBefore = await page.evaluate(() => window.smoldesk?.clipboard.remote?.content.text)
    await page.evaluate(async (t) => {
      await navigator.clipboard.writeText(t)
      window.dispatchEvent(new Event('focus'))
    }, text)
    await eventually(async () => {
      const out = await xclip(['-o'])
      assert.equal(out.stdout.toString('utf8'), text)
    }, 10_000)
    await hostEvent('clipboard-changed', (p) => p.text === text)
    await new Promise((r) => setTimeout(r, 300))
    const remoteAfter = await page.evaluate(() => window.smoldesk?.clipboard.remote?.content.text)
    assert.equal(remoteAfter, remoteBefore, 'the viewer was not sent its own copy back')
    const history = await client.invoke<CommandResult<'get_clipboard_history'>>('get_clipboard_history')
    assert.equal(history[0]?.text, text)
    assert.equal(history[0]?.source, 'viewer')
  })

  it('brings text and a PNG copied on the host to the viewer (and the browser clipboard)', async () => {
    const text = 'copied on the host ✓'
    await xclip(['-i'], text)
    await eventually(async () => {
      const remote = await page.evaluate(() => window.smoldesk?.clipboard.remote)
      assert.equal(remote?.content.text, text)
      assert.equal(remote?.copied, true)
    }, 10_000)
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), text)

    const png = join(scratch, 'red.png')
    const image = await solidPng(png, 'red', 64, 48)
    await xclip(['-t', 'image/png', '-i', png])
    await eventually(async () => {
      const bytes = await page.evaluate(() => {
        const content = window.smoldesk?.clipboard.remote?.content
        return content?.kind === 'image' ? Array.from(content.png ?? []) : undefined
      })
      assert.ok(bytes, 'an image arrived')
      assert.equal(sha(Uint8Array.from(bytes)), sha(image))
    }, 10_000)
    const changed = await hostEvent('clipboard-changed', (p) => p.type === 'image')
    assert.equal(changed.size, image.length)
    const history = await client.invoke<CommandResult<'get_clipboard_history'>>('get_clipboard_history')
    assert.equal(history[0]?.type, 'image')
    assert.equal(history[0]?.source, 'host')
    assert.equal(history[0]?.sha256, sha(image))
  })

  it('puts a PNG from the viewer on the X CLIPBOARD as image/png', async () => {
    const png = await readFile(join(scratch, 'red.png'))
    // Another image than the host's last copy, so the X clipboard really changes.
    const bluePath = join(scratch, 'blue.png')
    const blue = await solidPng(bluePath, 'blue', 32, 32)
    assert.notEqual(sha(blue), sha(png))
    await page.evaluate(
      (bytes) => window.smoldesk?.clipboard.send({ kind: 'image', png: Uint8Array.from(bytes) }),
      [...blue],
    )
    await eventually(async () => {
      const targets = await xclip(['-o', '-t', 'TARGETS'])
      assert.match(targets.stdout.toString(), /image\/png/)
      const out = await xclip(['-o', '-t', 'image/png'])
      assert.equal(sha(out.stdout), sha(blue))
    }, 10_000)
  })

  it('refuses clipboard content over --clipboard-max-mb, and the X clipboard keeps what it had', async () => {
    const before = (await xclip(['-o', '-t', 'image/png'])).stdout
    await page.evaluate(() =>
      window.smoldesk?.clipboard.send({ kind: 'text', text: 'x'.repeat(1024 * 1024 + 1) }),
    )
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(sha((await xclip(['-o', '-t', 'image/png'])).stdout), sha(before))
  })

  it('gives a second viewer without clipboard permission nothing, and ignores what it sends', async () => {
    const second = await openViewer()
    const viewers = await client.invoke<CommandResult<'list_viewers'>>('list_viewers')
    assert.equal(viewers.length, 2)
    const firstId = viewers[0]?.peer_id ?? ''
    const secondId = viewers[1]?.peer_id ?? ''
    const permissions = await client.invoke('set_viewer_permissions', {
      peerId: secondId,
      permissions: { clipboard_read: false, clipboard_write: false },
    })
    assert.deepEqual(permissions, {
      clipboard_read: false,
      clipboard_write: false,
      file_upload: true,
      file_download: true,
      microphone: false,
    })
    const text = `for the first viewer only ${Date.now()}`
    await xclip(['-i'], text)
    await eventually(async () => {
      assert.equal(await page.evaluate(() => window.smoldesk?.clipboard.remote?.content.text), text)
    }, 10_000)
    await new Promise((r) => setTimeout(r, 500))
    const secondRemote = await second.evaluate(() => window.smoldesk?.clipboard.remote?.content.text)
    assert.notEqual(secondRemote, text, 'the second viewer got nothing')
    await second.evaluate(() =>
      window.smoldesk?.clipboard.send({ kind: 'text', text: 'written by the second viewer' }),
    )
    await new Promise((r) => setTimeout(r, 500))
    assert.equal((await xclip(['-o'])).stdout.toString('utf8'), text, 'the X clipboard is unchanged')
    assert.ok(firstId !== secondId)
    await second.close()
    assert.equal(await client.invoke('clear_clipboard_history'), null)
    assert.deepEqual(await client.invoke<CommandResult<'get_clipboard_history'>>('get_clipboard_history'), [])
  })
})
