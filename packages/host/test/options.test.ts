import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { environmentOptions } from '../src/options.ts'

describe('host options from the environment', () => {
  it('reads each switch in one place, and ignores what it does not understand', () => {
    assert.deepEqual(environmentOptions({}), {})
    assert.deepEqual(
      environmentOptions({
        SMOLDESK_CAPTURE: 'x11grab',
        SMOLDESK_DATA_STACK: 'werift',
        SMOLDESK_DATA_LINK_TIMEOUT_MS: '0',
      }),
      { captureHelper: false, dataStack: 'werift', dataLinkTimeoutMs: 0 },
    )
    assert.deepEqual(
      environmentOptions({
        SMOLDESK_CAPTURE: 'helper',
        SMOLDESK_DATA_STACK: 'x',
        SMOLDESK_DATA_LINK_TIMEOUT_MS: '-5',
      }),
      {},
    )
  })
})
