import { z } from 'zod'
import { ErrorPayloadSchema } from './errors.ts'
import { EventNameSchema } from './events.ts'

/*
 * The IPC wire format: JSON-RPC 2.0 envelopes over one WebSocket, with two
 * departures: error codes are SmolDesk's string codes (not JSON-RPC
 * integers), and host events arrive as `event` notifications.
 *
 * Authentication rides on the WebSocket subprotocol list, because browsers
 * cannot set headers on a WebSocket: the client offers IPC_SUBPROTOCOL and
 * `${IPC_TOKEN_PREFIX}${token}`; the host answers with IPC_SUBPROTOCOL only.
 */
export const IPC_SUBPROTOCOL = 'smoldesk-ipc.v1'
export const IPC_TOKEN_PREFIX = 'smoldesk-token.'
/** Messages above this get MESSAGE_TOO_LARGE; the connection stays open. */
export const IPC_MAX_MESSAGE_BYTES = 1024 * 1024
/** Messages above this close the connection (1009): a peer that sends them is not a well-behaved client. */
export const IPC_HARD_LIMIT_BYTES = 8 * 1024 * 1024

export const LISTEN_METHOD = 'event.listen'
export const UNLISTEN_METHOD = 'event.unlisten'
export const ListenParamsSchema = z.strictObject({ event: EventNameSchema })

const RequestId = z.union([z.number().int().safe(), z.string().max(64)])

export const IpcRequestSchema = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: RequestId,
  method: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()).optional(),
})
export type IpcRequest = z.infer<typeof IpcRequestSchema>

export const IpcSuccessSchema = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: RequestId,
  result: z.unknown(),
})
export const IpcFailureSchema = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: RequestId.nullable(),
  error: ErrorPayloadSchema,
})
export const IpcEventNotificationSchema = z.strictObject({
  jsonrpc: z.literal('2.0'),
  method: z.literal('event'),
  params: z.strictObject({ event: z.string(), id: z.number().int(), payload: z.unknown() }),
})
export const IpcServerMessageSchema = z.union([
  IpcSuccessSchema,
  IpcFailureSchema,
  IpcEventNotificationSchema,
])
export type IpcServerMessage = z.infer<typeof IpcServerMessageSchema>

/** The contents of host.json, written by the host (mode 0600) for the CLI and tools. */
export const HostStateFileSchema = z.strictObject({
  port: z.number().int().min(1).max(65535),
  token: z.string().regex(/^[0-9a-f]{64}$/),
  pid: z.number().int().positive(),
})
export type HostStateFile = z.infer<typeof HostStateFileSchema>
