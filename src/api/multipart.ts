/**
 * Streaming `multipart/form-data` for uploads (busboy): hands over the `file` field as a stream
 * while the body is still arriving, so no upload is ever held in memory. (Hono's `parseBody()`
 * buffers the whole body; it is not used for uploads.)
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import { AppError, badRequest } from '../errors.js';

/** Bytes of multipart framing allowed on top of the file itself before Content-Length alone means 413. */
const FRAMING_ALLOWANCE = 64 * 1024;

/** The `file` field of a multipart request: its bytes and the client's filename. */
export interface MultipartFile {
  file: Readable;
  filename: string | undefined;
}

/**
 * Starts parsing `request` and resolves with the stream of its form field `field` as soon as its
 * headers arrive. Other fields and files are read and discarded.
 * @param maxBytes the largest accepted file, bytes: a declared Content-Length beyond it (plus framing) answers 413 at once
 * @throws AppError `unsupported_media_type` (415) unless the body is multipart/form-data;
 *   `payload_too_large` (413) from Content-Length; `validation_error` (400) for a malformed body
 *   or a missing field
 */
export function receiveMultipartFile(request: Request, maxBytes: number, field = 'file'): Promise<MultipartFile> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    return Promise.reject(new AppError('unsupported_media_type', `expected multipart/form-data with a "${field}" field`));
  }
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > maxBytes + FRAMING_ALLOWANCE) {
    return Promise.reject(new AppError('payload_too_large', `file larger than ${maxBytes} bytes`));
  }
  if (!request.body) return Promise.reject(badRequest(`multipart field "${field}" is required`));

  return new Promise<MultipartFile>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: { 'content-type': contentType },
        // +1 so the caller sees the byte that crosses the limit and answers 413 itself.
        limits: { fileSize: maxBytes + 1, files: 1, fields: 20, parts: 25, fieldSize: 64 * 1024 },
      });
    } catch (err) {
      reject(badRequest(`malformed multipart/form-data: ${(err as Error).message}`));
      return;
    }
    let found = false;
    bb.on('file', (name, stream, info) => {
      if (name !== field || found) {
        stream.resume();
        return;
      }
      found = true;
      resolve({ file: stream, filename: info.filename });
    });
    bb.on('close', () => {
      if (!found) reject(badRequest(`multipart field "${field}" is required`));
    });
    const source = Readable.fromWeb(request.body as unknown as NodeWebReadableStream<Uint8Array>);
    // Errors (client gone, malformed body) destroy busboy, which destroys the file stream with them.
    pipeline(source, bb, (err) => {
      if (err && !found) reject(badRequest(`malformed multipart/form-data: ${err.message}`));
    });
  });
}
