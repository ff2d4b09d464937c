import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CAPTURE_DEFAULTS,
  COMMANDS,
  dataHeaderBytes,
  decodeFrame,
  decodeInputFrame,
  EVENTS,
  encodeButton,
  encodeData,
  encodeKey,
  encodeMove,
  encodeRelease,
  encodeScroll,
  encodeText,
  InputEventSchema,
  parseDataLinkMessage,
  resolveCaptureConfig,
  ScreenCaptureConfigSchema,
  SmolDeskError,
  writeDataHeader,
} from '../src/index.ts'

describe('ScreenCaptureConfig', () => {
  it('applies every default from one place', () => {
    const resolved = resolveCaptureConfig(1, ScreenCaptureConfigSchema.parse({}))
    assert.deepEqual(resolved, {
      monitorIndex: 1,
      fps: 30,
      quality: 80,
      codec: 'H264',
      hardwareAcceleration: 'None',
      captureCursor: true,
      // Sound when a sound server answers; the host decides.
      captureAudio: 'auto',
      audioBitrateKbps: 128,
      keyframeIntervalFrames: CAPTURE_DEFAULTS.keyframeIntervalFrames,
      bitrateKbps: undefined,
      latencyMode: 'UltraLow',
      advanced: {},
    })
  })

  it('accepts keyframe_interval as the compatible name of keyframe_interval_frames', () => {
    assert.equal(
      resolveCaptureConfig(0, ScreenCaptureConfigSchema.parse({ keyframe_interval: 60 }))
        .keyframeIntervalFrames,
      60,
    )
    assert.equal(
      ScreenCaptureConfigSchema.safeParse({ keyframe_interval: 60, keyframe_interval_frames: 30 }).success,
      false,
    )
  })

  it('refuses out-of-range and unknown values, naming the field', () => {
    const bad: [unknown, string][] = [
      [{ fps: 0 }, 'fps'],
      [{ fps: 1000 }, 'fps'],
      [{ fps: 29.97 }, 'fps'],
      [{ quality: 101 }, 'quality'],
      [{ codec: 'H265' }, 'codec'],
      [{ hardware_acceleration: 'CUDA' }, 'hardware_acceleration'],
      [{ advanced_options: { preset: 'placebo; rm -rf /' } }, 'advanced_options.preset'],
      [{ advanced_options: { extra_params: { vf: 'movie=/etc/passwd' } } }, 'advanced_options.extra_params'],
      [{ advanced_options: { extra_params: { bf: '2 -f null' } } }, 'advanced_options.extra_params.bf'],
      [{ surprise: true }, ''],
    ]
    for (const [config, field] of bad) {
      const result = ScreenCaptureConfigSchema.safeParse(config)
      assert.equal(result.success, false, JSON.stringify(config))
      const paths = result.error?.issues.map((i) => i.path.join('.')) ?? []
      assert.ok(
        paths.some((p) => p === field || p.startsWith(field)),
        `${JSON.stringify(config)} → ${paths.join(',')}`,
      )
    }
    assert.equal(
      ScreenCaptureConfigSchema.safeParse({
        advanced_options: { extra_params: { bf: 0, 'intra-refresh': true } },
      }).success,
      true,
    )
  })
})

describe('InputEvent', () => {
  it('takes DOM key codes and bounded text only', () => {
    assert.ok(
      InputEventSchema.safeParse({ event_type: 'KeyPress', key_code: 'KeyA', modifiers: ['Shift'] }).success,
    )
    assert.ok(!InputEventSchema.safeParse({ event_type: 'KeyPress', key_code: '$(reboot)' }).success)
    assert.ok(!InputEventSchema.safeParse({ event_type: 'Text', text: 'x'.repeat(5000) }).success)
    assert.ok(!InputEventSchema.safeParse({ event_type: 'MouseMove', x: Number.POSITIVE_INFINITY }).success)
    assert.ok(!InputEventSchema.safeParse({ event_type: 'MouseButton', button: 'Sixth' }).success)
  })
})

describe('contracts', () => {
  it('has every command of the original interface document', () => {
    for (const name of [
      'get_display_server',
      'get_monitors',
      'start_capture',
      'stop_capture',
      'send_input_event',
      'set_input_enabled',
      'configure_input_forwarding',
      'get_video_codecs',
      'get_hardware_acceleration_options',
      'get_clipboard_text',
      'set_clipboard_text',
      'initialize_security',
    ]) {
      assert.ok(name in COMMANDS, name)
    }
    for (const name of [
      'transfer-started',
      'transfer-progress',
      'transfer-completed',
      'clipboard-changed',
      'error',
    ]) {
      assert.ok(name in EVENTS, name)
    }
  })

  it('turns anything thrown into a coded error', () => {
    assert.deepEqual(SmolDeskError.from(new Error('boom')).toJSON(), { code: 'INTERNAL', message: 'boom' })
    assert.deepEqual(SmolDeskError.from({ code: 'TIMEOUT', message: 'late' }).toJSON(), {
      code: 'TIMEOUT',
      message: 'late',
    })
    assert.equal(SmolDeskError.from({ code: 'MADE_UP', message: 'x' }).code, 'INTERNAL')
  })
})

