import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  decodeFrame,
  encodeControl,
  encodeData,
  type TransferEvent,
  TransferManager,
  type TransferManagerOptions,
} from '../src/index.ts'
import { MemorySink, Pipe, source, waitFor } from './transfer-fixtures.ts'

/*
 * Size (over 350 lines): one suite, the transfer engine's behaviour between
 * two real managers, case by case; its fixtures are in transfer-fixtures.ts.
 */

/*
 * The transfer engine between two managers over an in-memory channel that
 * behaves like a data channel: ordered, asynchronous, with a buffered amount.
 * The real channels (werift ↔ Chromium) are tested in the host package.
 */

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')

function manager(
  side: 'host' | 'viewer',
  events: TransferEvent[],
  extra: Partial<TransferManagerOptions> = {},
) {
  return new TransferManager({
    side,
    openSink: async ({ name }) => new MemorySink(`${side}:${name}`),
    hasher: () => {
      const h = createHash('sha256')
      return { update: (d) => h.update(d), digest: () => h.digest('hex') }
    },
    maxBytes: 100 * 1024 * 1024,
    autoAccept: false,
    onEvent: (e) => events.push(e),
    resyncOnAttach: side === 'viewer',
    ...extra,
  })
}

/** Host and viewer managers joined by a pipe each way; `cut()` drops the connection, `reconnect()` makes a new one. */
function pair(
  hostExtra: Partial<TransferManagerOptions> = {},
  viewerExtra: Partial<TransferManagerOptions> = {},
) {
  const hostEvents: TransferEvent[] = []
  const viewerEvents: TransferEvent[] = []
  const host = manager('host', hostEvents, hostExtra)
  const viewer = manager('viewer', viewerEvents, viewerExtra)
  const wire = { toHost: undefined as Pipe | undefined, toViewer: undefined as Pipe | undefined }
  const ends = {
    host: undefined as ReturnType<TransferManager['attach']> | undefined,
    viewer: undefined as ReturnType<TransferManager['attach']> | undefined,
  }
  const connect = (viewerPeerId = 'v1') => {
    const toHost = new Pipe((f) => ends.host?.receive(f))
    const toViewer = new Pipe((f) => ends.viewer?.receive(f))
    wire.toHost = toHost
    wire.toViewer = toViewer
    ends.host = host.attach(viewerPeerId, toViewer.link())
    ends.viewer = viewer.attach('host', toHost.link())
  }
  connect()
  return {
    host,
    viewer,
    hostEvents,
    viewerEvents,
    wire,
    ends,
    cut() {
      wire.toHost?.close()
      wire.toViewer?.close()
      ends.host?.detach()
      ends.viewer?.detach()
    },
    /** Both sides learn that the connection is gone (the peer left), but its channels never said so. */
    forget() {
      ends.host?.detach()
      ends.viewer?.detach()
    },
    reconnect: connect,
  }
}

/** A source whose first read where `stop(offset)` holds waits until open(); `reached` says it got there. */
function gatedSource(data: Buffer, stop: (offset: number) => boolean) {
  const plain = source(data)
  let open = () => {}
  let arrived = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const reached = new Promise<void>((resolve) => {
    arrived = resolve
  })
  let stopped = false
  return {
    reached,
    open: () => open(),
    source: {
      ...plain,
      read: async (offset: number, length: number) => {
        if (!stopped && stop(offset)) {
          stopped = true
          arrived()
          await gate
        }
        return plain.read(offset, length)
      },
    },
  }
}

/** Waits until an upload ends on the host; it must have completed with every byte in place. */
async function uploadedWhole(p: ReturnType<typeof pair>, id: string, name: string, data: Buffer) {
  const ended = (e: TransferEvent) => (e.type === 'completed' || e.type === 'error') && e.info.id === id
  await waitFor(p.hostEvents, ended, 'end')
  assert.equal(p.host.get(id).state, 'completed', JSON.stringify(p.host.get(id)))
  assert.deepEqual(MemorySink.committed.get(`host:${name}`), data)
}

