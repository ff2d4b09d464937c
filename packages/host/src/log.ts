import pino from 'pino'

/*
 * One pino logger per capability (`createLogger('display.x11')`), all writing
 * JSON lines to stderr so stdout stays free for the CLI's results.
 */
const root = pino(
  { level: process.env.SMOLDESK_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: true }),
)

export type Logger = pino.Logger

export function createLogger(name: string): Logger {
  return root.child({ name })
}
