/**
 * JSON-Schema validation of `enqueue_batch` bodies against the real InvokeAI OpenAPI
 * (`shared/reference/invokeai-openapi.json`, 3 MB). Used by the graph tests and by the InvokeAI
 * test double. Compiled lazily and cached per process: the body schema once (with the 307-way
 * node union replaced by "any object"), then one validator per node type actually seen.
 *
 * Errors come back FastAPI-shaped (`{type, loc, msg, input}`), `loc` like pydantic's
 * (`["body","batch","graph","nodes",<id>,<type>,<field>...]`). Stricter than pydantic in one way:
 * no lax coercion (a numeric string for an int field is refused here, accepted by the server).
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ValidationIssue } from '../../src/invokeai/errors.js';

// ajv-formats is CJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => void;

/**
 * The real server's OpenAPI: `../shared/reference/invokeai-openapi.json` beside the checkout when it
 * is there, else the gzipped copy kept with the double (so `npm run invokeai:double` works from a
 * checkout alone). Refresh the copy with `gzip -9 -c ../shared/reference/invokeai-openapi.json >
 * test/doubles/invokeai/invokeai-openapi.json.gz`.
 */
export const INVOKEAI_OPENAPI_PATH = fileURLToPath(
  new URL('../../../shared/reference/invokeai-openapi.json', import.meta.url),
);
const VENDORED_OPENAPI_PATH = fileURLToPath(new URL('../doubles/invokeai/invokeai-openapi.json.gz', import.meta.url));

function readOpenApi(): string {
  return existsSync(INVOKEAI_OPENAPI_PATH)
    ? readFileSync(INVOKEAI_OPENAPI_PATH, 'utf8')
    : gunzipSync(readFileSync(VENDORED_OPENAPI_PATH)).toString('utf8');
}

const ROOT_ID = 'https://invokeai.local/openapi.json';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };

/** What the OpenAPI declares about one node type. */
export interface InvocationInfo {
  /** component name, e.g. `NoiseInvocation` */
  schemaName: string;
  /** every declared field (batch data may target these) */
  fields: Set<string>;
  /** fields an edge may feed (every declared field but the node attributes id/type/use_cache/...) */
  inputFields: Set<string>;
  /** fields of the output an edge may read */
  outputFields: Set<string>;
  /** the output's `type` const, e.g. `image_output` */
  outputType: string;
  /** true when unknown keys are kept (core_metadata) */
  allowsExtra: boolean;
}

let cache:
  | {
      schemas: Record<string, JsonSchema>;
      ajv: Ajv2020;
      body: ValidateFunction;
      catalog: Map<string, InvocationInfo>;
      nodeValidators: Map<string, ValidateFunction>;
    }
  | undefined;

function load() {
  if (cache) return cache;
  const doc = JSON.parse(readOpenApi()) as {
    components: { schemas: Record<string, JsonSchema> };
  };
  const schemas = { ...doc.components.schemas };
  const graph = schemas.Graph!;
  // Nodes are checked one by one against their own type's schema (see validateNodes).
  schemas.Graph = {
    ...graph,
    properties: { ...graph.properties, nodes: { type: 'object', additionalProperties: { type: 'object' } } },
  };
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, discriminator: false });
  addFormats(ajv);
  ajv.addFormat('binary', true);
  ajv.addSchema({ $id: ROOT_ID, components: { schemas } });
  const body = ajv.getSchema(`${ROOT_ID}#/components/schemas/Body_enqueue_batch`)!;

  const catalog = new Map<string, InvocationInfo>();
  for (const [name, s] of Object.entries(schemas)) {
    if (s.class !== 'invocation') continue;
    const type = (s.properties?.type as { const?: string } | undefined)?.const;
    if (!type) continue;
    const outRef = ((s.output as { $ref?: string } | undefined)?.$ref ?? '').split('/').pop() ?? '';
    const out = schemas[outRef];
    const props = s.properties ?? {};
    catalog.set(type, {
      schemaName: name,
      fields: new Set(Object.keys(props)),
      inputFields: new Set(Object.keys(props).filter((k) => props[k]?.field_kind !== 'node_attribute')),
      outputFields: new Set(Object.keys(out?.properties ?? {}).filter((k) => k !== 'type')),
      outputType: (out?.properties?.type as { const?: string } | undefined)?.const ?? 'unknown_output',
      allowsExtra: s.additionalProperties === true,
    });
  }
  cache = { schemas, ajv, body, catalog, nodeValidators: new Map() };
  return cache;
}

