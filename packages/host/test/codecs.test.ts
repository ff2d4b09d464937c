import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { probeEncoders } from '../src/capture/codec-probe.ts'
import { startHostProcess, waitForNoProcesses } from './helpers.ts'

describe('encoder probes', () => {
  it('offers what really encodes here, in under 5 s, leaving no ffmpeg behind', async () => {
    const report = await probeEncoders()
    assert.ok(report.durationMs < 5000, `probe took ${report.durationMs} ms`)
    assert.ok(report.codecs.includes('H264'), `libx264 encodes here: ${JSON.stringify(report.refused)}`)
    assert.ok(report.accelerations.includes('None'))
    // This machine has no GPU: NVENC cannot open, and its refusal is ffmpeg's own words.
    assert.ok(!report.accelerations.includes('NVENC'))
    assert.ok(report.refused.h264_nvenc, 'NVENC was actually tried')
    const hasRenderNode = await access('/dev/dri/renderD128').then(
      () => true,
      () => false,
    )
    if (!hasRenderNode) assert.ok(!report.accelerations.includes('VAAPI'))
    // Offered are the codecs SmolDesk can stream: every encoder that opened belongs to an offered codec.
    for (const encoder of report.encoders) assert.ok(report.codecs.includes(encoder.codec), encoder.encoder)
    if (report.encoders.some((e) => e.encoder === 'libsvtav1')) assert.ok(report.codecs.includes('AV1'))
  })

  it('answers through the IPC from a cache: probed once, then instantly', async () => {
    const host = await startHostProcess('host', [], { DISPLAY: undefined })
    try {
      const client = await host.client()
      const codecs = await client.invoke<string[]>('get_video_codecs')
      assert.ok(codecs.includes('H264'))
      const accels = await client.invoke<string[]>('get_hardware_acceleration_options')
      assert.equal(accels[0], 'None')
      assert.ok(!accels.includes('NVENC'))
      const started = performance.now()
      assert.deepEqual(await client.invoke('get_video_codecs'), codecs)
      assert.ok(performance.now() - started < 1000, 'a cached answer needs no new probe')
      client.close()
      const probes = await waitForNoProcesses(host.tag, 0)
      assert.deepEqual(
        probes.filter((p) => p.cmdline.includes('ffmpeg')),
        [],
        'no probe ffmpeg outlives the probe',
      )
    } finally {
      await host.stop()
    }
  })
})
