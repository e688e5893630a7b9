/**
 * RunPod REST v2 shapes (`https://api.runpod.io/v2`), as zod 4 schemas and TS types.
 * Source of truth: ../shared/reference/runpod-api.md §2 and runpod-openapi-v2.json
 * (`Pod`, `CreatePodRequest`, `GpuType`, `ErrorResponse`).
 *
 * Response schemas are `.loose()` (unknown fields tolerated and kept) and require only what the
 * backend relies on; everything else the spec marks required is optional here so that a field
 * RunPod drops or renames does not stop a pod from being stopped.
 */
import { z } from 'zod';

/** Pod lifecycle states (v2 `PodStatus`). `TERMINATED` pods normally vanish (GET → 404). */
export const POD_STATUSES = ['PROVISIONING', 'STARTING', 'RUNNING', 'EXITED', 'ERROR', 'TERMINATED'] as const;
/** One of `POD_STATUSES`. */
export type PodStatus = (typeof POD_STATUSES)[number];

/** Pod actions for `POST /v2/pods/{id}/action` (v2 `PodAction`). */
export const POD_ACTIONS = ['start', 'stop', 'restart', 'terminate'] as const;
/** One of `POD_ACTIONS`. */
export type PodAction = (typeof POD_ACTIONS)[number];

/** Cloud tier (v2 `Cloud`); `SECURE` is the create default. */
export const CloudSchema = z.enum(['SECURE', 'COMMUNITY']);
/** `SECURE` | `COMMUNITY`. */
export type Cloud = z.infer<typeof CloudSchema>;

/**
 * A status RunPod may add later is kept as a plain string rather than failing the parse; compare
 * against the `PodStatus` literals.
 */
const PodStatusSchema = z.union([z.enum(POD_STATUSES), z.string()]) as z.ZodType<PodStatus | (string & {})>;
const PodActionSchema = z.union([z.enum(POD_ACTIONS), z.string()]) as z.ZodType<PodAction | (string & {})>;

/** Live port mapping of a running pod (v2 `PodRuntimePort`). */
export const PodRuntimePortSchema = z
  .object({
    private: z.number().int(),
    public: z.number().int().nullish(),
    /** `http` | `tcp` */
    type: z.string().optional(),
    ip: z.string().nullish(),
  })
  .loose();

/** Live metrics; `null` unless the container runs (v2 `PodRuntime`). `uptime` in seconds. */
export const PodRuntimeSchema = z
  .object({
    uptime: z.number().optional(),
    ports: z.array(PodRuntimePortSchema).nullish(),
  })
  .loose();

const SshEndpointSchema = z
  .object({ host: z.string(), port: z.number().int(), username: z.string(), command: z.string() })
  .loose();

/**
 * A pod (v2 `Pod`). `cost` is the billed rate in USD/h right now (0 when `EXITED`/`TERMINATED`);
 * `disk` in GB; `createdAt`/`startedAt` RFC 3339 (see `parseRunPodTime`); `gpu.count` GPUs of
 * type `gpu.id`. There is no `publicIp` field in v2: see `podPublicIp`.
 */
export const PodSchema = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    status: PodStatusSchema,
    /** actions allowed in the current status; anything else answers 409 */
    actions: z.array(PodActionSchema),
    /** USD per hour */
    cost: z.number(),
    image: z.string().nullish(),
    args: z.string().nullish(),
    disk: z.number().nullish(),
    ports: z.array(z.string()).nullish(),
    env: z.record(z.string(), z.string()).nullish(),
    registry: z.string().nullish(),
    mounts: z.record(z.string(), z.unknown()).nullish(),
    gpu: z.object({ id: z.string(), count: z.number().int().default(1) }).loose().nullish(),
    cpu: z.object({ id: z.string() }).loose().nullish(),
    cloud: z.string().nullish(),
    dataCenterId: z.string().nullish(),
    cudaVersion: z.string().nullish(),
    ssh: z
      .object({ proxy: SshEndpointSchema.nullish(), direct: SshEndpointSchema.nullish() })
      .loose()
      .nullish(),
    template: z.string().nullish(),
    locked: z.boolean().nullish(),
    runtime: PodRuntimeSchema.nullish(),
    createdAt: z.string().nullish(),
    startedAt: z.string().nullish(),
    cluster: z.unknown().optional(),
  })
  .loose();
