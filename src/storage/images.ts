/**
 * Image facts and derivatives with sharp: which formats we accept (decided by magic bytes, then
 * confirmed by sharp's header read), their dimensions as a person sees them (EXIF orientation
 * applied), WebP thumbnails, and metadata-free copies for share links.
 *
 * Every sharp input here carries `limitInputPixels: MAX_INPUT_PIXELS`, so a small file declaring a
 * huge image (a decompression bomb) is refused from its header, before any pixel is decoded.
 */
import sharp, { type FailOnOptions, type Metadata } from 'sharp';

/** Smallest accepted side, px (seed 001 §7.1). */
export const MIN_SIDE_PX = 100;
/** Largest accepted side, px (seed 001 §7.1). */
export const MAX_SIDE_PX = 8192;
/** sharp's `limitInputPixels` for every decode: 8192 × 8192 px. */
export const MAX_INPUT_PIXELS = MAX_SIDE_PX * MAX_SIDE_PX;
/** Thumbnails fit in a box of this many px. */
export const THUMBNAIL_MAX_PX = 300;

/** An accepted image format: its name, MIME type and file extension (no dot). */
export interface ImageType {
  format: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heic';
  mime: string;
  ext: string;
}

const TYPES: Record<ImageType['format'], ImageType> = {
  jpeg: { format: 'jpeg', mime: 'image/jpeg', ext: 'jpg' },
  png: { format: 'png', mime: 'image/png', ext: 'png' },
  webp: { format: 'webp', mime: 'image/webp', ext: 'webp' },
  gif: { format: 'gif', mime: 'image/gif', ext: 'gif' },
  tiff: { format: 'tiff', mime: 'image/tiff', ext: 'tiff' },
  avif: { format: 'avif', mime: 'image/avif', ext: 'avif' },
  heic: { format: 'heic', mime: 'image/heic', ext: 'heic' },
};

/** Bytes `sniffImageType` wants to see (fewer only at the end of a short file). */
export const SNIFF_BYTES = 64;

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);

/**
 * The accepted format whose magic bytes start `head` (the file's first `SNIFF_BYTES` bytes), or
 * `undefined` for anything else (SVG, PDF, text, unknown). HEIC is recognised here even when the
 * installed sharp cannot decode it; check `heicSupported()`.
 */
