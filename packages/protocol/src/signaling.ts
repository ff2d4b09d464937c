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

/** Who a room member is: the room's creator (the sharing host), a viewer with control, or one who only watches. */
export const RoomRoleSchema = z.enum(['host', 'viewer', 'view-only'])
export type RoomRole = z.infer<typeof RoomRoleSchema>
export const ViewerRoleSchema = z.enum(['viewer', 'view-only'])
export type ViewerRole = z.infer<typeof ViewerRoleSchema>

/** A viewer token (JWT, compact form) passed through signaling to the host, which checks it. */
const Token = z.string().min(1).max(4096)
const Password = z.string().max(256)

export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('create-room'),
    roomId: RoomIdSchema.optional(),
    password: Password.optional(),
    /** Viewers wait in `join-pending` until the host sends `approve-join` or `deny-join`. */
    approval: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('join-room'),
    roomId: RoomIdSchema,
    password: Password.optional(),
    token: Token.optional(),
    /** A viewer may ask for less than control; the host has the last word. */
    role: ViewerRoleSchema.optional(),
  }),
  z.strictObject({ type: z.literal('leave-room') }),
  /** The host changes its room's password ('' removes it) or approval; answered with `room-updated`. */
  z.strictObject({
    type: z.literal('update-room'),
    password: Password.optional(),
    approval: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('approve-join'),
    peerId: ClientIdSchema,
    role: ViewerRoleSchema.optional(),
  }),
  z.strictObject({ type: z.literal('deny-join'), peerId: ClientIdSchema }),
  z.strictObject({
    type: z.literal('kick'),
    peerId: ClientIdSchema,
    code: ErrorCodeSchema.optional(),
    message: z.string().max(256).optional(),
  }),
  /** First message on a new connection after a drop: take back `clientId` and its room place. */
  z.strictObject({
    type: z.literal('resume'),
    clientId: ClientIdSchema,
    token: z.string().min(1).max(128),
    /** How many messages the session got (acknowledging clients): the server sends the rest again. */
    received: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  z.strictObject({ type: z.literal('offer'), targetId: ClientIdSchema, sdp: Sdp }),
  z.strictObject({ type: z.literal('answer'), targetId: ClientIdSchema, sdp: Sdp }),
  z.strictObject({
    type: z.literal('ice-candidate'),
    targetId: ClientIdSchema,
    candidate: IceCandidateSchema.nullable(),
  }),
  z.strictObject({ type: z.literal('ping') }),
  z.strictObject({ type: z.literal('pong') }),
  /** A client that connected with `?ack=1`: it has had the first `received` messages since its welcome. */
  z.strictObject({
    type: z.literal('ack'),
    received: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  }),
])
export type ClientMessage = z.infer<typeof ClientMessageSchema>

/**
 * A relayed message's number: [epoch, n], n counting up per sender within an
 * epoch (the instance that relayed it). A message given twice (sent again
 * after an instance died before it acknowledged) is the same [epoch, n], and
 * the receiver keeps the first. Optional: older servers do not number.
 */
const RelaySeqSchema = z.tuple([z.string().min(1).max(64), z.number().int().positive()]).optional()

/** Who a signed-in person is, as their organisation's identity provider said (single sign-on). */
export const VerifiedIdentitySchema = z.strictObject({
  sub: z.string().min(1).max(255),
  email: z.string().max(320).optional(),
  name: z.string().max(200).optional(),
  groups: z.array(z.string().max(200)).max(200),
  issuer: z.string().max(500),
})
export type VerifiedIdentity = z.infer<typeof VerifiedIdentitySchema>

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('welcome'),
    clientId: ClientIdSchema,
    /** The resume token: presented with `resume` after a dropped connection. */
    token: z.string(),
    heartbeatMs: z.number().int().positive().optional(),
    /** With single sign-on: whom this connection's session cookie names (absent: nobody signed in). */
    identity: VerifiedIdentitySchema.optional(),
  }),
  z.strictObject({
    type: z.literal('room-created'),
    roomId: RoomIdSchema,
    iceServers: z.array(IceServerSchema),
  }),
  z.strictObject({ type: z.literal('join-pending'), roomId: RoomIdSchema }),
  z.strictObject({
    type: z.literal('room-updated'),
    roomId: RoomIdSchema,
    password: z.boolean(),
    approval: z.boolean(),
  }),
  z.strictObject({
    type: z.literal('join-request'),
    peerId: ClientIdSchema,
    role: ViewerRoleSchema,
    token: Token.optional(),
    /** Whom the viewer signed in as (single sign-on), as this signaling server verified it. */
    identity: VerifiedIdentitySchema.optional(),
  }),
  z.strictObject({
    type: z.literal('room-joined'),
    roomId: RoomIdSchema,
    peers: z.array(ClientIdSchema),
    iceServers: z.array(IceServerSchema),
    role: RoomRoleSchema.optional(),
  }),
  z.strictObject({ type: z.literal('room-left'), roomId: RoomIdSchema }),
  z.strictObject({
    type: z.literal('peer-joined'),
    peerId: ClientIdSchema,
    role: RoomRoleSchema.optional(),
    token: Token.optional(),
    identity: VerifiedIdentitySchema.optional(),
  }),
  z.strictObject({ type: z.literal('peer-left'), peerId: ClientIdSchema }),
  z.strictObject({
    type: z.literal('kicked'),
    roomId: RoomIdSchema,
    code: ErrorCodeSchema,
    message: z.string(),
  }),
  z.strictObject({
    type: z.literal('resumed'),
    clientId: ClientIdSchema,
    token: z.string(),
    roomId: RoomIdSchema.optional(),
  }),
  z.strictObject({ type: z.literal('offer'), fromId: ClientIdSchema, sdp: Sdp, seq: RelaySeqSchema }),
  z.strictObject({ type: z.literal('answer'), fromId: ClientIdSchema, sdp: Sdp, seq: RelaySeqSchema }),
  z.strictObject({
    type: z.literal('ice-candidate'),
    fromId: ClientIdSchema,
    candidate: IceCandidateSchema.nullable(),
    seq: RelaySeqSchema,
  }),
  z.strictObject({ type: z.literal('ping') }),
  z.strictObject({ type: z.literal('pong') }),
  z.strictObject({
    type: z.literal('error'),
    code: ErrorCodeSchema,
    message: z.string(),
    retryAfterMs: z.number().int().nonnegative().optional(),
    /** For TARGET_GONE / OVERLOADED after a relay: whom the undelivered message was for. */
    targetId: ClientIdSchema.optional(),
    /** And which kind of message it was (offer, answer, ice-candidate). */
    refused: z.enum(['offer', 'answer', 'ice-candidate']).optional(),
  }),
])
export type ServerMessage = z.infer<typeof ServerMessageSchema>
