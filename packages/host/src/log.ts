import pino from 'pino'

/*
 * One pino logger per capability (`createLogger('display.x11')`), all writing
 * JSON lines to stderr so stdout stays free for the CLI's results. The last
 * RECENT_LOG_LINES lines at info or above are also kept in memory for the
 * host's control page (`get_recent_logs`).
 */

export const RECENT_LOG_LINES = 500

export interface LogLine {
  time: number
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'
  name: string
  msg: string
  /** The line's other fields (code, peer, error…), as JSON, cut to 2,000 characters. */
  detail?: string
}

const LEVELS: Record<number, LogLine['level']> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
}
const recent: LogLine[] = []

/** A pino stream that keeps the newest lines, parsed. */
const memory = {
  write(line: string): void {
    try {
      const { time, level, name, msg, pid: _pid, ...rest } = JSON.parse(line) as Record<string, unknown>
      const detail = Object.keys(rest).length > 0 ? JSON.stringify(rest).slice(0, 2000) : undefined
      recent.push({
        time: typeof time === 'number' ? time : Date.now(),
        level: LEVELS[Number(level)] ?? 'info',
        name: typeof name === 'string' ? name : '',
        msg: typeof msg === 'string' ? msg : '',
        ...(detail !== undefined && { detail }),
      })
      if (recent.length > RECENT_LOG_LINES) recent.splice(0, recent.length - RECENT_LOG_LINES)
    } catch {}
  },
}

const wanted = process.env.SMOLDESK_LOG_LEVEL ?? 'info'
/** What goes to stderr (SMOLDESK_LOG_LEVEL; an unknown name means info). */
const stderrLevel = (pino.levels.values[wanted] !== undefined ? wanted : 'info') as pino.Level
const root = pino(
  // The logger lets through what either stream wants: stderr's level, and info for the memory.
  { level: (pino.levels.values[stderrLevel] ?? 30) < 30 ? stderrLevel : 'info', base: { pid: process.pid } },
  pino.multistream([
    { level: stderrLevel, stream: pino.destination({ fd: 2, sync: true }) },
    { level: 'info', stream: memory },
  ]),
)

export type Logger = pino.Logger

export function createLogger(name: string): Logger {
  return root.child({ name })
}

/**
 * The audit trail (who joined or was refused, as whom, with which role): on
 * stderr and in the control page's log whatever SMOLDESK_LOG_LEVEL says, as
 * a record must not vanish because someone asked for fewer messages.
 */
export const audit: Logger = pino(
  { level: 'info', base: { pid: process.pid, name: 'audit' } },
  pino.multistream([
    { level: 'info', stream: pino.destination({ fd: 2, sync: true }) },
    { level: 'info', stream: memory },
  ]),
)

/** The newest `limit` lines kept, oldest first. */
export function recentLogLines(limit = 100): LogLine[] {
  return recent.slice(-limit)
}
