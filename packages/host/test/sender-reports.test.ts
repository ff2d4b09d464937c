import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SenderReports } from '../src/webrtc/werift/sender-reports.ts'

describe('round trips from sender reports', () => {
  it('answers a receiver report that echoes an older sender report, not only the last one', () => {
    const reports = new SenderReports()
    reports.note(1000, 10.0)
    reports.note(1000, 10.0) // the same report, seen again
    reports.note(2000, 11.0) // a newer one left while the answer to the first was queued
    // The answer to the first: sent at 10.0, held 0.5 s at the receiver (DLSR in 1/65536 s), back at 10.75.
    const rtt = reports.roundTripMs(1000, 0.5 * 65536, 10.75) ?? 0
    assert.ok(Math.abs(rtt - 250) < 1e-6, `${rtt}`)
    assert.equal(reports.roundTripMs(3000, 65536, 12), undefined, 'a report it never sent')
    assert.equal(reports.roundTripMs(2000, 0, 12), undefined, 'no DLSR: no round trip')
  })

  it('gives no round trip for a timestamp two reports carried (no RTP between them)', () => {
    const reports = new SenderReports()
    reports.note(1000, 10.0)
    reports.note(1000, 11.2)
    assert.equal(reports.roundTripMs(1000, 65536, 12), undefined)
  })

  it('forgets all but the last eight', () => {
    const reports = new SenderReports()
    for (let i = 1; i <= 9; i++) reports.note(i, i)
    assert.equal(reports.roundTripMs(1, 65536, 20), undefined)
    assert.ok(reports.roundTripMs(2, 65536, 20) !== undefined)
  })
})
