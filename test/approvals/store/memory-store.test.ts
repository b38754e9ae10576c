import { createMemoryApprovalStore } from '../../../src/approvals/store/memory-store.js'
import { manualClock } from '../../../src/clock.js'
import { describeApprovalStoreContract } from '../store-contract.js'

describeApprovalStoreContract('memory', async () => {
  const clock = manualClock(Date.now())
  const store = createMemoryApprovalStore({ clock })
  return { store, clock, cleanup: () => store.close() }
})
