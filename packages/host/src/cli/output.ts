import { SmolDeskError } from '@smoldesk/protocol'

/** The CLI's error contract: `{"code":…,"message":…}` on stderr, exit code 1. */
export function failAndExit(err: unknown): never {
  const error = SmolDeskError.from(err)
  process.stderr.write(`${JSON.stringify(error.toJSON())}\n`)
  process.exit(1)
}

/** Runs `shutdown` once on SIGINT/SIGTERM, then exits; a second signal exits at once. */
export function onShutdownSignal(shutdown: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130)
    stopping = true
    shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`smoldesk: shutdown failed: ${String(err)}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  process.on('SIGHUP', handler)
}

/** Runs a CLI entry point: bad arguments are INVALID_ARGS, any other failure keeps its code; exit 1 either way. */
export function runCli(main: Promise<void>): void {
  main.catch((err: unknown) => {
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      failAndExit(new SmolDeskError('INVALID_ARGS', err.message))
    }
    failAndExit(err)
  })
}
