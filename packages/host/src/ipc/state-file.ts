import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { type HostStateFile, HostStateFileSchema, SmolDeskError } from '@smoldesk/protocol'

export const STATE_FILE_NAME = 'host.json'

/** $SMOLDESK_STATE_DIR, else $XDG_RUNTIME_DIR/smoldesk, else ~/.local/state/smoldesk. */
export function resolveStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SMOLDESK_STATE_DIR) return env.SMOLDESK_STATE_DIR
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'smoldesk')
  return join(homedir(), '.local', 'state', 'smoldesk')
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Reads host.json; HOST_NOT_RUNNING when it is missing, malformed or left by a dead host. */
export async function readStateFile(dir: string): Promise<HostStateFile> {
  const path = join(dir, STATE_FILE_NAME)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new SmolDeskError('HOST_NOT_RUNNING', `no SmolDesk host is running (no ${path})`)
  }
  let parsed: HostStateFile
  try {
    parsed = HostStateFileSchema.parse(JSON.parse(text))
  } catch {
    throw new SmolDeskError('HOST_NOT_RUNNING', `${path} is not a valid host state file`)
  }
  if (!isAlive(parsed.pid)) {
    throw new SmolDeskError('HOST_NOT_RUNNING', `the host that wrote ${path} (pid ${parsed.pid}) is gone`)
  }
  return parsed
}

/**
 * Writes host.json with mode 0600 (it holds the IPC token) in a 0700
 * directory, atomically via rename. Refuses when a live host owns the file.
 */
export async function writeStateFile(dir: string, state: HostStateFile): Promise<string> {
  try {
    const existing = await readStateFile(dir)
    if (existing.pid !== state.pid) {
      throw new SmolDeskError(
        'HOST_ALREADY_RUNNING',
        `a SmolDesk host is already running (pid ${existing.pid}, state in ${dir}); stop it or set SMOLDESK_STATE_DIR`,
      )
    }
  } catch (err) {
    if (!(err instanceof SmolDeskError) || err.code !== 'HOST_NOT_RUNNING') throw err
  }
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, STATE_FILE_NAME)
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, `${JSON.stringify(state)}\n`, { mode: 0o600 })
  await chmod(temp, 0o600)
  await rename(temp, path)
  return path
}

/** Removes host.json if it is still ours (a newer host may have replaced it). */
export async function removeStateFile(dir: string, pid: number): Promise<void> {
  const path = join(dir, STATE_FILE_NAME)
  try {
    const current = HostStateFileSchema.parse(JSON.parse(await readFile(path, 'utf8')))
    if (current.pid !== pid) return
  } catch {
    return
  }
  await rm(path, { force: true })
}
