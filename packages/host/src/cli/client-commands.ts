import { IpcClient, isEventName, SmolDeskError } from '@smoldesk/protocol'
import { readStateFile, resolveStateDir } from '../ipc/state-file.ts'
import { failAndExit, onShutdownSignal } from './output.ts'

async function connect(): Promise<IpcClient> {
  const state = await readStateFile(resolveStateDir())
  return IpcClient.connect({ url: `ws://127.0.0.1:${state.port}/ipc`, token: state.token })
}

/** `smoldesk invoke <command> ['<json args>']`: prints the JSON result on stdout. */
export async function invokeCommand(argv: string[]): Promise<void> {
  const [command, json, ...rest] = argv
  try {
    if (!command || rest.length > 0) {
      throw new SmolDeskError('INVALID_ARGS', "usage: smoldesk invoke <command> ['<json args>']")
    }
    let args: Record<string, unknown> = {}
    if (json !== undefined) {
      let parsed: unknown
      try {
        parsed = JSON.parse(json)
      } catch {
        throw new SmolDeskError('INVALID_JSON', 'the arguments are not valid JSON')
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new SmolDeskError('INVALID_ARGS', 'the arguments must be a JSON object')
      }
      args = parsed as Record<string, unknown>
    }
    const client = await connect()
    try {
      const result = await client.invoke(command, args)
      process.stdout.write(`${JSON.stringify(result ?? null)}\n`)
    } finally {
      client.close()
    }
  } catch (err) {
    failAndExit(err)
  }
}

/** `smoldesk listen <event>`: one JSON line (the payload) per event until interrupted. */
export async function listenCommand(argv: string[]): Promise<void> {
  const [event, ...rest] = argv
  try {
    if (!event || rest.length > 0) throw new SmolDeskError('INVALID_ARGS', 'usage: smoldesk listen <event>')
    if (!isEventName(event)) throw new SmolDeskError('INVALID_ARGS', `unknown event '${event}'`)
    const client = await connect()
    await client.listen(event, (e) => {
      process.stdout.write(`${JSON.stringify(e.payload)}\n`)
    })
    onShutdownSignal(async () => client.close())
    // Stays alive on the socket; when the host goes away, say so and fail.
    await new Promise<never>((_, reject) => {
      const timer = setInterval(() => {
        if (client.closed) {
          clearInterval(timer)
          reject(new SmolDeskError('CONNECTION_FAILED', 'the host closed the connection'))
        }
      }, 250)
    })
  } catch (err) {
    failAndExit(err)
  }
}
