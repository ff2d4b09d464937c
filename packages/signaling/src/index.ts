export { RoomRegistry, randomRoomCode } from './rooms.ts'
export { type SignalingOptions, SignalingServer } from './server.ts'
