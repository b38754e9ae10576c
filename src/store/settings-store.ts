/** A replaceable setting as stored: its version (1 for the first write) and its data. */
export interface VersionedSetting {
  version: number
  /** Opaque to the store (the stored policy: its sealed envelope). */
  data: string
}

/**
 * Settings shared by every replica: write-once ones (the bootstrapped admin token hash) and
 * replaceable ones written by compare-and-set (the stored policy), which replicas poll by version.
 */
export interface SettingsStore {
  /**
   * Stores `value` under `name` unless a value is there already, and returns the value in force.
   * Never expires.
   */
  initSetting(name: string, value: string): Promise<string>

  /** The version of replaceable setting `name` alone (cheap enough to poll); null when never written. */
  settingVersion(name: string): Promise<number | null>

  /** Replaceable setting `name` with its version; null when never written. */
  getVersionedSetting(name: string): Promise<VersionedSetting | null>

  /**
   * Compare-and-set of replaceable setting `name`: writes `data` as version `expectedVersion + 1`
   * (1 when `expectedVersion` is null and none exists). False, writing nothing, when the version in
   * the store is not `expectedVersion` (another writer won). Never expires.
   */
  putVersionedSetting(name: string, data: string, expectedVersion: number | null): Promise<boolean>
}

