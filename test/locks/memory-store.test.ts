import { manualClock } from '../../src/clock.js'
import { createMemoryStore } from '../../src/open-store.js'
import { describeLockStoreContract } from './store-contract.js'

describeLockStoreContract('memory', async () => {
  const clock = manualClock()
  const store = createMemoryStore({ clock })
  return { store, clock, cleanup: () => store.close() }
})
