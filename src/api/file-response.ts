/**
 * Serving a file from disk: Content-Type, Content-Length, ETag (with If-None-Match → 304),
 * Cache-Control, and single byte ranges (`Range: bytes=…` → 206, unsatisfiable → 416). The body
 * is streamed from disk.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { notFound } from '../errors.js';

/** How to serve one file. */
export interface FileResponseOptions {
  contentType: string;
  /** `Cache-Control` value */
  cacheControl: string;
  /** strong ETag without quotes (e.g. the sha256); default: size and mtime */
  etag?: string;
  /** name offered in `Content-Disposition: inline` (never the client's original filename) */
  filename?: string;
}

/**
 * A `Response` for the file at `absPath` honouring `Range` and `If-None-Match` of `request`.
 * @throws AppError `not_found` when the file is missing on disk
 */
export async function fileResponse(request: Request, absPath: string, options: FileResponseOptions): Promise<Response> {
  const st = await fs.stat(absPath).catch(() => undefined);
  if (!st?.isFile()) throw notFound('file');
  const size = st.size;
  const etag = `"${options.etag ?? `${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}`}"`;
  const headers = new Headers({
    'Content-Type': options.contentType,
    'Cache-Control': options.cacheControl,
    ETag: etag,
    'Last-Modified': st.mtime.toUTCString(),
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
  });
  if (options.filename) headers.set('Content-Disposition', `inline; filename="${options.filename.replace(/["\\\r\n]/g, '')}"`);

  const inm = request.headers.get('if-none-match');
  if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*')) {
    return new Response(null, { status: 304, headers });
  }

  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = request.headers.get('range');
  const ifRange = request.headers.get('if-range');
  if (range && (!ifRange || ifRange === etag)) {
    const parsed = parseRange(range, size);
    if (parsed === 'unsatisfiable') {
      headers.set('Content-Range', `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    if (parsed) {
      [start, end] = parsed;
      status = 206;
      headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
    }
  }
  const length = size === 0 ? 0 : end - start + 1;
  headers.set('Content-Length', String(length));
  if (request.method === 'HEAD' || length === 0) return new Response(null, { status, headers });
  const body = Readable.toWeb(createReadStream(absPath, { start, end })) as unknown as ReadableStream<Uint8Array>;
  return new Response(body, { status, headers });
}

/**
 * One `bytes=` range → [first, last] (inclusive); `undefined` to ignore the header (multiple
 * ranges or another unit: the whole file is sent); `'unsatisfiable'` when it lies beyond the file.
 */
export function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (first >= size || first > last) return 'unsatisfiable';
  return [first, last];
}
