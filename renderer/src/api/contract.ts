/**
 * The admin API's contract, re-exported for the GUI. The source of truth is `registry/admin/contract.ts`
 * (types and plain string constants, no Node import), so server and GUI cannot drift apart.
 */
export type * from '../../../registry/admin/contract.js';
export { adminPaths, adminRoutes, tagSorts } from '../../../registry/admin/contract.js';