/** One component schema of the OpenAPI (e.g. `BaseModelType`), as JSON. */
export function openApiSchema(name: string): JsonSchema | undefined {
  return load().schemas[name];
}

/** The node types the OpenAPI declares, by `type` string. */
export function invocationCatalog(): Map<string, InvocationInfo> {
  return load().catalog;
}

/**
 * Validates an `enqueue_batch` request body against the OpenAPI: `Body_enqueue_batch` / `Batch`
 * / `BatchDatum` / `Edge`, and every node against its own invocation schema (unknown or missing
 * `type` refused). Returns the FastAPI-style issues; empty when valid. Graph semantics (edges,
 * node ids, datum targets) are not checked here; see the double's `checkEnqueueBatch`.
 * @example assert.deepEqual(validateEnqueueBatchSchema(body), []);
 */
export function validateEnqueueBatchSchema(body: unknown): ValidationIssue[] {
  const c = load();
  const issues: ValidationIssue[] = [];
  if (!c.body(body)) issues.push(...toIssues(c.body.errors ?? [], ['body'], body));
  const nodes = (body as { batch?: { graph?: { nodes?: unknown } } } | null)?.batch?.graph?.nodes;
  if (nodes && typeof nodes === 'object' && !Array.isArray(nodes)) {
    for (const [key, node] of Object.entries(nodes as Record<string, unknown>)) {
      issues.push(...validateNode(key, node));
    }
  }
  return issues;
}

function validateNode(key: string, node: unknown): ValidationIssue[] {
  const c = load();
  const loc = ['body', 'batch', 'graph', 'nodes', key];
  const type = (node as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') {
    return [{ type: 'union_tag_not_found', loc, msg: "Unable to extract tag using discriminator 'type'", input: node }];
  }
  const info = c.catalog.get(type);
  if (!info) {
    return [
      {
        type: 'union_tag_invalid',
        loc,
        msg: `Input tag '${type}' found using 'type' does not match any of the expected tags`,
        input: node,
      },
    ];
  }
  let validate = c.nodeValidators.get(type);
  if (!validate) {
    validate = c.ajv.getSchema(`${ROOT_ID}#/components/schemas/${info.schemaName}`)!;
    c.nodeValidators.set(type, validate);
  }
  return validate(node) ? [] : toIssues(validate.errors ?? [], [...loc, type], node);
}

const TYPE_BY_KEYWORD: Record<string, string> = {
  required: 'missing',
  enum: 'enum',
  const: 'literal_error',
  multipleOf: 'multiple_of',
  exclusiveMinimum: 'greater_than',
  minimum: 'greater_than_equal',
  exclusiveMaximum: 'less_than',
  maximum: 'less_than_equal',
  minItems: 'too_short',
  maxItems: 'too_long',
};

/** ajv errors → pydantic-like issues; drops the noise of `anyOf [X, null]` branches. */
function toIssues(errors: ErrorObject[], prefix: (string | number)[], root: unknown): ValidationIssue[] {
  let useful = errors.filter(
    (e) => e.keyword !== 'anyOf' && !(e.keyword === 'type' && (e.params as { type?: string }).type === 'null'),
  );
  if (useful.length === 0) useful = errors;
  const seen = new Set<string>();
  const out: ValidationIssue[] = [];
  for (const e of useful) {
    const path = e.instancePath
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const missing = e.keyword === 'required' ? (e.params as { missingProperty: string }).missingProperty : undefined;
    const loc = [...prefix, ...path, ...(missing !== undefined ? [missing] : [])];
    const type =
      TYPE_BY_KEYWORD[e.keyword] ?? (e.keyword === 'type' ? `${String((e.params as { type: string }).type)}_type` : e.keyword);
    const msg = missing !== undefined ? 'Field required' : (e.message ?? e.keyword);
    const id = `${type}|${loc.join('.')}|${msg}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ type, loc, msg, input: pick(root, path) });
  }
  return out;
}

function pick(root: unknown, path: (string | number)[]): unknown {
  let v: unknown = root;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}
