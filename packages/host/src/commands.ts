import { type CommandArgs, type CommandName, type CommandResult, SmolDeskError } from '@smoldesk/protocol'

export type CommandHandlers = { [C in CommandName]: (args: CommandArgs<C>) => Promise<CommandResult<C>> }

/**
 * Commands whose capability a later part of SmolDesk builds. They are
 * registered with their full argument schemas (bad arguments still get
 * INVALID_ARGS) and answer UNAVAILABLE until then: never a fake success.
 */
export function notYet(command: CommandName, capability: string): () => Promise<never> {
  return () =>
    Promise.reject(
      new SmolDeskError(
        'UNAVAILABLE',
        `${command}: ${capability} is not available in this SmolDesk build yet`,
      ),
    )
}
