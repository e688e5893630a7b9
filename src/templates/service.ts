/**
 * Prompt templates: saved prompts (and negative prompts) with a category and a favourite flag.
 */
import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { promptTemplates } from '../db/schema.js';
import { notFound } from '../errors.js';

/** A `prompt_templates` row. */
export type TemplateRow = typeof promptTemplates.$inferSelect;

/** The writable fields of a template (camelCase); `name` and `promptText` are required on create. */
export interface TemplateInput {
  name: string;
  description?: string | null;
  promptText: string;
  negativePrompt?: string | null;
  category?: string | null;
  isFavorite?: boolean;
}

/** Creates a template. */
export async function createTemplate(db: Db, input: TemplateInput): Promise<TemplateRow> {
  const [row] = await db.insert(promptTemplates).values(input).returning();
  return row!;
}

/** Templates, favourites first then by name; filtered by exact `category` and/or `favorite`. */
export async function listTemplates(db: Db, filter: { category?: string; favorite?: boolean } = {}): Promise<TemplateRow[]> {
  const where: SQL[] = [];
  if (filter.category !== undefined) where.push(eq(promptTemplates.category, filter.category));
  if (filter.favorite !== undefined) where.push(eq(promptTemplates.isFavorite, filter.favorite));
  return db
    .select()
    .from(promptTemplates)
    .where(and(...where))
    .orderBy(desc(promptTemplates.isFavorite), asc(promptTemplates.name), asc(promptTemplates.id));
}

/** One template. @throws AppError `not_found` */
export async function getTemplate(db: Db, id: string): Promise<TemplateRow> {
  const [row] = await db.select().from(promptTemplates).where(eq(promptTemplates.id, id));
  if (!row) throw notFound('template', id);
  return row;
}

/** Changes the given fields and `updated_at`. @throws AppError `not_found` */
export async function updateTemplate(db: Db, id: string, patch: Partial<TemplateInput>): Promise<TemplateRow> {
  const [row] = await db
    .update(promptTemplates)
    .set({ ...patch, updatedAt: sql`clock_timestamp()` })
    .where(eq(promptTemplates.id, id))
    .returning();
  if (!row) throw notFound('template', id);
  return row;
}

/** Deletes a template. @throws AppError `not_found` */
export async function deleteTemplate(db: Db, id: string): Promise<void> {
  const rows = await db.delete(promptTemplates).where(eq(promptTemplates.id, id)).returning({ id: promptTemplates.id });
  if (!rows[0]) throw notFound('template', id);
}
