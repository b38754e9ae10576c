export {
  createAdminAuthenticator,
  type AdminAuthenticator,
  type AdminAuthenticatorOptions,
} from './create-admin-authenticator.js'
export { createAdminToken, type AdminToken } from './create-admin-token.js'
export { ADMIN_TOKEN_SETTING, bootstrapAdminToken } from './bootstrap-admin-token.js'
