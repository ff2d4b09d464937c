export {
  DEFAULT_HTTP_GUARD,
  guardHttpServer,
  HTTP_TIMEOUT_CHECK_MS,
  type HttpGuardOptions,
} from './http-guard.ts'
export { addressKey, backoffRemainingMs, DEFAULT_BACKOFF, KeyedBuckets, TokenBucket } from './limits.ts'
export { hashPassword, randomRoomCode, verifyPassword } from './passwords.ts'
export { DEFAULT_LIMITS, type SignalingLimits, type SignalingOptions, SignalingServer } from './server.ts'
export { fetchTrusting } from './sso/ca-fetch.ts'
export { Sealer } from './sso/sessions.ts'
export { SsoLogin, type SsoOptions } from './sso/sso-login.ts'
export { LocalBus, MemoryStore, type SignalingBus, type SignalingStore } from './store.ts'
export { type TurnOptions, turnCredentials } from './turn.ts'
