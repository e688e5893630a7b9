/**
 * Real images for the InvokeAI double: a PNG whose pixels derive from the seed, with InvokeAI's
 * `invokeai_metadata` / `invokeai_graph` tEXt chunks (sharp cannot write tEXt, so the chunks are
 * spliced in after IHDR by hand), and the ≤ 256 px WEBP thumbnail.
 */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A small deterministic PRNG (mulberry32) → floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A `width`×`height` RGB PNG: an 8×8 grid of seed-derived colours scaled up (fast at any size;
 * two seeds give different pixels), with one tEXt chunk per `text` entry.
 * JSON texts should be ASCII (as Python's json.dumps writes them); other characters are dropped
 * to latin-1 by tEXt rules, so use `asciiJson`.
 */
export async function renderPng(width: number, height: number, seed: number, text: Record<string, string> = {}): Promise<Buffer> {
  const rand = mulberry32(seed);
  const raw = Buffer.alloc(8 * 8 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand() * 256);
  const png = await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill' })
    .png({ compressionLevel: 1 })
    .toBuffer();
  return withTextChunks(png, text);
}

/** JSON with every non-ASCII character escaped (`\uXXXX`), like Python's `json.dumps`. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Inserts tEXt chunks right after IHDR. */
export function withTextChunks(png: Buffer, text: Record<string, string>): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  const chunks = Object.entries(text).map(([k, v]) => chunk('tEXt', Buffer.concat([Buffer.from(k, 'latin1'), Buffer.from([0]), Buffer.from(v, 'latin1')])));
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * Reads the tEXt (and uncompressed iTXt) chunks of a PNG, checking every CRC.
 * @throws Error when `png` is not a PNG or a chunk is corrupt/truncated
 */
export function readPngText(png: Buffer): Record<string, string> {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  const out: Record<string, string> = {};
  let off = 8;
  for (;;) {
    if (off + 12 > png.length) throw new Error('truncated PNG');
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    if (off + 12 + len > png.length) throw new Error('truncated PNG');
    const data = png.subarray(off + 8, off + 8 + len);
    if ((crc32(png.subarray(off + 4, off + 8 + len)) >>> 0) !== png.readUInt32BE(off + 8 + len)) {
      throw new Error(`bad CRC in ${type}`);
    }
    if (type === 'tEXt') {
      const z = data.indexOf(0);
      out[data.toString('latin1', 0, z)] = data.toString('latin1', z + 1);
    } else if (type === 'iTXt') {
      const z = data.indexOf(0);
      if (data[z + 1] === 0) {
        const lang = data.indexOf(0, z + 3);
        const trans = data.indexOf(0, lang + 1);
        out[data.toString('latin1', 0, z)] = data.toString('utf8', trans + 1);
      }
    }
    off += 12 + len;
    if (type === 'IEND') return out;
  }
}

/** The thumbnail InvokeAI serves: WEBP, longest side ≤ 256 px. */
export function renderThumbnail(png: Buffer): Promise<Buffer> {
  return sharp(png).resize(256, 256, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();
}
