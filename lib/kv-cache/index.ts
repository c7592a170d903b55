/**
 * Paged KV cache policy (pure TypeScript): which pool block holds which tokens of which sequence,
 * reference counts, automatic prefix caching with LRU eviction, preemption, and sliding-window support
 * for GPT-Neo's local layers (window block tables, an optional second pool, memory accounting). Native
 * code owns the pool memory itself.
 */
export { BlockAllocator, type BlockAllocatorOptions } from './block-allocator.js';
export { type BlockHashFn, fnv1a64, fnv1a64BlockHash, ROOT_BLOCK_KEY } from './block-hash.js';
export { PrefixCache, type PrefixLink, type PrefixMatch, ROOT_LINK } from './prefix-cache.js';
export {
  type CreatedSequence, type CreateSequenceOptions, KvCacheManager, type KvCacheManagerOptions, type KvCacheStats,
  type WindowBlockTable,
} from './kv-cache-manager.js';
export {
  type BlockRange, type KvBytes, type KvBytesInput, kvBytesPerSequence, maxWindowBlocks, windowBlockRange,
} from './window.js';
export {
  type LocalPoolStats, type LocalSequenceView, type LocalTable, LocalWindowPool, type LocalWindowOptions,
} from './local-window-pool.js';
