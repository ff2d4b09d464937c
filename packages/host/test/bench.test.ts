import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { benchAudio } from '../bench/audio-bench.ts'
import { benchInput } from '../bench/input-bench.ts'
import { benchLatency } from '../bench/latency.ts'
import { benchNetwork } from '../bench/network-bench.ts'
import { decodePattern, encodePattern, PATTERN_BITS, TIME_MODULUS } from '../bench/pattern.ts'
import { benchSignaling } from '../bench/signaling-bench.ts'
import { benchTransfer } from '../bench/transfer-bench.ts'

const luma = (bits: boolean[]): number[] => bits.map((b) => (b ? 235 : 16))

describe('latency pattern', () => {
  it('round-trips a timestamp, undoing the 2^24 ms modulus with the reader clock', () => {
    const drawn = 1_795_560_000_123
    const bits = encodePattern(drawn)
    assert.equal(bits.length, PATTERN_BITS)
    assert.equal(decodePattern(luma(bits), drawn + 37), drawn)
    assert.equal(decodePattern(luma(bits), drawn + TIME_MODULUS - 1), drawn)
  })

  it('rejects torn and blurred reads instead of counting them', () => {
    const a = encodePattern(0x123456)
    const b = encodePattern(0x654321)
    const torn = [...a.slice(0, 12), ...b.slice(12)]
    assert.equal(decodePattern(luma(torn), 0x700000), undefined, 'halves of two frames fail the checksum')
    const blurred = luma(a)
    blurred[5] = 128
    assert.equal(decodePattern(blurred, 0x700000), undefined, 'a grey square is refused')
  })
})

describe('bench latency (smoke run, not a measurement)', () => {
  it('measures SmolDesk end to end and reports every field', async () => {
    const runs = await benchLatency({
      seconds: 2,
      warmupSeconds: 1,
      scenarios: [{ width: 864, height: 486, fps: 30 }], // the pattern is 768 px wide
      systems: ['smoldesk'],
      smoldeskVariants: ['default'],
      captureFpsTuned: (fps) => fps,
      barePage: true,
      log: () => {},
    })
    assert.equal(runs.length, 1)
    const run = runs[0]
    assert.ok(run)
    assert.equal(run.scene, 'rects')
    assert.ok(run.samples > 10, `decoded ${run.samples} timestamps`)
    assert.ok(run.rejected <= run.samples, `rejected ${run.rejected}`)
    assert.ok(run.latency_ms_median > 0 && run.latency_ms_median < 1000, `median ${run.latency_ms_median}`)
    assert.ok(run.fps_decoded > 10)
    assert.ok(run.bitrate_kbps > 0)
    assert.ok(run.host_cpu_pct > 0)
    const stages = run.host_stages
    assert.ok(stages && stages.frames_per_s > 10, `capture helper stages: ${JSON.stringify(stages)}`)
    assert.ok(stages.grab_ms > 0 && stages.convert_ms > 0 && stages.encode_ms > 0)
    // The reference: the same host's stream in a bare <video> page, its timestamps read the same way.
    const bare = run.bare_page
    assert.ok(bare && bare.fps_delivered > 10, `the bare page: ${JSON.stringify(bare)}`)
    assert.ok(bare.latency_ms_median > 0 && bare.latency_ms_median < 1000 && bare.viewer_cpu_pct > 0)
  })

  it('measures the same scene on headless sway and GNOME, each run naming its desktop', async () => {
    const runs = await benchLatency({
      seconds: 2,
      warmupSeconds: 1,
      scenarios: [{ width: 864, height: 486, fps: 30 }],
      systems: ['smoldesk'],
      smoldeskVariants: ['default'],
      captureFpsTuned: (fps) => fps,
      desktops: ['sway', 'gnome'],
      log: () => {},
    })
    assert.deepEqual(
      runs.map((r) => r.desktop),
      ['sway', 'gnome'],
    )
    for (const run of runs) {
      assert.ok(run.samples > 10, `${run.desktop}: decoded ${run.samples} timestamps`)
      assert.ok(run.latency_ms_median > 0 && run.latency_ms_median < 1000, `median ${run.latency_ms_median}`)
      assert.equal(run.host_stages, undefined, 'the capture-helper stages are an X11 measurement')
    }
  })
})

