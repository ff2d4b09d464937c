import { z } from 'zod'
import { ErrorCodeSchema } from './errors.ts'

/*
 * Signaling messages, `{ type, … }` JSON over WebSocket, with SmolDesk's
 * message names. Client → server messages are parsed strictly; relayed
 * payloads (SDP, ICE candidates) are bounded in size and passed on untouched.
 */

export const SIGNALING_MAX_MESSAGE_BYTES = 64 * 1024
export const RoomIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{4,64}$/, 'room ids are 4–64 letters, digits, _ or -')
export const ClientIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

const Sdp = z.string().min(1).max(60_000)
export const IceCandidateSchema = z.strictObject({
  candidate: z.string().max(2048),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
})
export type IceCandidate = z.infer<typeof IceCandidateSchema>

export const IceServerSchema = z.strictObject({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
})
export type IceServer = z.infer<typeof IceServerSchema>

export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('create-room'),
    roomId: RoomIdSchema.optional(),
    password: z.string().max(256).optional(),
  }),
  z.strictObject({
    type: z.literal('join-room'),
    roomId: RoomIdSchema,
    password: z.string().max(256).optional(),
  }),
  z.strictObject({ type: z.literal('leave-room') }),
  z.strictObject({ type: z.literal('offer'), targetId: ClientIdSchema, sdp: Sdp }),
  z.strictObject({ type: z.literal('answer'), targetId: ClientIdSchema, sdp: Sdp }),
  z.strictObject({
    type: z.literal('ice-candidate'),
    targetId: ClientIdSchema,
    candidate: IceCandidateSchema.nullable(),
  }),
  z.strictObject({ type: z.literal('ping') }),
  z.strictObject({ type: z.literal('pong') }),
])
export type ClientMessage = z.infer<typeof ClientMessageSchema>

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('welcome'), clientId: ClientIdSchema, token: z.string() }),
  z.strictObject({
    type: z.literal('room-created'),
    roomId: RoomIdSchema,
    iceServers: z.array(IceServerSchema),
  }),
  z.strictObject({
    type: z.literal('room-joined'),
    roomId: RoomIdSchema,
    peers: z.array(ClientIdSchema),
    iceServers: z.array(IceServerSchema),
  }),
  z.strictObject({ type: z.literal('room-left'), roomId: RoomIdSchema }),
  z.strictObject({ type: z.literal('peer-joined'), peerId: ClientIdSchema }),
  z.strictObject({ type: z.literal('peer-left'), peerId: ClientIdSchema }),
  z.strictObject({ type: z.literal('offer'), fromId: ClientIdSchema, sdp: Sdp }),
  z.strictObject({ type: z.literal('answer'), fromId: ClientIdSchema, sdp: Sdp }),
  z.strictObject({
    type: z.literal('ice-candidate'),
    fromId: ClientIdSchema,
    candidate: IceCandidateSchema.nullable(),
  }),
  z.strictObject({ type: z.literal('ping') }),
  z.strictObject({ type: z.literal('pong') }),
  z.strictObject({ type: z.literal('error'), code: ErrorCodeSchema, message: z.string() }),
])
export type ServerMessage = z.infer<typeof ServerMessageSchema>
