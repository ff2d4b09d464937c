import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Coalescer } from '../src/coalescer.ts'

describe('signaling: coalescing a burst of work', () => {
  it('flushes once when the turn ends, for everything added in it', async () => {
    let flushes = 0
    const soon = new Coalescer(() => flushes++)
    for (let i = 0; i < 100; i++) soon.add()
    await Promise.resolve()
    assert.equal(flushes, 0, 'not while the turn goes on briefly')
    await new Promise((r) => setImmediate(r))
    assert.equal(flushes, 1)
    await new Promise((r) => setImmediate(r))
    assert.equal(flushes, 1, 'nothing added, nothing flushed')
  })

  it('does not wait for the end of a turn that goes on past its bound', async () => {
    let flushes = 0
    const soon = new Coalescer(() => flushes++, 2)
    soon.add()
    // One long turn, as a poll phase with thousands of ready sockets is.
    const until = performance.now() + 3
    while (performance.now() < until) {}
    soon.add()
    await Promise.resolve()
    assert.equal(flushes, 1, 'flushed from a microtask, before any setImmediate')
    soon.add()
    await new Promise((r) => setImmediate(r))
    assert.equal(flushes, 2, 'what came after is flushed at the end of the turn')
  })
})
