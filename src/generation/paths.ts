/**
 * Where generated images live under DATA_DIR (seed 003 §1.4). Paths are relative to DATA_DIR, as
 * stored in `photos.local_storage_path` / `local_thumbnail_path`.
 */
import { dayFolder } from '../storage/files.js';

/** `photos/generated/sessions/{session}/{step}/variants/{photo}.png` and its WebP thumbnail. */
export function variantPaths(sessionId: string, stepId: string, photoId: string) {
  return {
    file: `photos/generated/sessions/${sessionId}/${stepId}/variants/${photoId}.png`,
    thumbnail: `photos/thumbnails/generated/sessions/${sessionId}/${stepId}/variants/${photoId}.webp`,
  };
}

/** The selected image's copies: in the session tree (`selected/`) and under `completed/{yyyy-mm-dd}/`. */
export function selectionPaths(sessionId: string, stepId: string, photoId: string, selectedAt: Date) {
  const day = dayFolder(selectedAt);
  return {
    selectedDir: `photos/generated/sessions/${sessionId}/${stepId}/selected`,
    selectedThumbDir: `photos/thumbnails/generated/sessions/${sessionId}/${stepId}/selected`,
    selected: `photos/generated/sessions/${sessionId}/${stepId}/selected/${photoId}.png`,
    selectedThumb: `photos/thumbnails/generated/sessions/${sessionId}/${stepId}/selected/${photoId}.webp`,
    completed: `photos/generated/completed/${day}/${photoId}.png`,
    completedThumb: `photos/thumbnails/generated/completed/${day}/${photoId}.webp`,
  };
}
