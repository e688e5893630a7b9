/**
 * `/api/templates`: prompt templates, CRUD, listed by `category` and `favorite`.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { iso } from '../../photos/view.js';
import { createTemplate, deleteTemplate, getTemplate, listTemplates, type TemplateInput, type TemplateRow, updateTemplate } from '../../templates/service.js';
import { errorResponses, IdParam, type App, type AppDeps } from '../http.js';
import { BoolQuery } from './photos.js';

const TemplateSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    prompt_text: z.string(),
    negative_prompt: z.string().nullable(),
    category: z.string().nullable(),
    is_favorite: z.boolean(),
    created_at: z.string().nullable().openapi({ format: 'date-time' }),
    updated_at: z.string().nullable().openapi({ format: 'date-time' }),
  })
  .openapi('PromptTemplate');

const fields = {
  name: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  description: z.string().max(5000).nullable().optional(),
  prompt_text: z.string().trim().min(1, 'must not be empty').max(10_000),
  negative_prompt: z.string().max(10_000).nullable().optional(),
  category: z.string().trim().min(1).max(100).nullable().optional(),
  is_favorite: z.boolean().optional(),
};
const CreateTemplate = z.strictObject(fields).openapi('CreatePromptTemplate');
const UpdateTemplate = z
  .strictObject({ ...fields, name: fields.name.optional(), prompt_text: fields.prompt_text.optional() })
  .openapi('UpdatePromptTemplate');
const ListQuery = z.object({ category: z.string().max(100).optional(), favorite: BoolQuery.optional() });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/api/templates',
    tags: ['templates'],
    summary: 'Create a prompt template',
    request: body(CreateTemplate),
    responses: { 201: json(TemplateSchema, 'Created'), ...errorResponses(400) },
  }),
  list: createRoute({
    method: 'get',
    path: '/api/templates',
    tags: ['templates'],
    summary: 'List prompt templates (favourites first), by category and/or favorite',
    request: { query: ListQuery },
    responses: { 200: json(z.object({ items: z.array(TemplateSchema) }), 'Templates'), ...errorResponses(400) },
  }),
  get: createRoute({
    method: 'get',
    path: '/api/templates/{id}',
    tags: ['templates'],
    summary: 'One prompt template',
    request: { params: IdParam },
    responses: { 200: json(TemplateSchema, 'The template'), ...errorResponses(400, 404) },
  }),
  update: createRoute({
    method: 'patch',
    path: '/api/templates/{id}',
    tags: ['templates'],
    summary: 'Change a prompt template',
    request: { params: IdParam, ...body(UpdateTemplate) },
    responses: { 200: json(TemplateSchema, 'The template'), ...errorResponses(400, 404) },
  }),
  delete: createRoute({
    method: 'delete',
    path: '/api/templates/{id}',
    tags: ['templates'],
    summary: 'Delete a prompt template',
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 404) },
  }),
};

/** Registers the `/api/templates` routes. */
export function registerTemplateRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;

  app.openapi(routes.create, async (c) => {
    const b = c.req.valid('json');
    return c.json(templateView(await createTemplate(db, toInput(b) as TemplateInput)), 201);
  });
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    return c.json({ items: (await listTemplates(db, { category: q.category, favorite: q.favorite })).map(templateView) }, 200);
  });
  app.openapi(routes.get, async (c) => c.json(templateView(await getTemplate(db, c.req.valid('param').id)), 200));
  app.openapi(routes.update, async (c) =>
    c.json(templateView(await updateTemplate(db, c.req.valid('param').id, toInput(c.req.valid('json')))), 200),
  );
  app.openapi(routes.delete, async (c) => {
    await deleteTemplate(db, c.req.valid('param').id);
    return c.body(null, 204);
  });
}

/** snake_case body → service input, leaving out fields that were not sent. */
function toInput(b: z.infer<typeof UpdateTemplate>): Partial<TemplateInput> {
  const out: Partial<TemplateInput> = {};
  if (b.name !== undefined) out.name = b.name;
  if (b.description !== undefined) out.description = b.description;
  if (b.prompt_text !== undefined) out.promptText = b.prompt_text;
  if (b.negative_prompt !== undefined) out.negativePrompt = b.negative_prompt;
  if (b.category !== undefined) out.category = b.category;
  if (b.is_favorite !== undefined) out.isFavorite = b.is_favorite;
  return out;
}

function templateView(r: TemplateRow) {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    prompt_text: r.promptText,
    negative_prompt: r.negativePrompt,
    category: r.category,
    is_favorite: r.isFavorite,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
  };
}