describe('bench network (smoke run, not a measurement)', () => {
  it('measures SmolDesk and noVNC over a shaped link, and times SmolDesk’s adaptation', async () => {
    const runs = await benchNetwork({
      profiles: ['internet'],
      scenario: { width: 864, height: 486, fps: 30 },
      content: 'rects',
      systems: ['smoldesk', 'novnc'],
      seconds: 2,
      warmupSeconds: 1,
      log: () => {},
    })
    assert.deepEqual(
      runs.map((r) => [r.system, r.profile, r.link_kbps]),
      [
        ['smoldesk', 'internet', 5000],
        ['novnc', 'internet', 5000],
      ],
    )
    for (const run of runs) {
      assert.ok(run.samples > 5, `${run.system}: decoded ${run.samples} timestamps`)
      // 20 ms each way on the link: nothing can be faster than that.
      assert.ok(
        run.latency_ms_median > 20 && run.latency_ms_median < 2000,
        `${run.system}: ${run.latency_ms_median}`,
      )
      assert.ok(run.bitrate_kbps > 0 && run.longest_gap_ms > 0)
    }
    // The step to a third of the link was adapted to (null would be: no steady picture in 15 s).
    const ours = runs[0]
    assert.ok(ours && typeof ours.adapt_down_s === 'number', `adapt down: ${ours?.adapt_down_s}`)
    assert.ok(ours.adapt_down_s >= 0 && ours.adapt_down_s < 15)
    assert.equal(runs[1]?.adapt_down_s, null, 'noVNC is not stepped')
  })
})

describe('bench input (smoke run, not a measurement)', () => {
  it('injects, clicks through the viewer and sees the photon', async () => {
    const result = await benchInput({ clicks: 3, log: () => {} })
    assert.equal(result.clicks, 3)
    assert.ok(result.inject_us_median > 0 && result.inject_us_median < 100_000)
    assert.ok(result.click_to_photon_ms_median > 0 && result.click_to_photon_ms_median < 3000)
  })
})

describe('bench audio (smoke run, not a measurement)', () => {
  it('times bursts from the desktop’s sink to the viewer’s speakers, and flips beside them', async () => {
    const r = await benchAudio({ seconds: 5, log: () => {} })
    assert.equal(r.bench, 'audio')
    assert.ok(r.bursts >= 3, `${r.bursts} bursts timed at both ends: ${JSON.stringify(r)}`)
    assert.ok(r.flips >= 3, `${r.flips} flips seen`)
    assert.ok(r.latency_ms_median > 0 && r.latency_ms_median < 1000, `median ${r.latency_ms_median}`)
    assert.ok(r.latency_ms_p95 >= r.latency_ms_median)
    assert.ok(Number.isFinite(r.av_offset_ms_median) && Math.abs(r.av_offset_ms_median) < 1000)
    assert.ok(r.glitches_per_min >= 0 && r.host_cpu_pct > 0)
  })
})

describe('bench signaling (smoke run, not a measurement)', () => {
  it('relays between peers in rooms on one instance, across two over Redis, and through a storm of newcomers, losing nothing', async () => {
    const result = await benchSignaling({
      peers: 100,
      rate: 500,
      seconds: 1,
      stormConcurrency: 50,
      log: () => {},
    })
    assert.deepEqual(
      result.runs.map((r) => [r.instances, r.storm !== undefined]),
      [
        [1, false],
        [2, false],
        [1, true],
      ],
    )
    const storm = result.runs[2]?.storm
    assert.ok(storm && storm.attempts_per_s > 0 && storm.admitted > 0, 'the storm got in somewhere')
    assert.ok(storm.peak_clients > 100 && storm.peak_mem_per_peer_kb > 0, 'the peak was measured')
    for (const run of result.runs) {
      assert.equal(run.peers, 100)
      assert.equal(run.lost, 0)
      assert.equal(run.errored, 0)
      assert.ok(run.relayed_msgs_per_s > 300, `relayed ${run.relayed_msgs_per_s}/s`)
      assert.ok(
        run.generator_cpu_pct > 0 && run.server_cpu_pct > 0,
        'what the generators and the server used',
      )
      assert.ok(run.p99_ms > 0 && run.mem_per_peer_kb > 0)
    }
  })
})

describe('bench transfer (smoke run, not a measurement)', () => {
  it('moves a file each way through the real host and Chromium with equal SHA-256', async () => {
    // 16 MiB: at ≈ 30 MB/s a 4 MiB transfer lasted ≈ 0.13 s, close to the 10 ms CPU-tick resolution
    // the host's CPU figure is read at (it once read 0).
    const result = await benchTransfer({ mb: 16, log: () => {} })
    assert.deepEqual(
      result.runs.map((r) => r.direction),
      ['viewer-to-host', 'host-to-viewer'],
    )
    for (const run of result.runs) {
      assert.equal(run.sha256_ok, true)
      assert.ok(run.mb_per_s > 0 && run.host_cpu_pct > 0)
      assert.ok((run.ceiling_mb_per_s ?? 0) > 0, 'the bare channel was measured as the reference')
    }
  })
})
