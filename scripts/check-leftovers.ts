/*
 * Run after the test suite: fails if any process started by the tests is
 * still alive. Every child SmolDesk starts carries SMOLDESK_OWNER in its
 * environment; the suite's processes carry the run's tag or a `test-` tag.
 */
import { findProcesses } from '../packages/host/src/process/proc.ts'

const runTag = process.env.SMOLDESK_OWNER ?? ''

const leftovers = async () =>
  (
    await findProcesses(
      (p) =>
        p.pid !== process.pid && p.owner !== undefined && (p.owner === runTag || p.owner.startsWith('test-')),
    )
  ).map((p) => `${p.pid} ${p.cmdline} (${p.owner})`)

// Give processes that are being torn down a moment to go.
let left = await leftovers()
for (let i = 0; i < 20 && left.length > 0; i++) {
  await new Promise((resolve) => setTimeout(resolve, 250))
  left = await leftovers()
}
if (left.length > 0) {
  console.error(`leftover processes after the tests:\n  ${left.join('\n  ')}`)
  process.exit(1)
}
console.error('no leftover processes')