describe('transfer engine', () => {
  it('sends a file host → viewer after acceptance, SHA-256 equal, events in order', async () => {
    const p = pair()
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const info = p.host.send('v1', 'report.bin', source(data))
    const offered = await waitFor(p.viewerEvents, (e) => e.type === 'offered', 'offer')
    assert.equal(offered.info.id, info.id)
    assert.equal(offered.info.direction, 'host-to-viewer')
    assert.equal(p.viewer.get(info.id).state, 'pending')
    await p.viewer.accept(info.id)
    const done = await waitFor(p.hostEvents, (e) => e.type === 'completed', 'sender completion')
    await waitFor(p.viewerEvents, (e) => e.type === 'completed', 'receiver completion')
    assert.equal(done.info.sha256, sha(data))
    assert.deepEqual(MemorySink.committed.get('viewer:report.bin'), data)
    const types = p.hostEvents.map((e) => e.type).filter((t) => t !== 'changed')
    assert.equal(types[0], 'started')
    assert.equal(types.at(-1), 'completed')
    assert.ok(types.includes('progress'))
  })

  it('sends viewer → host with auto-accept, and an empty file', async () => {
    const p = pair({ autoAccept: true })
    const data = randomBytes(200_000)
    p.viewer.send('host', 'up.dat', source(data))
    p.viewer.send('host', 'empty.txt', source(Buffer.alloc(0)))
    await waitFor(p.hostEvents, (e) => e.type === 'completed' && e.info.name === 'up.dat', 'up.dat')
    await waitFor(p.hostEvents, (e) => e.type === 'completed' && e.info.name === 'empty.txt', 'empty')
    assert.deepEqual(MemorySink.committed.get('host:up.dat'), data)
    assert.equal(MemorySink.committed.get('host:empty.txt')?.length, 0)
    assert.equal(p.host.list().find((t) => t.name === 'up.dat')?.direction, 'viewer-to-host')
  })

  it('pauses and resumes from either side; cancel removes the partial file on both', async () => {
    const p = pair({ autoAccept: true }, { chunkBytes: 16 * 1024 })
    // Well past what may be in flight (the 4 MiB window), so pause and cancel land mid-file.
    const data = randomBytes(16 * 1024 * 1024)
    const { id } = p.viewer.send('host', 'pause.bin', source(data))
    await waitFor(p.hostEvents, (e) => e.type === 'progress' && e.info.transferred > 0, 'some progress')
    p.host.pause(id)
    await waitFor(p.viewerEvents, (e) => e.type === 'changed' && e.info.state === 'paused', 'sender paused')
    await new Promise((r) => setTimeout(r, 100))
    const heldAt = p.host.get(id).transferred
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(p.host.get(id).transferred, heldAt, 'nothing moves while paused')
    p.viewer.resume(id)
    await waitFor(p.hostEvents, (e) => e.type === 'completed' && e.info.id === id, 'completion after resume')
    assert.deepEqual(MemorySink.committed.get('host:pause.bin'), data)

    const second = p.viewer.send('host', 'cancel.bin', source(randomBytes(16 * 1024 * 1024)))
    await waitFor(p.hostEvents, (e) => e.type === 'progress' && e.info.id === second.id, 'progress')
    const discardedBefore = MemorySink.discarded
    p.host.cancel(second.id)
    const err = await waitFor(p.viewerEvents, (e) => e.type === 'error' && e.info.id === second.id, 'cancel')
    assert.equal(err.type === 'error' && err.code, 'TRANSFER_CANCELLED')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(MemorySink.discarded, discardedBefore + 1)
    assert.equal(MemorySink.committed.has('host:cancel.bin'), false)
  })

  it('resumes from the written offset after the connection drops, under a new peer id', async () => {
    const p = pair({ autoAccept: true }, { chunkBytes: 32 * 1024 })
    const data = randomBytes(6 * 1024 * 1024)
    // Cut the line when the data frame at half the file goes by.
    const cutAt = (pipe: Pipe) => {
      pipe.tamper = (frame) => {
        const decoded = decodeFrame(frame)
        if (decoded.kind === 'data' && decoded.offset >= data.length / 2) {
          p.cut()
          return undefined
        }
        return frame
      }
    }
    cutAt(p.wire.toHost as Pipe)
    const { id } = p.viewer.send('host', 'resume.bin', source(data))
    await waitFor(p.hostEvents, (e) => e.type === 'changed' && e.info.state === 'interrupted', 'interrupted')
    await new Promise((r) => setTimeout(r, 20))
    const at = p.host.get(id).transferred
    assert.ok(at >= data.length / 2 - 32 * 1024 && at < data.length, `stopped at ${at}`)
    assert.equal(p.viewer.get(id).state, 'interrupted')
    p.reconnect('v2')
    await waitFor(p.hostEvents, (e) => e.type === 'completed' && e.info.id === id, 'completion')
    assert.equal(p.host.get(id).peer_id, 'v2')
    assert.deepEqual(MemorySink.committed.get('host:resume.bin'), data)

    // the other direction: the host sends, the viewer reconnects and asks from where it stopped
    const down = randomBytes(5 * 1024 * 1024)
    p.viewerEvents.length = 0
    cutAt(p.wire.toViewer as Pipe)
    const sent = p.host.send('v2', 'down.bin', source(down))
    await waitFor(p.viewerEvents, (e) => e.type === 'offered' && e.info.id === sent.id, 'offer')
    await p.viewer.accept(sent.id)
    await waitFor(
      p.viewerEvents,
      (e) => e.type === 'changed' && e.info.state === 'interrupted',
      'interrupted',
    )
    p.reconnect('v3')
    await waitFor(p.viewerEvents, (e) => e.type === 'completed' && e.info.id === sent.id, 'completion')
    assert.deepEqual(MemorySink.committed.get('viewer:down.bin'), down)
  })

  it('goes on over a new link when the old channel died without a close event (sender waiting for it to drain)', async () => {
    // A window wider than the file: the sender waits for the channel's queue, not for acks.
    const p = pair({ windowBytes: 64 * 1024 * 1024 })
    const data = randomBytes(6 * 1024 * 1024)
    const toViewer = p.wire.toViewer as Pipe
    toViewer.tamper = (frame) => {
      const decoded = decodeFrame(frame)
      if (decoded.kind === 'data' && decoded.offset >= data.length / 4) toViewer.dead = true
      return frame
    }
    const sent = p.host.send('v1', 'stuck.bin', source(data))
    await waitFor(p.viewerEvents, (e) => e.type === 'offered', 'offer')
    await p.viewer.accept(sent.id)
    // The host waits for the dead channel to drain, which never happens.
    for (let i = 0; i < 100 && !toViewer.dead; i++) await new Promise((r) => setTimeout(r, 10))
    await new Promise((r) => setTimeout(r, 100))
    assert.ok(toViewer.dead && toViewer.buffered > 0, `${toViewer.buffered} bytes stuck in the dead channel`)
    p.forget()
    p.reconnect('v2')
    await waitFor(p.viewerEvents, (e) => e.type === 'completed' && e.info.id === sent.id, 'completion')
    assert.deepEqual(MemorySink.committed.get('viewer:stuck.bin'), data)
  })

  it('sends nothing over a new link until the receiver said where it stands (frames lost with the old one)', async () => {
    const p = pair({ autoAccept: true })
    const data = randomBytes(8 * 1024 * 1024)
    // The sender is reading a chunk when its link is replaced: the old link's queued frames are lost.
    const held = gatedSource(data, (offset) => offset >= data.length / 4)
    const { id } = p.viewer.send('host', 'switch.bin', held.source)
    await held.reached
    p.cut()
    p.reconnect('v1')
    held.open()
    await uploadedWhole(p, id, 'switch.bin', data)
  })

  it('ignores a late accept on a link the peer has replaced, and goes on over the new one', async () => {
    const p = pair({ autoAccept: true })
    const data = randomBytes(12 * 1024 * 1024)
    // The sender stops reading at 3/4 of the file until the stale accept below has arrived.
    const held = gatedSource(data, (offset) => offset >= (data.length * 3) / 4)
    const { id } = p.viewer.send('host', 'late.bin', held.source)
    await waitFor(p.hostEvents, (e) => e.type === 'progress' && e.info.transferred > 0, 'some progress')
    // The viewer's side of the first link, still listening after a new link replaced it.
    const old = p.ends.viewer
    p.forget()
    p.reconnect('v1')
    await held.reached
    old?.receive(encodeControl({ type: 'accept', id, offset: 0 }))
    held.open()
    await uploadedWhole(p, id, 'late.bin', data)
  })

  it('asks again on a new link whose first answer from the receiver was lost, and the file arrives whole', async () => {
    // A download, as the page receives it: the receiver says where it stands once, when its link attaches.
    const p = pair({}, { autoAccept: true, resyncOnAttach: true })
    const data = randomBytes(12 * 1024 * 1024)
    const { id } = p.host.send('v1', 'asked.bin', source(data))
    await waitFor(p.viewerEvents, (e) => e.type === 'progress' && e.info.transferred > 0, 'some progress')
    p.cut()
    p.reconnect('v1')
    // The receiver's accept on the new link never arrives (the first frame toward the host is dropped).
    let dropped = 0
    ;(p.wire.toHost as Pipe).tamper = (frame) => (dropped++ === 0 ? undefined : frame)
    await waitFor(
      p.viewerEvents,
      (e) => (e.type === 'completed' || e.type === 'error') && e.info.id === id,
      'end',
    )
    assert.equal(p.viewer.get(id).state, 'completed', JSON.stringify(p.viewer.get(id)))
    assert.deepEqual(MemorySink.committed.get('viewer:asked.bin'), data)
    assert.equal(dropped > 1, true, 'the sender asked again')
  })

  it('takes a link whose send throws for a lost link: the transfer waits, then goes on over the next', async () => {
    const p = pair({ autoAccept: true })
    const data = randomBytes(12 * 1024 * 1024)
    const { id } = p.viewer.send('host', 'broken.bin', source(data))
    await waitFor(p.hostEvents, (e) => e.type === 'progress' && e.info.transferred > 0, 'some progress')
    ;(p.wire.toHost as Pipe).throwOnSend = true
    await waitFor(
      p.viewerEvents,
      (e) => e.type === 'changed' && e.info.id === id && e.info.state === 'interrupted',
      'interrupted',
    )
    p.cut()
    p.reconnect('v1')
    await uploadedWhole(p, id, 'broken.bin', data)
  })

  it('reads every chunk straight into one reused frame over a link that copies on send', async () => {
    const hostEvents: TransferEvent[] = []
    const viewerEvents: TransferEvent[] = []
    const host = manager('host', hostEvents)
    const viewer = manager('viewer', viewerEvents, { autoAccept: true })
    const ends: {
      host?: ReturnType<TransferManager['attach']>
      viewer?: ReturnType<TransferManager['attach']>
    } = {}
    const toViewer = new Pipe((f) => ends.viewer?.receive(f))
    toViewer.copies = true
    ends.host = host.attach('v1', toViewer.link())
    ends.viewer = viewer.attach('host', new Pipe((f) => ends.host?.receive(f)).link())
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const frames = new Set<ArrayBufferLike>()
    let reads = 0
    const counted = source(data)
    const sent = host.send('v1', 'reused.bin', {
      ...counted,
      read: async (offset, length) => {
        reads++
        return counted.read(offset, length)
      },
      readInto: async (target, offset) => {
        frames.add(target.buffer)
        target.set(data.subarray(offset, offset + target.length))
        return Math.min(target.length, data.length - offset)
      },
    })
    await waitFor(viewerEvents, (e) => e.type === 'completed' && e.info.id === sent.id, 'completion')
    assert.deepEqual(MemorySink.committed.get('viewer:reused.bin'), data)
    assert.equal(reads, 0, 'no chunk was read into a buffer of its own')
    assert.equal(frames.size, 1, 'one frame buffer for the whole file')
  })

  it('refuses a file over the limit, a rejected offer, and a forbidden peer, each with its code', async () => {
    const p = pair({ maxBytes: 1000 })
    p.viewer.send('host', 'big.iso', source(Buffer.alloc(1001)))
    const tooBig = await waitFor(p.viewerEvents, (e) => e.type === 'error', 'too large')
    assert.equal(tooBig.type === 'error' && tooBig.code, 'TRANSFER_TOO_LARGE')
    const hostSide = await waitFor(p.hostEvents, (e) => e.type === 'error', 'host sees it')
    assert.equal(hostSide.type === 'error' && hostSide.code, 'TRANSFER_TOO_LARGE')

    const offer = p.viewer.send('host', 'no.txt', source(Buffer.from('no')))
    await waitFor(p.hostEvents, (e) => e.type === 'offered' && e.info.id === offer.id, 'offer')
    p.host.reject(offer.id)
    const rejected = await waitFor(
      p.viewerEvents,
      (e) => e.type === 'error' && e.info.id === offer.id,
      'reject',
    )
    assert.equal(rejected.type === 'error' && rejected.code, 'TRANSFER_REJECTED')

    const q = pair({ allowed: () => false })
    q.viewer.send('host', 'x.txt', source(Buffer.from('x')))
    const forbidden = await waitFor(q.viewerEvents, (e) => e.type === 'error', 'forbidden')
    assert.equal(forbidden.type === 'error' && forbidden.code, 'FORBIDDEN')
    assert.throws(() => q.host.send('v1', 'y.txt', source(Buffer.from('y'))), { code: 'FORBIDDEN' })
  })

  it('keeps nothing when a byte is flipped on the way (SHA-256 mismatch)', async () => {
    const p = pair({ autoAccept: true })
    let flipped = false
    ;(p.wire.toHost as Pipe).tamper = (frame) => {
      const decoded = decodeFrame(frame)
      if (decoded.kind === 'data' && decoded.offset > 100_000 && !flipped) {
        flipped = true
        const copy = frame.slice()
        copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0xff
        return copy
      }
      return frame
    }
    p.viewer.send('host', 'flip.bin', source(randomBytes(300_000)))
    const err = await waitFor(p.hostEvents, (e) => e.type === 'error', 'mismatch')
    assert.equal(err.type === 'error' && err.code, 'TRANSFER_CORRUPT')
    await waitFor(p.viewerEvents, (e) => e.type === 'error', 'sender told')
    assert.equal(MemorySink.committed.has('host:flip.bin'), false)
  })

  it('survives 10,000 fuzzed frames with coded answers, and a normal transfer still completes', async () => {
    const hostEvents: TransferEvent[] = []
    const host = manager('host', hostEvents, { autoAccept: true })
    const replies: unknown[] = []
    const end = host.attach('fuzzer', {
      send: (frame) => {
        const d = decodeFrame(frame)
        if (d.kind === 'control') replies.push(d.message)
      },
      bufferedAmount: () => 0,
      drained: async () => {},
    })
    const valid = [
      { type: 'offer', id: 'f1', name: 'a', size: 10 },
      { type: 'accept', id: 'f1', offset: 0 },
      { type: 'ack', id: 'f1', offset: 5 },
      { type: 'end', id: 'f1', sha256: 'a'.repeat(64) },
      { type: 'done', id: 'f1', sha256: 'b'.repeat(64) },
      { type: 'pause', id: 'f1' },
      { type: 'resume', id: 'f1' },
    ]
    const hostile: unknown[] = [
      { type: 'offer', id: '../../x', name: 'a', size: 1 },
      { type: 'offer', id: 'f2', name: '', size: 1 },
      { type: 'offer', id: 'f3', name: 'a', size: -1 },
      { type: 'offer', id: 'f4', name: 'a', size: 2 ** 60 },
      { type: 'accept', id: 'f1', offset: 1e300 },
      { __proto__: { polluted: true }, type: 'offer' },
      { type: 'constructor', id: 'x' },
      JSON.parse('{"type":"offer","id":"p","name":"a","size":1,"__proto__":{"polluted":1}}'),
    ]
    let seed = 42
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x7fffffff
    }
    for (let i = 0; i < 10_000; i++) {
      const pick = rand()
      let frame: Uint8Array
      if (pick < 0.25) frame = randomBytes(Math.floor(rand() * 300))
      else if (pick < 0.45) {
        const json = JSON.stringify(valid[i % valid.length])
        frame = encodeControl(JSON.parse(json))
        frame[1 + Math.floor(rand() * (frame.length - 1))] = Math.floor(rand() * 256)
      } else if (pick < 0.6) frame = encodeControl(hostile[i % hostile.length] as object)
      else if (pick < 0.8) frame = encodeControl(valid[i % valid.length] as object)
      else if (pick < 0.95)
        frame = encodeData(`f${i % 7}`, Math.floor(rand() * 20), randomBytes(Math.floor(rand() * 40)))
      else frame = Uint8Array.of(0, ...Buffer.from('{"type":"offer"'))
      end.receive(frame)
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
    // A flood of distinct offers is capped: what one peer keeps open here stays bounded.
    for (let i = 0; i < 100; i++)
      end.receive(encodeControl({ type: 'offer', id: `flood${i}`, name: 'x', size: 1e6 }))
    const open = host
      .list()
      .filter((t) => t.peer_id === 'fuzzer' && !['completed', 'cancelled', 'failed'].includes(t.state))
    assert.ok(open.length <= 64, `${open.length} open offers from one peer`)
    assert.ok(replies.length > 0)
    const errors = replies.filter((r) => (r as { type?: string }).type === 'error')
    assert.ok(errors.length > 0)
    for (const reply of errors) assert.match(String((reply as { code?: string }).code), /^[A-Z_]+$/)
    end.detach()

    // the same manager still works for a real peer
    const events: TransferEvent[] = []
    const viewer = manager('viewer', events)
    const toHost = new Pipe((f) => hostEnd.receive(f))
    const toViewer = new Pipe((f) => viewerEnd.receive(f))
    const hostEnd = host.attach('v9', toViewer.link())
    const viewerEnd = viewer.attach('host', toHost.link())
    const data = randomBytes(100_000)
    viewer.send('host', 'after-fuzz.bin', source(data))
    await waitFor(hostEvents, (e) => e.type === 'completed' && e.info.name === 'after-fuzz.bin', 'completion')
    assert.deepEqual(MemorySink.committed.get('host:after-fuzz.bin'), data)
  })
})
