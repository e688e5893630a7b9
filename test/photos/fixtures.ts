/**
 * Test images generated on the fly with sharp (and a few written byte by byte): every accepted
 * format, and every kind of refused file. Nothing binary is committed.
 */
import { crc32 } from 'node:zlib';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { withTextChunks } from '../doubles/invokeai/png.js';

/** Deterministic noise (so JPEG/PNG sizes are realistic and two seeds give different bytes). */
export function noise(width: number, height: number, seed = 1, channels: 3 | 4 = 3): Buffer {
  const buf = Buffer.alloc(width * height * channels);
  let a = seed >>> 0;
  for (let i = 0; i < buf.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    buf[i] = a >>> 24;
  }
  return buf;
}

const raw = (w: number, h: number, seed: number) => sharp(noise(w, h, seed), { raw: { width: w, height: h, channels: 3 } });

/** One image per accepted format, `w`×`h` px. */
export async function imagesOfEveryFormat(w = 320, h = 200): Promise<Array<{ format: string; mime: string; ext: string; bytes: Buffer }>> {
  const gifFrames = sharp(noise(w, h * 2, 7), { raw: { width: w, height: h * 2, channels: 3, pageHeight: h } });
  return [
    { format: 'jpeg', mime: 'image/jpeg', ext: 'jpg', bytes: await raw(w, h, 1).jpeg().toBuffer() },
    { format: 'png', mime: 'image/png', ext: 'png', bytes: await raw(w, h, 2).png().toBuffer() },
    { format: 'webp', mime: 'image/webp', ext: 'webp', bytes: await raw(w, h, 3).webp().toBuffer() },
    { format: 'gif', mime: 'image/gif', ext: 'gif', bytes: await gifFrames.gif().toBuffer() },
    { format: 'tiff', mime: 'image/tiff', ext: 'tiff', bytes: await raw(w, h, 5).tiff().toBuffer() },
    { format: 'avif', mime: 'image/avif', ext: 'avif', bytes: await raw(w, h, 6).avif({ effort: 0 }).toBuffer() },
  ];
}

/** A JPEG stored 400×200 with EXIF orientation 6 (displayed 200×400) and GPS coordinates. */
export async function jpegWithExifGps(seed = 11): Promise<Buffer> {
  return raw(400, 200, seed)
    .jpeg()
    .withExif({
      IFD0: { Make: 'TestCam', Model: 'GPS-1', Orientation: '6' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 24/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 3/1' },
    })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

/** A PNG with InvokeAI's tEXt chunks (prompt and graph). */
export async function pngWithInvokeAIText(seed = 12): Promise<Buffer> {
  const png = await raw(256, 256, seed).png().toBuffer();
  return withTextChunks(png, {
    invokeai_metadata: JSON.stringify({ positive_prompt: 'SECRET-PROMPT a lighthouse at dusk', seed: 42 }),
    invokeai_graph: JSON.stringify({ id: 'SECRET-GRAPH', nodes: {} }),
  });
}

/** A PNG whose IHDR declares `w`×`h` (e.g. 100000×100000) with a few bytes of data: a decompression bomb. */
export async function pngBomb(w = 100_000, h = 100_000): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 128, height: 128, channels: 3, background: '#000' } }).png().toBuffer());
  png.writeUInt32BE(w, 16);
  png.writeUInt32BE(h, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)) >>> 0, 29);
  return png;
}

/** The start of a HEIC file (ftyp box, brand heic) followed by junk. */
export function heicHeader(): Buffer {
  const ftyp = Buffer.alloc(24);
  ftyp.writeUInt32BE(24, 0);
  ftyp.write('ftypheic', 4, 'latin1');
  ftyp.write('mif1heic', 16, 'latin1');
  return Buffer.concat([ftyp, noise(200, 10, 3)]);
}

/** Refused kinds: name → bytes (and the file name the client sends). */
export async function refusedFiles(): Promise<Array<{ kind: string; filename: string; bytes: Buffer; message: RegExp }>> {
  const jpeg = await raw(640, 480, 21).jpeg({ quality: 95 }).toBuffer();
  return [
    { kind: 'truncated JPEG', filename: 'cut.jpg', bytes: jpeg.subarray(0, Math.floor(jpeg.length / 2)), message: /truncated|corrupt|undecodable/ },
    {
      kind: 'corrupt JPEG (valid header, garbage after)',
      filename: 'bad.jpg',
      bytes: Buffer.concat([jpeg.subarray(0, 400), noise(100, 100, 5)]),
      message: /truncated|corrupt|undecodable/,
    },
    { kind: 'too small', filename: 'tiny.png', bytes: await raw(50, 80, 22).png().toBuffer(), message: /50×80 px/ },
    { kind: 'too wide', filename: 'wide.png', bytes: await raw(9000, 120, 23).png({ compressionLevel: 1 }).toBuffer(), message: /9000×120 px/ },
    { kind: 'decompression bomb', filename: 'bomb.png', bytes: await pngBomb(), message: /100000×100000 px/ },
    { kind: 'text with an image extension', filename: 'photo.jpg', bytes: Buffer.from('hello, this is not an image at all, just text.\n'.repeat(10)), message: /unsupported file type/ },
    {
      kind: 'SVG',
      filename: 'x.png',
      bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><rect width="200" height="200"/></svg>'),
      message: /unsupported file type/,
    },
    { kind: 'HEIC without a decoder', filename: 'x.heic', bytes: heicHeader(), message: /HEIC/ },
    { kind: 'empty', filename: 'empty.jpg', bytes: Buffer.alloc(0), message: /empty/ },
  ];
}

/** Every file under `dir` (relative paths), for "nothing left on disk" checks. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = (await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) as Array<{ isFile(): boolean; parentPath: string; name: string }>;
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

/** POSTs `bytes` as the multipart field `file` named `filename`. */
export async function upload(baseUrl: string, bytes: Buffer, filename: string, headers: Record<string, string> = {}, contentType = 'application/octet-stream'): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type: contentType }), filename);
  return fetch(`${baseUrl}/api/photos`, { method: 'POST', body: form, headers });
}
