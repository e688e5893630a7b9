/**
 * Activities of the maintenance schedules: thin callers of the services in `src/maintenance/`,
 * each idempotent (running one twice leaves the same rows and files). Long ones heartbeat through
 * the wrapper in `index.ts` and at each chunk of work.
 */
import { heartbeat } from '@temporalio/activity';
import { expireShareLinks, type ExpireShareLinksResult } from '../src/maintenance/share-links.js';
import { findRetryableRetrievals } from '../src/maintenance/retrievals.js';
import { refreshModelCache, type RefreshModelCacheResult } from '../src/maintenance/models.js';
import { reconcileStorage, type ReconcileStorageResult } from '../src/maintenance/storage.js';
import { purgeTrash, type PurgeTrashResult } from '../src/maintenance/trash.js';
import type { ActivityDeps } from './index.js';

/** Builds the maintenance activities. */
export function createMaintenanceActivities({ database, config }: ActivityDeps) {
  const { db } = database;
  return {
    /** Ids of failed retrievals with attempts left (never a photo still `pending`/`processing`). */
    async findRetryableRetrievals(): Promise<{ photoIds: string[] }> {
      return { photoIds: await findRetryableRetrievals(db) };
    },
    /** Refreshes the model cache if InvokeAI answers; otherwise says why not. */
    async refreshModelCache(): Promise<RefreshModelCacheResult> {
      return refreshModelCache(db, config);
    },
    /** Deletes share links expired for longer than the retention. */
    async expireShareLinks(): Promise<ExpireShareLinksResult> {
      return expireShareLinks(db);
    },
    /** Purges photos in the trash for longer than the retention. */
    async purgeTrash(): Promise<PurgeTrashResult> {
      return purgeTrash(db, config.DATA_DIR, { onProgress: () => heartbeat() });
    },
    /** Quarantines files without a row, fails rows without a file; returns the counts. */
    async reconcileStorage(): Promise<ReconcileStorageResult> {
      return reconcileStorage(db, config.DATA_DIR, { onProgress: () => heartbeat() });
    },
  };
}