/** A parsed v2 pod; see `PodSchema`. */
export type Pod = z.infer<typeof PodSchema>;

/** `GET /v2/pods` body: `{"pods":[Pod…]}` (a future cursor field is tolerated). */
export const ListPodsResponseSchema = z.object({ pods: z.array(PodSchema) }).loose();

/**
 * A GPU type from the catalog (v2 `GpuType`). `id` is what `CreatePodRequest.gpu.id` takes;
 * `price.secure`/`price.community` are list prices in USD/h for ONE GPU; `memory` in GB.
 * `availability`/`dataCenters`/`cudaVersions` only with `include=AVAILABILITY&product=POD`.
 */
export const GpuTypeSchema = z
  .object({
    id: z.string().min(1),
    name: z.string().optional(),
    memory: z.number().optional(),
    secure: z.boolean().optional(),
    community: z.boolean().optional(),
    price: z
      .object({ secure: z.number().nullish(), community: z.number().nullish(), serverless: z.number().nullish() })
      .loose(),
    maxCount: z.object({ secure: z.number().nullish(), community: z.number().nullish() }).loose().optional(),
    availability: z.string().optional(),
    dataCenters: z
      .array(z.object({ id: z.string(), name: z.string().optional(), availability: z.string().optional() }).loose())
      .optional(),
    cudaVersions: z.array(z.object({ version: z.string(), available: z.boolean() }).loose()).optional(),
  })
  .loose();
/** A parsed v2 GPU type; see `GpuTypeSchema`. */
export type GpuType = z.infer<typeof GpuTypeSchema>;

/** `GET /v2/catalog/gpus` body: `{"gpus":[GpuType…]}`. */
export const ListGpuTypesResponseSchema = z.object({ gpus: z.array(GpuTypeSchema) }).loose();

/**
 * An RFC 9457 problem body (v2 `ErrorResponse`): `{title, status, detail, errors?}`. The v1-era keys
 * `error` and `message` are read too (reference §3 quirks).
 */
export const ProblemSchema = z
  .object({
    title: z.string().optional(),
    status: z.number().optional(),
    detail: z.string().optional(),
    errors: z.array(z.string()).optional(),
    error: z.string().optional(),
    message: z.string().optional(),
  })
  .loose();
/** A parsed problem body; every field optional. */
export type Problem = z.infer<typeof ProblemSchema>;

/**
 * Body of `POST /v2/pods` (v2 `CreatePodRequest`). Unknown keys are rejected by RunPod with 422.
 * Exactly one of `gpu`/`cpu`; `image` unless `templateId`. `disk` is container disk in GB,
 * `mounts.persistent.size` GB (≥ 10); `ports` like `["9090/http"]`. `gpu.id` is one exact GPU
 * type id (no fallback); `allowedCudaVersions` (`"12.8"`) and `minCudaVersion` are exclusive.
 */
export interface CreatePodRequest {
  name: string;
  image?: string;
  args?: string;
  disk?: number;
  ports?: string[];
  env?: Record<string, string>;
  registry?: string | null;
  gpu?: { id: string; count?: number; allowedCudaVersions?: string[]; minCudaVersion?: string };
  cpu?: { id: string; vcpuCount: number };
  cloud?: Cloud;
  dataCenterIds?: string[];
  mounts?: { persistent?: { size: number; path: string }; network?: { volumeId: string; path: string }[] };
  templateId?: string;
  startSsh?: boolean;
  startJupyter?: boolean;
  globalNetworking?: boolean;
}

/**
 * The pod's public IP, if any: v2 has no `publicIp` field; the IP sits on `runtime.ports[].ip`
 * (null while provisioning or stopped, and for HTTP-only pods).
 */
export function podPublicIp(pod: Pod): string | null {
  for (const p of pod.runtime?.ports ?? []) if (p.ip) return p.ip;
  return null;
}

/**
 * Parses a RunPod timestamp: RFC 3339 (`2026-06-01T12:00:00Z`, the v2 spec) or the Go form seen
 * live on v1 (`2026-08-20 06:16:19.43 +0000 UTC`). Returns epoch ms, or `null` for null/unparsable.
 */
export function parseRunPodTime(value: string | null | undefined): number | null {
  if (!value) return null;
  let ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2})(?: \w+)?$/.exec(value);
    if (m) ms = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
  }
  return Number.isNaN(ms) ? null : ms;
}
