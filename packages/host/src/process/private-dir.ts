import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A private directory in the temp dir for one of SmolDesk's own servers (an
 * X server's, a sound server's), marked with the pid of the process that
 * owns it. A host killed with SIGKILL cannot remove its directories, so
 * every new one first removes those whose owner is gone.
 */
export async function makePrivateDir(prefix: string): Promise<string> {
  await sweepStaleDirs(prefix)
  const dir = await mkdtemp(join(tmpdir(), prefix))
  await writeFile(join(dir, 'owner.pid'), String(process.pid))
  return dir
}

async function sweepStaleDirs(prefix: string): Promise<void> {
  const base = tmpdir()
  for (const name of await readdir(base).catch(() => [])) {
    if (!name.startsWith(prefix)) continue
    const dir = join(base, name)
    const pid = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => 'NaN'))
    if (!Number.isInteger(pid) || pid <= 0) continue
    try {
      process.kill(pid, 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') await rm(dir, { recursive: true, force: true })
    }
  }
}
