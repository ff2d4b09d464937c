import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CachedStore, type Invalidations } from '../src/cached-store.ts'
import { type ClientRecord, type MemberRecord, MemoryStore, type SignalingStore } from '../src/store.ts'

/** Announcements between instances, delivered when `flush` is called (pub/sub takes its time). */
function channel() {
  const handlers: ((keys: string[] | '*') => void)[] = []
  const pending: string[][] = []
  return {
    instance(): Invalidations {
      return {
        invalidate: (keys) => pending.push(keys),
        onInvalidate: (handler) => handlers.push(handler),
      }
    },
    flush() {
      for (const keys of pending.splice(0)) for (const h of handlers) h(keys)
    },
  }
}

/** A store whose reads can be held back, to race them against a change. */
class SlowReads extends MemoryStore {
  hold: Promise<void> | undefined
  override async getMembers(ids: readonly string[]): Promise<(MemberRecord | undefined)[]> {
    const value = await super.getMembers(ids)
    await this.hold
    return value
  }
}

const viewer = (roomId: string): MemberRecord => ({ roomId, role: 'viewer', pending: false })

/** A shared store that records each batch of ids it is asked to read. */
function recording(store: MemoryStore) {
  const reads: { members: string[][]; clients: string[][] } = { members: [], clients: [] }
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (prop === 'getMembers') reads.members.push([...(args[0] as string[])])
        if (prop === 'getClients') reads.clients.push([...(args[0] as string[])])
        return value.apply(target, args)
      }
    },
  })
  return { proxy, reads }
}

const at = (instance: string): ClientRecord => ({ instance, resumeHash: 'h' })

describe('signaling: the cached shared store', () => {
  it('serves repeated reads from memory and drops a record another instance changed', async () => {
    const shared: SignalingStore = new MemoryStore()
    let reads = 0
    const counting = new Proxy(shared, {
      get(target, prop, receiver) {
        if (prop === 'getMembers') reads++
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const bus = channel()
    const a = new CachedStore(counting, bus.instance())
    const b = new CachedStore(counting, bus.instance())
    await b.putMember('x', viewer('one'))
    bus.flush()
    assert.deepEqual(await a.getMembers(['x']), [viewer('one')])
    assert.deepEqual(await a.getMembers(['x']), [viewer('one')])
    assert.equal(reads, 1, 'the second read came from memory')
    await b.putMember('x', viewer('two'))
    bus.flush()
    assert.deepEqual(await a.getMembers(['x']), [viewer('two')], 'the change reached the other instance')
    await b.removeMember('x')
    bus.flush()
    assert.deepEqual(await a.getMembers(['x']), [undefined])
  })

  it('does not keep a read that overlapped a change of its record', async () => {
    const shared = new SlowReads()
    const bus = channel()
    const a = new CachedStore(shared, bus.instance())
    const b = new CachedStore(shared, bus.instance())
    await shared.putMember('x', viewer('one'))
    let release: () => void = () => {}
    shared.hold = new Promise<void>((r) => {
      release = r
    })
    const racing = a.getMembers(['x']) // reads "one", then waits
    await new Promise((r) => setTimeout(r, 10))
    await b.putMember('x', viewer('two'))
    bus.flush() // the announcement reaches A while its read is under way
    release()
    assert.deepEqual(await racing, [viewer('one')])
    shared.hold = undefined
    assert.deepEqual(await a.getMembers(['x']), [viewer('two')], 'the overlapping read was not kept')
  })

  it('reads what many relays miss at once as one store call per kind of record', async () => {
    const shared = new MemoryStore()
    for (const id of ['a', 'b', 'c']) {
      await shared.putMember(id, viewer('one'))
      await shared.putClient(id, at('i1'), 60_000)
    }
    const { proxy, reads } = recording(shared)
    const cache = new CachedStore(proxy, channel().instance())
    // As when 10,000 clients send after a quiet spell: every relay misses in the same turn.
    const found = await Promise.all([
      cache.getMembers(['a', 'b']),
      cache.getMembers(['b', 'c']),
      cache.getClient('a'),
      cache.getClient('a'),
      cache.getClient('c'),
    ])
    assert.deepEqual(found, [
      [viewer('one'), viewer('one')],
      [viewer('one'), viewer('one')],
      at('i1'),
      at('i1'),
      at('i1'),
    ])
    assert.deepEqual(reads.members, [['a', 'b', 'c']], 'one read of the members, each asked for once')
    assert.deepEqual(reads.clients, [['a', 'c']], 'one read of the clients')
  })

  it('reads a record in use again late in its life, without making its reader wait', async () => {
    const shared = new MemoryStore()
    await shared.putMember('a', viewer('one'))
    const { proxy, reads } = recording(shared)
    let now = 1_000_000
    // random 0.5: each record lives the TTL (10 s), read again from half of it (5 s).
    const cache = new CachedStore(proxy, channel().instance(), { now: () => now, random: () => 0.5 })
    await cache.getMembers(['a'])
    now += 4_000
    await cache.getMembers(['a'])
    assert.equal(reads.members.length, 1, 'young: from memory')
    // Changed behind the cache's back (an announcement lost): the refresh picks it up.
    await shared.putMember('a', viewer('two'))
    now += 2_000
    assert.deepEqual(await cache.getMembers(['a']), [viewer('one')], 'old enough: still served at once')
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    assert.equal(reads.members.length, 2, 'and read again meanwhile')
    now += 4_500 // past the first entry's end, young in the refreshed one's life
    assert.deepEqual(await cache.getMembers(['a']), [viewer('two')], 'the refreshed record, from memory')
    assert.equal(reads.members.length, 2)
  })
})
