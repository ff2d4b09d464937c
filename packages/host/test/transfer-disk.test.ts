import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  decodeFrame,
  defaultPermissions,
  type EventName,
  type EventPayload,
  type TransferEvent,
  TransferManager,
} from '@smoldesk/protocol'
import { Pipe, source, waitFor } from '../../protocol/test/transfer-fixtures.ts'
import { numberedName, sanitizeFileName } from '../src/transfer/file-names.ts'
import { TransferService } from '../src/transfer/transfer-service.ts'

/*
 * The host's side of file transfer on a real file system: names, the
 * temporary file and its rename, limits and a really full disk (a 2 MiB
 * tmpfs). The viewer's side is the same engine in memory; the browser
 * tests (transfer-browser.test.ts) cover the real data channels.
 */

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

type Emitted = { event: EventName; payload: unknown }

function hostAndViewer(downloadDir: string, extra: { maxBytes?: number; autoAccept?: boolean } = {}) {
  const events: Emitted[] = []
  const service = new TransferService({
    downloadDir,
    maxBytes: extra.maxBytes,
    autoAccept: extra.autoAccept ?? true,
    roster: { permissions: () => defaultPermissions('viewer') },
    emit: (event, payload) => events.push({ event, payload }),
  })
  const viewerEvents: TransferEvent[] = []
  const viewer = new TransferManager({
    side: 'viewer',
    openSink: async () => {
      throw new Error('not used')
    },
    hasher: () => {
      const h = createHash('sha256')
      return { update: (d) => h.update(d), digest: () => h.digest('hex') }
    },
    maxBytes: 1e9,
    autoAccept: false,
    resyncOnAttach: true,
    onEvent: (e) => viewerEvents.push(e),
  })
  const toHost = new Pipe((f) => hostEnd.receive(f))
  const toViewer = new Pipe((f) => viewerEnd.receive(f))
  const hostEnd = service.attach('v1', toViewer.link())
  const viewerEnd = viewer.attach('host', toHost.link())
  const hostEvent = <E extends EventName>(event: E, match: (p: EventPayload<E>) => boolean = () => true) =>
    new Promise<EventPayload<E>>((resolve, reject) => {
      const started = Date.now()
      const check = () => {
        const found = events.find((e) => e.event === event && match(e.payload as EventPayload<E>))
        if (found) resolve(found.payload as EventPayload<E>)
        else if (Date.now() - started > 10_000) reject(new Error(`no ${event}`))
        else setTimeout(check, 5)
      }
      check()
    })
  return { service, viewer, viewerEvents, events, hostEvent, toHost }
}

describe('file names from a peer', () => {
  it('keeps one harmless component of any name', () => {
    const cases: [string, string][] = [
      ['../../etc/passwd', 'passwd'],
      ['/abs/path', 'path'],
      ['C:\\Windows\\system32\\evil.dll', 'evil.dll'],
      ['a\u0000b.txt', 'a_b.txt'],
      ['line\nbreak.txt', 'line_break.txt'],
      ['..', 'download'],
      ['.', 'download'],
      ['', 'download'],
      ['...', 'download'],
      ['.bashrc', 'bashrc'],
      ['-rf', 'rf'],
      ['CON', '_CON'],
      ['nul.txt', '_nul.txt'],
      ['report.pdf. . ', 'report.pdf'],
      ['what?<>|*".txt', 'what______.txt'],
      ['invoice\u202Efdp.exe', 'invoice_fdp.exe'],
      ['résumé.pdf', 'résumé.pdf'],
    ]
    for (const [input, expected] of cases)
      assert.equal(sanitizeFileName(input), expected, JSON.stringify(input))
    const long = sanitizeFileName(`${'é'.repeat(300)}.txt`)
    assert.ok(Buffer.byteLength(long) <= 255)
    assert.ok(long.endsWith('.txt'))
    assert.equal(numberedName('report.pdf', 2), 'report (2).pdf')
    assert.equal(numberedName('README', 1), 'README (1)')
  })
})

