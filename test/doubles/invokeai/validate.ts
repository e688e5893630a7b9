/**
 * The InvokeAI double's enqueue validation: the OpenAPI schema (test/helpers/invokeai-openapi.ts),
 * then the Batch/Graph checks the real server runs in pydantic validators (reference §3.1, §8):
 * zip lengths, mixed item types, duplicate datum, node id ≠ key, edges to unknown nodes/fields,
 * duplicate edges, cycles, datum on an unknown node/field. Edge type compatibility is not checked.
 */
import type { ValidationIssue } from '../../../src/invokeai/errors.js';
import { invocationCatalog, validateEnqueueBatchSchema } from '../../helpers/invokeai-openapi.js';

interface Node {
  id?: unknown;
  type: string;
  [k: string]: unknown;
}
interface Edge {
  source: { node_id: string; field: string };
  destination: { node_id: string; field: string };
}
interface Datum {
  node_path: string;
  field_name: string;
  items?: unknown[];
}

const valueError = (loc: (string | number)[], text: string, input?: unknown): ValidationIssue => ({
  type: 'value_error',
  loc,
  msg: `Value error, ${text}`,
  input,
  ctx: { error: {} },
});

/**
 * Every reason the real server would answer 422 to this `enqueue_batch` body (the first failing
 * stage only, as pydantic stops there). Empty when the body would be accepted.
 */
export function checkEnqueueBatch(body: unknown): ValidationIssue[] {
  const schemaIssues = validateEnqueueBatchSchema(body);
  if (schemaIssues.length > 0) return schemaIssues;
  const batch = (body as { batch: { graph: { nodes: Record<string, Node>; edges?: Edge[] }; data?: Datum[][] | null } })
    .batch;
  const dataIssue = checkData(batch.data ?? []);
  if (dataIssue) return [dataIssue];
  const graphIssue = checkGraph(batch.graph.nodes, batch.graph.edges ?? []);
  if (graphIssue) return [valueError(['body', 'batch', 'graph'], graphIssue)];
  const targetIssue = checkDataTargets(batch.graph.nodes, batch.data ?? []);
  if (targetIssue) return [valueError(['body', 'batch'], targetIssue)];
  return [];
}

function kind(v: unknown): string {
  if (typeof v === 'number') return 'number'; // ints and floats may be mixed
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

function checkData(data: Datum[][]): ValidationIssue | undefined {
  const loc = ['body', 'batch', 'data'];
  for (const group of data) {
    for (const datum of group) {
      const kinds = new Set((datum.items ?? []).map(kind));
      if (kinds.size > 1) return valueError(loc, 'All items in a batch must have the same type', data);
    }
  }
  const seen = new Set<string>();
  for (const group of data) {
    for (const datum of group) {
      const id = `${datum.node_path}\u0000${datum.field_name}`;
      if (seen.has(id)) return valueError(loc, 'Each batch data must have unique node_id and field_name', data);
      seen.add(id);
    }
  }
  for (const group of data) {
    const lengths = new Set(group.map((d) => (d.items ?? []).length));
    if (lengths.size > 1) return valueError(loc, 'Zipped batch items must all have the same length', data);
  }
  return undefined;
}

function checkGraph(nodes: Record<string, Node>, edges: Edge[]): string | undefined {
  const catalog = invocationCatalog();
  for (const [key, node] of Object.entries(nodes)) {
    if (node.id !== key) return `Node ids must match, got ${key} and ${String(node.id)}`;
  }
  const seen = new Set<string>();
  for (const e of edges) {
    const src = nodes[e.source.node_id];
    const dst = nodes[e.destination.node_id];
    if (!src) return `Edge source node ${e.source.node_id} does not exist in the graph`;
    if (!dst) return `Edge destination node ${e.destination.node_id} does not exist in the graph`;
    if (!catalog.get(src.type)?.outputFields.has(e.source.field)) {
      return `Edge source field ${e.source.field} does not exist in node ${e.source.node_id}`;
    }
    if (!catalog.get(dst.type)?.inputFields.has(e.destination.field)) {
      return `Edge destination field ${e.destination.field} does not exist in node ${e.destination.node_id}`;
    }
    const id = JSON.stringify(e);
    if (seen.has(id)) return `Edge already exists (${e.source.node_id}.${e.source.field} -> ${e.destination.node_id}.${e.destination.field})`;
    seen.add(id);
  }
  // A destination input takes one edge, except a collector's `item`.
  const fed = new Set<string>();
  for (const e of edges) {
    if (nodes[e.destination.node_id]?.type === 'collect' && e.destination.field === 'item') continue;
    const id = `${e.destination.node_id}.${e.destination.field}`;
    if (fed.has(id)) return `Edge to node ${e.destination.node_id} field ${e.destination.field} already exists`;
    fed.add(id);
  }
  return hasCycle(Object.keys(nodes), edges) ? 'Graph contains a cycle' : undefined;
}

function hasCycle(ids: string[], edges: Edge[]): boolean {
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) out.get(e.source.node_id)?.push(e.destination.node_id);
  const state = new Map<string, 1 | 2>();
  const visit = (id: string): boolean => {
    if (state.get(id) === 1) return true;
    if (state.get(id) === 2) return false;
    state.set(id, 1);
    for (const next of out.get(id) ?? []) if (visit(next)) return true;
    state.set(id, 2);
    return false;
  };
  return ids.some(visit);
}

function checkDataTargets(nodes: Record<string, Node>, data: Datum[][]): string | undefined {
  const catalog = invocationCatalog();
  for (const group of data) {
    for (const d of group) {
      const node = nodes[d.node_path];
      if (!node) return `Node ${d.node_path} not found in graph`;
      // Only declared fields: core_metadata's extras cannot be batch targets.
      if (!catalog.get(node.type)?.fields.has(d.field_name)) return `Field ${d.field_name} not found in node ${d.node_path}`;
    }
  }
  return undefined;
}
