/**
 * Named loggers for the viewer, one per capability, like the host's pino
 * loggers. Warnings and errors always reach the browser console; debug and
 * info only with `debug=1` in the page's query (or `smoldesk.debug` set in
 * localStorage), so a user can turn them on to report a problem.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

function verbose(): boolean {
  try {
    const query = new URLSearchParams(globalThis.location?.search ?? '')
    return query.get('debug') === '1' || globalThis.localStorage?.getItem('smoldesk.debug') === '1'
  } catch {
    return false
  }
}

const VERBOSE = verbose()

export function createLogger(name: string): Logger {
  const write = (level: LogLevel) => (fields: Record<string, unknown>, message: string) => {
    if (!VERBOSE && (level === 'debug' || level === 'info')) return
    // biome-ignore lint/suspicious/noConsole: this module is the viewer's one way to the console
    console[level](`[smoldesk.${name}] ${message}`, fields)
  }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') }
}
