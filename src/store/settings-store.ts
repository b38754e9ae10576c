/** Settings written once and shared by every replica (the bootstrapped admin token hash). */
export interface SettingsStore {
  /**
   * Stores `value` under `name` unless a value is there already, and returns the value in force.
   * Never expires.
   */
  initSetting(name: string, value: string): Promise<string>
}
