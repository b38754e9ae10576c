import { manualClock } from '../../../src/clock.js'
import { createMemoryAuthorizationStore } from '../../../src/authorization/store/memory-store.js'
import { describeAuthorizationStoreContract } from '../store-contract.js'

describeAuthorizationStoreContract('memory', async () => {
  const clock = manualClock(Date.now())
  return { store: createMemoryAuthorizationStore({ clock }), clock, cleanup: async () => undefined }
})
