import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseLayout } from '../src/display/embedded/xorg-config.ts'

describe('--monitors', () => {
  it('takes sizes left to right, and names the part a typo is in with INVALID_ARGS', () => {
    assert.deepEqual(parseLayout('1920x1080, 1280x720'), [
      { width: 1920, height: 1080 },
      { width: 1280, height: 720 },
    ])
    assert.throws(() => parseLayout('1920x1080,1920x10x80'), {
      code: 'INVALID_ARGS',
      message: /'1920x10x80' in '1920x1080,1920x10x80'/,
    })
    assert.throws(() => parseLayout('9000x9000'), { code: 'INVALID_ARGS' })
    assert.throws(() => parseLayout(Array(17).fill('640x480').join(',')), { code: 'INVALID_ARGS' })
  })
})
