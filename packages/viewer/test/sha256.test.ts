import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { fileHasher } from '../src/sha256.ts'

describe('file SHA-256 in the page', () => {
  it('hashes in chunks like the platform does, with the WebAssembly hasher and with the fallback', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const expected = createHash('sha256').update(data).digest('hex')
    await new Promise((resolve) => setTimeout(resolve, 200)) // the WebAssembly instance is made at load
    // Two at once: the first takes the ready WebAssembly instance, the second falls back to JavaScript.
    const hashers = [fileHasher(), fileHasher()]
    for (let at = 0; at < data.length; at += 65_536) {
      for (const h of hashers) h.update(data.subarray(at, at + 65_536))
    }
    assert.deepEqual(
      hashers.map((h) => h.digest()),
      [expected, expected],
    )
    // A finished hasher's instance is reused, reset, for the next file.
    const again = fileHasher()
    again.update(new Uint8Array([1, 2, 3]))
    assert.equal(
      again.digest(),
      createHash('sha256')
        .update(Buffer.from([1, 2, 3]))
        .digest('hex'),
    )
  })
})
