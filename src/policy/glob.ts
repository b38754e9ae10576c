/**
 * The policy's globs live in the shared leaf module `src/glob/`, which the verifier library also
 * uses (it must not depend on the policy). Re-exported here so policy code keeps its import path.
 */
export { globMatch, patternCovers } from '../glob/glob.js'
