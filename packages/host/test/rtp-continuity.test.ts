import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RTCRtpSender } from 'werift'
import { RtpContinuity } from '../src/webrtc/werift/rtp-continuity.ts'

describe('RTP continuity across a new encoder process', () => {
  it('steps the timestamps by the time that passed between the old source’s last packet and the new one’s first', () => {
    const steps: number[] = []
    const sender = { replaceRTP: (_h: unknown, _d: boolean, step: number) => steps.push(step) }
    const video = new RtpContinuity(() => sender as unknown as RTCRtpSender, 90_000)
    video.beforeSend(1000)
    video.beforeSend(1033)
    assert.deepEqual(steps, [], 'one source: nothing re-based')
    video.sourceChanged()
    video.beforeSend(1533) // the restarted encoder's first packet, 500 ms later
    video.beforeSend(1566)
    assert.deepEqual(steps, [45_000], '500 ms at 90 kHz, once')
    const audio = new RtpContinuity(() => sender as unknown as RTCRtpSender, 48_000)
    audio.sourceChanged()
    audio.beforeSend(0) // nothing sent before: werift has nothing to continue from
    assert.deepEqual(steps, [45_000, 1])
  })
})
