import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CachedStore, type Invalidations } from '../src/cached-store.ts'
import { type MemberRecord, MemoryStore, type SignalingStore } from '../src/store.ts'

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
})
