/**
 * A photo as the API shows it: snake_case, ISO timestamps, `url` and `thumbnail_url`; never its
 * storage paths.
 */
import type { PhotoRow } from './upload.js';

/** The JSON of one photo in `/api/*` responses. Sizes in bytes, dimensions in px. */
export interface PhotoJson {
  id: string;
  filename: string;
  original_filename: string | null;
  width: number;
  height: number;
  file_size: number;
  mime_type: string;
  file_hash: string | null;
  created_at: string | null;
  is_generated: boolean;
  generation_prompt: string | null;
  generation_negative_prompt: string | null;
  generation_params: Record<string, unknown> | null;
  source_image_id: string | null;
  invoke_id: string | null;
  model_key: string | null;
  model_hash: string | null;
  model_name: string | null;
  retrieval_status: string | null;
  retrieval_attempts: number | null;
  last_retrieval_attempt: string | null;
  retrieval_error: string | null;
  deleted_at: string | null;
  url: string;
  thumbnail_url: string;
}

/** `/api/photos/{id}/file` and `/api/photos/{id}/thumbnail`. */
export function photoUrls(id: string): { url: string; thumbnail_url: string } {
  return { url: `/api/photos/${id}/file`, thumbnail_url: `/api/photos/${id}/thumbnail` };
}

/** The API JSON of a photo row. */
export function photoView(row: PhotoRow): PhotoJson {
  return {
    id: row.id,
    filename: row.filename,
    original_filename: row.originalFilename,
    width: row.width,
    height: row.height,
    file_size: row.fileSize,
    mime_type: row.mimeType,
    file_hash: row.fileHash,
    created_at: iso(row.createdAt),
    is_generated: row.isGenerated ?? false,
    generation_prompt: row.generationPrompt,
    generation_negative_prompt: row.generationNegativePrompt,
    generation_params: row.generationParams ?? null,
    source_image_id: row.sourceImageId,
    invoke_id: row.invokeId,
    model_key: row.modelKey,
    model_hash: row.modelHash,
    model_name: row.modelName,
    retrieval_status: row.retrievalStatus,
    retrieval_attempts: row.retrievalAttempts,
    last_retrieval_attempt: iso(row.lastRetrievalAttempt),
    retrieval_error: row.retrievalError,
    deleted_at: iso(row.deletedAt),
    ...photoUrls(row.id),
  };
}

/** ISO 8601 of a timestamp column, null stays null. */
export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}
