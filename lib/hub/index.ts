/** Hugging Face Hub client: model sources → local directories, sharing the Hugging Face cache. */
export { downloadModel, resolveModelSource } from './resolve.js';
export { hubCacheDir } from './settings.js';
export { isCommitSha, validateRepoId, validateRevision } from './repo-id.js';
export type { HubOptions, HubProgress } from './types.js';
