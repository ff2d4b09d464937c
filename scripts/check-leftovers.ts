/*
 * Run after the test suite: fails if any process started by the tests is
 * still alive. Every child SmolDesk starts carries SMOLDESK_OWNER in its
 * environment; the suite's processes carry the run's tag or a `test-` tag.
 */
import { readdir, readFile } from 'node:fs/promises'

const runTag = process.env.SMOLDESK_OWNER ?? ''

async function leftovers(): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const owner = (await readFile(`/proc/${entry}/environ`, 'latin1'))
        .split('\0')
        .find((v) => v.startsWith('SMOLDESK_OWNER='))
        ?.slice('SMOLDESK_OWNER='.length)
      if (!owner || (owner !== runTag && !owner.startsWith('test-'))) continue
      const stat = await readFile(`/proc/${entry}/stat`, 'latin1')
      if (/\) Z /.test(stat)) continue
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'latin1')).replaceAll('\0', ' ').trim()
      found.push(`${entry} ${cmdline} (${owner})`)
    } catch {
      // ended while we looked
    }
  }
  return found
}

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