describe('binary input frames', () => {
  it('round-trips every kind', () => {
    assert.deepEqual(decodeInputFrame(encodeMove(1, 10.5, 20)), {
      seq: 1,
      release: false,
      event: { event_type: 'MouseMove', x: 10.5, y: 20 },
    })
    assert.deepEqual(decodeInputFrame(encodeButton(2, 'Right', true, 1, 2)).release, false)
    assert.deepEqual(decodeInputFrame(encodeKey(3, 'KeyA', true, ['Shift', 'Meta'])), {
      seq: 3,
      release: false,
      event: { event_type: 'KeyPress', key_code: 'KeyA', modifiers: ['Shift', 'Meta'] },
    })
    // With the character the viewer's layout typed (a German ä on the key US calls Quote).
    assert.deepEqual(decodeInputFrame(encodeKey(3, 'Quote', true, [], 'ä')), {
      seq: 3,
      release: false,
      event: { event_type: 'KeyPress', key_code: 'Quote', key: 'ä', modifiers: [] },
    })
    assert.throws(() => decodeInputFrame(encodeKey(3, 'KeyA', true, [], 'ab')), { code: 'INVALID_ARGS' })
    assert.throws(() => decodeInputFrame(encodeKey(3, 'KeyA', true, [], '\u0007')), { code: 'INVALID_ARGS' })
    assert.deepEqual(decodeInputFrame(encodeText(4, 'Grüße €😀')), {
      seq: 4,
      release: false,
      event: { event_type: 'Text', text: 'Grüße €😀' },
    })
    assert.deepEqual(decodeInputFrame(encodeScroll(5, 0, -120)), {
      seq: 5,
      release: false,
      event: { event_type: 'MouseScroll', delta_x: 0, delta_y: -120 },
    })
    assert.deepEqual(decodeInputFrame(encodeRelease(6)), { seq: 6, release: true })
  })

  it('survives 20,000 random and truncated frames with coded errors only', () => {
    let seed = 42
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const valid = [
      encodeMove(1, 5, 5),
      encodeButton(2, 'Left', true, 3, 4),
      encodeKey(3, 'Enter', false, []),
      encodeKey(3, 'KeyE', true, ['Shift'], 'É'),
      encodeText(4, 'hé'),
    ]
    let errors = 0
    let decoded = 0
    for (let i = 0; i < 20_000; i++) {
      let frame: Uint8Array
      const base = valid[i % valid.length] ?? new Uint8Array()
      if (i % 3 === 0) frame = base.subarray(0, Math.floor(rand() * base.length))
      else if (i % 3 === 1) {
        frame = Uint8Array.from(base)
        frame[Math.floor(rand() * frame.length)] = Math.floor(rand() * 256)
      } else frame = Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256))
      try {
        decodeInputFrame(frame)
        decoded++
      } catch (err) {
        assert.ok(err instanceof SmolDeskError, String(err))
        assert.equal(err.code, 'INVALID_ARGS')
        errors++
      }
    }
    assert.equal(errors + decoded, 20_000)
    assert.ok(errors > 10_000, `${errors} refused`)
  })
})

describe('data-link messages', () => {
  it('reads offers, answers and candidates, and nothing else', () => {
    assert.deepEqual(parseDataLinkMessage('{"type":"answer","sdp":"v=0"}'), { type: 'answer', sdp: 'v=0' })
    assert.deepEqual(parseDataLinkMessage('{"type":"candidate","candidate":"c","mid":"0"}'), {
      type: 'candidate',
      candidate: 'c',
      mid: '0',
    })
    for (const bad of [
      'not json',
      '{"type":"answer"}',
      '{"type":"answer","sdp":"v=0","extra":1}',
      '{"type":"hello"}',
      '{"__proto__":{"type":"answer"}}',
      JSON.stringify({ type: 'offer', sdp: 'x'.repeat(30_000) }),
      new Uint8Array([1, 2]),
      undefined,
    ]) {
      assert.equal(parseDataLinkMessage(bad), undefined, String(bad).slice(0, 40))
    }
  })
})

describe('file data frames', () => {
  it('writes the header in place for a reused buffer, and reads back id, offset and payload', () => {
    const id = 'a1B2_c3-d4'
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
    const buffer = new Uint8Array(8 + dataHeaderBytes(id) + payload.length)
    const frame = buffer.subarray(8) // not at the start of its ArrayBuffer
    frame.set(payload, dataHeaderBytes(id))
    const offset = 2 ** 40 + 12345
    const decoded = decodeFrame(writeDataHeader(frame, id, offset))
    assert.equal(decoded.kind, 'data')
    if (decoded.kind !== 'data') return
    assert.equal(decoded.id, id)
    assert.equal(decoded.offset, offset)
    assert.deepEqual(decoded.payload, payload)
    assert.deepEqual(encodeData(id, offset, payload), frame)
    assert.throws(() => writeDataHeader(frame, '../x', 0), { code: 'INVALID_ARGS' })
  })
})
