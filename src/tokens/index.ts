export { audienceFor } from './audience.js'
export {
  type AccessTokenPayloadOptions,
  encodeAccessTokenPayload,
} from './encode-access-token-payload.js'
export {
  createKeyManager,
  type KeyManager,
  type KeyManagerOptions,
  type KeyRotation,
  type RotateOptions,
  type UntrustedKeySetAlarm,
} from './key-manager.js'
export type { KeyInfo, KeySlot, SigningAlg, SigningKey } from './key-set.js'
export { mintAccessToken, type MintAccessTokenOptions } from './mint-access-token.js'
export type { KeyFiles } from './read-key-files.js'
export { scopeFor } from './scope.js'
