import { parseArgs } from 'node:util'
import { SmolDeskError } from '@smoldesk/protocol'
import { EMBEDDED_DESKTOPS, type EmbeddedDesktopKind } from '../display/embedded/embedded-desktop.ts'
import { parseLayout } from '../display/embedded/xorg-config.ts'
import { invokeCommand, listenCommand } from './client-commands.ts'
import { NETWORK_OPTIONS } from './network-options.ts'
import { runCli } from './output.ts'
import { type AccessOptions, DEFAULT_WEB_PORT, runHost, runSignaling, runStart } from './run-host.ts'
import { SHARING_OPTIONS, sharingOptions } from './sharing-options.ts'

/** Options every room-creating command takes. */
const ACCESS_OPTIONS = {
  password: { type: 'string' },
  approval: { type: 'boolean' },
  'token-ttl': { type: 'string' },
} as const

function accessOptions(values: {
  password?: string
  approval?: boolean
  'token-ttl'?: string
}): AccessOptions {
  const ttl = values['token-ttl'] === undefined ? 8 * 3600 : Number(values['token-ttl'])
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) {
    throw new SmolDeskError('INVALID_ARGS', '--token-ttl is seconds, 1–86400')
  }
  return { password: values.password, approval: values.approval ?? false, tokenTtlSeconds: ttl }
}

/** Entry point behind ./smoldesk (after set-up): dispatches to one sub-command. */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'host': {
      const { values } = parseArgs({
        args: rest,
        options: {
          display: { type: 'string' },
          'ipc-port': { type: 'string' },
          signaling: { type: 'string' },
          room: { type: 'string' },
          ...ACCESS_OPTIONS,
          ...SHARING_OPTIONS,
        },
        strict: true,
      })
      await runHost({
        display: values.display,
        ipcPort: parsePort(values['ipc-port']),
        signalingUrl: values.signaling,
        roomId: values.room,
        access: accessOptions(values),
        sharing: sharingOptions(values),
      })
      return
    }
    case 'start': {
      const { values } = parseArgs({
        args: rest,
        options: {
          display: { type: 'string' },
          'ipc-port': { type: 'string' },
          monitors: { type: 'string' },
          backend: { type: 'string' },
          desktop: { type: 'string' },
          listen: { type: 'string' },
          port: { type: 'string' },
          room: { type: 'string' },
          allow: { type: 'string' },
          'link-alone': { type: 'boolean' },
          ...ACCESS_OPTIONS,
          ...NETWORK_OPTIONS,
          ...SHARING_OPTIONS,
        },
        strict: true,
      })
      const backend = values.backend ?? 'auto'
      if (backend !== 'auto' && backend !== 'xorg' && backend !== 'xvfb') {
        throw new SmolDeskError('INVALID_ARGS', '--backend must be auto, xorg or xvfb')
      }
      const desktop = values.desktop
      if (desktop === 'kde') {
        // DESIGN.md names it; KWin's screen casting delivered no frames headless (README: Display servers).
        throw new SmolDeskError(
          'UNAVAILABLE',
          `--desktop kde is not available yet: KDE is not a backend (see the README's Display servers); try ${EMBEDDED_DESKTOPS.join(', ')}`,
        )
      }
      if (desktop !== undefined && !EMBEDDED_DESKTOPS.includes(desktop as EmbeddedDesktopKind)) {
        throw new SmolDeskError('INVALID_ARGS', `--desktop must be one of ${EMBEDDED_DESKTOPS.join(', ')}`)
      }
      await runStart({
        display: values.display,
        desktop: desktop as EmbeddedDesktopKind | undefined,
        ipcPort: parsePort(values['ipc-port']),
        monitors: parseLayout(values.monitors ?? process.env.SMOLDESK_MONITORS ?? '1920x1080'),
        backend,
        listen: values.listen ?? '127.0.0.1',
        port: parsePort(values.port),
        roomId: values.room,
        access: { ...accessOptions(values), allow: values.allow, linkAlone: values['link-alone'] },
        network: values,
        sharing: sharingOptions(values),
      })
      return
    }
    case 'signaling': {
      const { values } = parseArgs({
        args: rest,
        options: { port: { type: 'string' }, listen: { type: 'string' }, ...NETWORK_OPTIONS },
        strict: true,
      })
      await runSignaling({
        host: values.listen ?? '127.0.0.1',
        port: parsePort(values.port) ?? DEFAULT_WEB_PORT,
        network: values,
      })
      return
    }
    case 'invoke':
      await invokeCommand(rest)
      return
    case 'listen':
      await listenCommand(rest)
      return
    default:
      throw new SmolDeskError('INVALID_ARGS', `unknown command '${command ?? ''}'`)
  }
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SmolDeskError('INVALID_ARGS', `bad port '${value}'`)
  }
  return port
}

runCli(main(process.argv.slice(2)))