describe('receiving files on disk', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smoldesk-transfer-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes a temporary file and renames it into place only after the hash matched', async () => {
    const downloads = join(dir, 'a')
    const { viewer, hostEvent } = hostAndViewer(downloads)
    const data = randomBytes(3 * 1024 * 1024)
    const { id } = viewer.send('host', 'photo.jpg', source(data))
    await hostEvent('transfer-started', (p) => p.transferId === id)
    const done = await hostEvent('transfer-completed', (p) => p.transferId === id)
    assert.equal(done.sha256, sha(data))
    assert.deepEqual(await readdir(downloads), ['photo.jpg'])
    assert.equal(sha(await readFile(join(downloads, 'photo.jpg'))), sha(data))
  })

  it('puts hostile names inside the download folder, with numbered suffixes on collisions', async () => {
    const downloads = join(dir, 'b', 'downloads')
    await mkdir(join(dir, 'b'), { recursive: true })
    const { viewer, hostEvent } = hostAndViewer(downloads)
    const names = ['../../etc/passwd', '/abs/path', 'a\u0000b.txt', 'line\nbreak.txt', '..', 'passwd', 'CON']
    for (const name of names) {
      const { id } = viewer.send('host', name, source(Buffer.from(name)))
      await hostEvent('transfer-completed', (p) => p.transferId === id)
    }
    assert.deepEqual((await readdir(downloads)).sort(), [
      '_CON',
      'a_b.txt',
      'download',
      'line_break.txt',
      'passwd',
      'passwd (1)',
      'path',
    ])
    assert.deepEqual(await readdir(join(dir, 'b')), ['downloads'], 'nothing written beside the folder')
    assert.equal(await readFile(join(downloads, 'passwd (1)'), 'utf8'), 'passwd')
  })

  it('refuses a file over the size limit before a byte is written', async () => {
    const downloads = join(dir, 'c')
    const { viewer, viewerEvents, hostEvent } = hostAndViewer(downloads, { maxBytes: 1024 * 1024 })
    viewer.send('host', 'big.iso', source(Buffer.alloc(1024 * 1024 + 1)))
    const error = await hostEvent('transfer-error')
    assert.equal(error.code, 'TRANSFER_TOO_LARGE')
    const told = await waitFor(viewerEvents, (e) => e.type === 'error', 'the sender is told')
    assert.equal(told.type === 'error' && told.code, 'TRANSFER_TOO_LARGE')
    await assert.rejects(readdir(downloads), { code: 'ENOENT' })
  })

  it('on a full disk: DISK_FULL, and no partial file is left', async () => {
    const mount = join(dir, 'tmpfs')
    await mkdir(mount)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount])
    try {
      const { viewer, hostEvent, events } = hostAndViewer(mount)
      // Too big for the free space: refused when accepted (statfs).
      viewer.send('host', 'huge.bin', source(randomBytes(3 * 1024 * 1024)))
      const refused = await hostEvent('transfer-error')
      assert.equal(refused.code, 'DISK_FULL')
      // Each fits alone, not together: the disk fills while they are written.
      const a = randomBytes(1536 * 1024)
      const b = randomBytes(1536 * 1024)
      const first = viewer.send('host', 'a.bin', source(a))
      const second = viewer.send('host', 'b.bin', source(b))
      const full = await hostEvent(
        'transfer-error',
        (p) => p.code === 'DISK_FULL' && (p.transferId === first.id || p.transferId === second.id),
      )
      assert.match(full.message, /disk is full/)
      await new Promise((r) => setTimeout(r, 300))
      const left = await readdir(mount)
      assert.ok(!left.some((name) => name.endsWith('.part')), `partial files left: ${left}`)
      for (const name of left) {
        const expected = name === 'a.bin' ? a : b
        assert.equal(sha(await readFile(join(mount, name))), sha(expected), `${name} is complete`)
      }
      assert.ok(events.some((e) => e.event === 'transfer-error'))
    } finally {
      execFileSync('umount', ['-l', mount])
    }
  })

  it('does not keep a file whose bytes changed on the way (SHA-256 mismatch)', async () => {
    const downloads = join(dir, 'd')
    const { viewer, hostEvent, toHost } = hostAndViewer(downloads)
    let flipped = false
    toHost.tamper = (frame) => {
      const decoded = decodeFrame(frame)
      if (decoded.kind !== 'data' || flipped || decoded.offset < 100_000) return frame
      flipped = true
      const copy = frame.slice()
      copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 1
      return copy
    }
    const { id } = viewer.send('host', 'flipped.bin', source(randomBytes(400_000)))
    const error = await hostEvent('transfer-error', (p) => p.transferId === id)
    assert.equal(error.code, 'TRANSFER_CORRUPT')
    assert.match(error.message, /SHA-256 mismatch/)
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(await readdir(downloads), [], 'neither the file nor its temporary copy is kept')
  })

  it('offers a local file to the viewer; refuses a directory, a missing file and an unknown viewer', async () => {
    const path = join(dir, 'to-send.bin')
    const data = randomBytes(1024 * 1024 + 3)
    await writeFile(path, data)
    const { service, viewerEvents } = hostAndViewer(join(dir, 'e'))
    const info = await service.sendFile(path, 'v1')
    assert.equal(info.name, 'to-send.bin')
    assert.equal(info.direction, 'host-to-viewer')
    await assert.rejects(service.sendFile(dir, 'v1'), { code: 'FILE_ERROR' })
    await assert.rejects(service.sendFile(join(dir, 'missing'), 'v1'), { code: 'FILE_ERROR' })
    await assert.rejects(service.sendFile(path, 'nobody'), { code: 'PEER_NOT_FOUND' })
    const offered = await waitFor(viewerEvents, (e) => e.type === 'offered', 'offer')
    assert.equal(offered.info.size, data.length)
  })
})