export function sniffImageType(head: Uint8Array): ImageType | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const ascii = (from: number, to: number) => b.subarray(from, to).toString('latin1');
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return TYPES.jpeg;
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return TYPES.png;
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return TYPES.gif;
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return TYPES.webp;
  if (b.length >= 4 && ['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4))) return TYPES.tiff;
  if (b.length >= 12 && ascii(4, 8) === 'ftyp') {
    const boxEnd = Math.min(b.readUInt32BE(0), b.length);
    const brands = [ascii(8, 12)];
    for (let i = 16; i + 4 <= boxEnd; i += 4) brands.push(ascii(i, i + 4));
    if (brands.some((x) => AVIF_BRANDS.has(x))) return TYPES.avif;
    if (brands.some((x) => HEIC_BRANDS.has(x))) return TYPES.heic;
  }
  return undefined;
}

/** Whether the installed sharp (libheif) decodes HEIC (HEVC). The prebuilt binaries decode AVIF only. */
export function heicSupported(): boolean {
  const heif = sharp.format.heif as { input?: { file?: boolean; fileSuffix?: string[] } } | undefined;
  return Boolean(heif?.input?.file && heif.input.fileSuffix?.includes('.heic'));
}

/** Why an image was refused; `message` is fit for the API client. */
export class ImageRejectedError extends Error {
  override name = 'ImageRejectedError';
}

/** What `inspectImage` learned from the header. Width and height are as displayed (EXIF orientation applied), px. */
export interface ImageInfo {
  type: ImageType;
  width: number;
  height: number;
}

/** The decode options every sharp input here uses. */
export const SHARP_INPUT = { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' } as const;

/**
 * Reads the header of the image at `file` (nothing is decoded) and checks it is the `expected`
 * format with each displayed side within 100–8192 px.
 * @throws ImageRejectedError for undecodable data, a format other than `expected`, or dimensions
 *   out of range (the message gives them, e.g. "image is 50×80 px; each side must be 100–8192 px")
 */
export async function inspectImage(file: string, expected: ImageType): Promise<ImageInfo> {
  let meta: Metadata;
  try {
    meta = await sharp(file, SHARP_INPUT).metadata();
  } catch (err) {
    if (/pixel limit/i.test((err as Error).message)) {
      // The header alone says how big it claims to be; reading it decodes nothing.
      const header = await sharp(file, { limitInputPixels: false }).metadata().catch(() => undefined);
      const dims = header?.width && header.height ? `${header.width}×${header.height} px` : 'larger than the pixel limit';
      throw new ImageRejectedError(`image is ${dims}; each side must be ${MIN_SIDE_PX}–${MAX_SIDE_PX} px`);
    }
    throw new ImageRejectedError(`undecodable ${expected.format} data: ${firstLine(err)}`);
  }
  const actual = meta.format === 'heif' ? (meta.compression === 'av1' ? 'avif' : 'heic') : meta.format;
  if (actual !== expected.format) {
    throw new ImageRejectedError(`unsupported or inconsistent image data (looks like ${expected.format}, decodes as ${String(meta.format)})`);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new ImageRejectedError(`undecodable ${expected.format} data: no dimensions in the header`);
  if ([width, height].some((s) => s < MIN_SIDE_PX || s > MAX_SIDE_PX)) {
    throw new ImageRejectedError(`image is ${width}×${height} px; each side must be ${MIN_SIDE_PX}–${MAX_SIDE_PX} px`);
  }
  return { type: expected, width, height };
}

/**
 * A WebP thumbnail of `input` (a path or the image bytes) fitting in 300 × 300 px, EXIF orientation
 * applied, first frame of an animation, no metadata. Decodes the whole image, so a truncated or
 * corrupt file fails here.
 * @param options.failOn sharp's sensitivity to invalid data (default `'error'`); see `strictFailOn`
 * @throws sharp's error for undecodable or truncated data, or an image above 8192 × 8192 px
 * @example await writeFileAtomic(resolveDataPath(dataDir, paths.thumbnail), await makeThumbnail(pngBytes))
 */
export async function makeThumbnail(input: string | Buffer, options: { failOn?: FailOnOptions } = {}): Promise<Buffer> {
  return sharp(input, { ...SHARP_INPUT, ...options })
    .autoOrient()
    .resize(THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
}

/**
 * The `failOn` level that refuses corrupt data of `format` without refusing healthy files: libjpeg
 * reports corrupt entropy data only as warnings, so JPEG needs `'warning'`; libpng warns about
 * harmless things (an sRGB profile it dislikes), so the others use `'error'`.
 */
export function strictFailOn(format: ImageType['format']): FailOnOptions {
  return format === 'jpeg' ? 'warning' : 'error';
}

/** The format a metadata-free copy of a `format` original is written in (browsers cannot show TIFF/HEIC). */
export function strippedCopyType(format: string): ImageType {
  switch (format) {
    case 'jpeg':
    case 'png':
    case 'webp':
    case 'gif':
      return TYPES[format];
    default:
      return TYPES.webp;
  }
}

/**
 * Re-encodes `input` (a path) to `output` (a path) without any metadata: no EXIF (GPS), XMP, ICC,
 * comments or PNG text chunks (InvokeAI's prompt and graph). Orientation is applied to the pixels
 * so the copy looks the same without its EXIF tag. Animated GIF/WebP keep their frames.
 * @param format the original's format (`photos.mime_type` subtype); the copy's is `strippedCopyType(format)`
 * @throws sharp's error
 */
export async function writeStrippedCopy(input: string, output: string, format: string): Promise<ImageType> {
  const type = strippedCopyType(format);
  const animated = type.format === 'gif' || type.format === 'webp';
  let img = sharp(input, { ...SHARP_INPUT, animated }).autoOrient();
  switch (type.format) {
    case 'jpeg':
      img = img.jpeg({ quality: 92 });
      break;
    case 'png':
      img = img.png();
      break;
    case 'gif':
      img = img.gif();
      break;
    default:
      img = img.webp({ quality: 90 });
  }
  await img.toFile(output);
  return type;
}

/** The accepted type for a MIME type (`image/jpeg` → jpeg), or undefined. */
export function imageTypeForMime(mime: string): ImageType | undefined {
  return Object.values(TYPES).find((t) => t.mime === mime);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.trim();
}
