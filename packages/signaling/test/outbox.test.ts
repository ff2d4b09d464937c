import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Outbox } from '../src/outbox.ts'

describe('signaling: what a client was sent and has not acknowledged', () => {
  it('gives back what a resume missed, in order, and forgets what was acknowledged', () => {
    const box = new Outbox(1024)
    for (const m of ['a', 'b', 'c', 'd']) box.push(m)
    assert.deepEqual(box.since(2), { replay: ['c', 'd'], lost: 0 })
    box.ack(3)
    assert.equal(box.held, 1)
    assert.deepEqual(box.since(3), { replay: ['d'], lost: 0 })
    assert.deepEqual(box.since(4), { replay: [], lost: 0 })
    // A count from before what is held: those are gone, and the resume must fail.
    assert.deepEqual(box.since(1), { replay: ['d'], lost: 2 })
    // A claim of more than was sent is not trusted.
    assert.deepEqual(box.since(9), { replay: [], lost: 0 })
  })

  it('holds at most its count and its size, so a client that never acknowledges costs no more', () => {
    const byCount = new Outbox(3)
    for (const m of ['1', '2', '3', '4', '5']) byCount.push(m)
    assert.equal(byCount.held, 3)
    assert.deepEqual(byCount.since(0), { replay: ['3', '4', '5'], lost: 2 })
    const bySize = new Outbox(1024, 0, 10)
    for (let i = 0; i < 10; i++) bySize.push('xxxx') // 4 units each: 2 fit
    assert.equal(bySize.held, 2)
    // Numbering goes on from the count it was given (a resume on an instance that had no outbox).
    const taken = new Outbox(1024, 40)
    taken.push('next')
    assert.deepEqual(taken.since(40), { replay: ['next'], lost: 0 })
  })
})
