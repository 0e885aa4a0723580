export {
  createStateStore,
  stateFileName,
  StateStoreClosedError,
  type StateStore,
  type StateStoreOptions,
} from './state-store.js';
export { withFileLock, LockTimeoutError, type FileLockOptions, type LockTakeOver } from './file-lock.js';
export {
  currentSchemaVersion,
  defaultState,
  jobListLimit,
  jobLogLimit,
  normalizeState,
  StateFileError,
  type Action,
  type AdminSignInState,
  type JobRecord,
  type JobStatus,
  type NamespaceRecord,
  type Scope,
  type Settings,
  type State,
  type SyncRuleRecord,
  type TokenRecord,
  type UpstreamRecord,
} from './schema.js';
