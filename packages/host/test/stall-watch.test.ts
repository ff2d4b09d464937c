import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { recentLogLines } from '../src/log.ts'
import { StallWatch } from '../src/process/stall-watch.ts'

describe('the host’s event-loop stall watch', () => {
  it('says in the log how long the host did not run, and nothing while it runs', async () => {
    const watch = new StallWatch()
    try {
      await sleep(500)
      assert.equal(watch.count, 0, 'an idle loop is not a stall')
      // The host busy for 400 ms (a long garbage collection, or no core free for it).
      const until = performance.now() + 400
      while (performance.now() < until) {}
      await sleep(150)
      assert.equal(watch.count, 1)
      // At least the report bound, at most the busy time and a busy machine's lateness on top.
      assert.ok(watch.longestMs >= 250 && watch.longestMs <= 1500, `${watch.longestMs} ms`)
      const line = recentLogLines(20).find((l) => l.msg === 'event loop stalled')
      assert.ok(line, 'logged as a warning')
      assert.equal(line.level, 'warn')
      assert.equal(JSON.parse(line.detail ?? '{}').stalledMs, Math.round(watch.longestMs))
    } finally {
      watch.close()
    }
  })
})
