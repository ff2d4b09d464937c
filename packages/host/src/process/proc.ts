import { readdir, readFile } from 'node:fs/promises'

/** A process as /proc shows it. */
export interface ProcInfo {
  pid: number
  ppid: number
  cmdline: string
  /** SMOLDESK_OWNER from its environment, if it has one. */
  owner: string | undefined
  /** user + system CPU time in clock ticks. */
  cpuTicks: number
  /** CPU time of its children that ended and were waited for (cutime + cstime), in clock ticks. */
  reapedChildTicks: number
  zombie: boolean
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS_PER_S = 100

async function readProc(pid: number): Promise<ProcInfo | undefined> {
  try {
    const [environ, cmdline, stat] = await Promise.all([
      readFile(`/proc/${pid}/environ`, 'latin1'),
      readFile(`/proc/${pid}/cmdline`, 'latin1'),
      readFile(`/proc/${pid}/stat`, 'latin1'),
    ])
    const owner = environ
      .split('\0')
      .find((v) => v.startsWith('SMOLDESK_OWNER='))
      ?.slice('SMOLDESK_OWNER='.length)
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {
      pid,
      ppid: Number(fields[1]),
      cmdline: cmdline.replaceAll('\0', ' ').trim(),
      owner,
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      reapedChildTicks: Number(fields[13]) + Number(fields[14]),
      zombie: fields[0] === 'Z',
    }
  } catch {
    return undefined // it ended while we looked
  }
}

/** Every live (non-zombie) process that matches. */
export async function findProcesses(match: (p: ProcInfo) => boolean): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number)
  const infos = await Promise.all(pids.map(readProc))
  return infos.filter((p): p is ProcInfo => p !== undefined && !p.zombie && match(p))
}

/**
 * Processes that match, plus all their descendants: Chromium's zygote
 * children start with an empty environment, so only the root carries a tag.
 */
export async function findProcessTrees(isRoot: (p: ProcInfo) => boolean): Promise<ProcInfo[]> {
  const all = await findProcesses(() => true)
  const inTree = new Set(all.filter(isRoot).map((p) => p.pid))
  for (let grew = true; grew; ) {
    grew = false
    for (const p of all) {
      if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
        inTree.add(p.pid)
        grew = true
      }
    }
  }
  return all.filter((p) => inTree.has(p.pid))
}

/** Resident memory of a process in KiB (VmRSS). */
export async function residentKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
}
