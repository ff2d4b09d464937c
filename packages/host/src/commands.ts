import type { CommandArgs, CommandName, CommandResult } from '@smoldesk/protocol'

export type CommandHandlers = { [C in CommandName]: (args: CommandArgs<C>) => Promise<CommandResult<C>> }
