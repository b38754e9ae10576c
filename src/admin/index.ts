export {
  createAdminAuthenticator,
  type AdminAuthenticator,
  type AdminAuthenticatorOptions,
} from './create-admin-authenticator.js'
export { createAdminToken, type AdminToken } from './create-admin-token.js'
