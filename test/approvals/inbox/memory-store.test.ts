import { createMemoryInboxStore } from '../../../src/approvals/inbox/memory-store.js'
import { manualClock } from '../../../src/clock.js'
import { describeInboxStoreContract } from './store-contract.js'

describeInboxStoreContract('memory', async () => {
  const clock = manualClock(Date.now())
  return { store: createMemoryInboxStore({ clock }), clock }
})
