// The ICU data inside the node binary, cut down to English for the offline bundle. Official node
// builds link "full-icu": a 33 MB ICU common-data blob (symbol `icudt<N>_dat`, 7.5 MiB of the
// xz-compressed binary) with every locale, converter, dictionary and transliterator. tknp and its
// tools need normalization (the tokenizers), Unicode properties (regexes), segmentation,
// collation and English formatting, so the bundle keeps the core data and the root/English
// locales (5 MB, under 1 MiB compressed) and zeroes the rest of the blob in place: no runtime flag,
// no file beside node. Other locales fall back to root formats (`Intl.NumberFormat('de')` formats
// like 'en'); legacy multi-byte TextDecoder encodings (Shift_JIS, GBK, ...) are gone.
//
// ICU common data ("CmnD", little-endian): a header of `headerSize` bytes, then at `toc` =
// headerSize: uint32 count, count x {uint32 nameOffset, uint32 dataOffset} (both from `toc`),
// the NUL-terminated item names (sorted: ICU binary-searches them), and the items, each 16-aligned.
import { execFileSync } from 'node:child_process';

export interface IcuItem {
  /** e.g. `icudt78l/coll/root.res` */
  readonly name: string;
  readonly data: Buffer;
}

export interface IcuCommonData {
  readonly header: Buffer;
  readonly items: readonly IcuItem[];
}

const MAGIC = Buffer.from([0xda, 0x27]);

export function parseIcuData(blob: Buffer): IcuCommonData {
  const headerSize = blob.readUInt16LE(0);
  if (!blob.subarray(2, 4).equals(MAGIC) || blob.toString('latin1', 12, 16) !== 'CmnD' || blob[8] !== 0) {
    throw new Error('not little-endian ICU common data (CmnD)');
  }
  const toc = headerSize;
  const count = blob.readUInt32LE(toc);
  const entries = Array.from({ length: count }, (_, i) => ({ name: blob.readUInt32LE(toc + 4 + 8 * i), data: blob.readUInt32LE(toc + 8 + 8 * i) }));
  const items = entries.map((e, i) => {
    const start = toc + e.data;
    const end = i + 1 < count ? toc + entries[i + 1].data : blob.length;
    if (!(start <= end && end <= blob.length)) throw new Error(`ICU data: item ${i} lies outside the blob`);
    return { name: blob.toString('latin1', toc + e.name, blob.indexOf(0, toc + e.name)), data: blob.subarray(start, end) };
  });
  return { header: blob.subarray(0, headerSize), items };
}

const align16 = (n: number) => (n + 15) & ~15;

/** Common data with `items` (kept in the given order, which must be sorted by name); parse's inverse. */
export function writeIcuData({ header, items }: IcuCommonData): Buffer {
  const names = items.map((it) => Buffer.from(`${it.name}\0`, 'latin1'));
  const tocBytes = 4 + 8 * items.length;
  let nameOffset = tocBytes;
  const namesEnd = tocBytes + names.reduce((s, n) => s + n.length, 0);
  let dataOffset = align16(namesEnd);
  const out = Buffer.alloc(header.length + dataOffset + items.reduce((s, it) => s + align16(it.data.length), 0));
  header.copy(out, 0);
  const toc = header.length;
  out.fill(0xaa, toc + namesEnd, toc + dataOffset); // ICU's pkgdata pads the names so
  out.writeUInt32LE(items.length, toc);
  items.forEach((it, i) => {
    out.writeUInt32LE(nameOffset, toc + 4 + 8 * i);
    out.writeUInt32LE(dataOffset, toc + 8 + 8 * i);
    names[i].copy(out, toc + nameOffset);
    it.data.copy(out, toc + dataOffset);
    nameOffset += names[i].length;
    dataOffset += align16(it.data.length);
  });
  return out;
}

/** Locales kept in every tree (root is what the others fall back to). */
const KEPT_LOCALES = new Set(['root', 'en', 'en_001', 'en_US', 'en_US_POSIX']);
const LOCALE = /^[a-z]{2,3}(_[A-Za-z0-9]+)*$/;
/** Single-byte converters (windows-125x, ISO-8859-x: 1-20 KB each) stay; the CJK tables go. */
const MAX_CONVERTER_BYTES = 20_000;

/**
 * Whether the bundle keeps an item: everything but transliterators, break dictionaries (CJK/Thai
 * word breaking), multi-byte converters and the resource bundles of non-English locales.
 */
export function keepIcuItem(name: string, bytes: number): boolean {
  const parts = name.split('/').slice(1);
  if (parts[0] === 'translit') return false;
  const base = parts[parts.length - 1];
  const ext = base.slice(base.lastIndexOf('.') + 1);
  const stem = base.slice(0, base.lastIndexOf('.'));
  if (ext === 'cnv') return bytes <= MAX_CONVERTER_BYTES;
  if (ext === 'dict') return false;
  if (ext === 'res' && stem !== 'res_index' && LOCALE.test(stem)) return KEPT_LOCALES.has(stem);
  return true;
}

export function trimIcuData(blob: Buffer): Buffer {
  const data = parseIcuData(blob);
  return writeIcuData({ header: data.header, items: data.items.filter((it) => keepIcuItem(it.name, it.data.length)) });
}

/** Where the linked ICU blob is: its symbol's size from the unstripped binary (nm), or undefined. */
export function icuBlobSize(binary: string): number | undefined {
  for (const args of [['-S', '--defined-only'], ['-D', '-S', '--defined-only']]) {
    try {
      const out = execFileSync('nm', [...args, binary], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
      const m = /^[0-9a-f]+ ([0-9a-f]+) [rR] icudt\d+_dat$/m.exec(out);
      if (m) return parseInt(m[1], 16);
    } catch {
      // nm missing or no symbols: try the next table
    }
  }
  return undefined;
}

/** A little-endian CmnD header from byte 2 on (dataInfo size 20, ASCII, 2-byte UChar, "CmnD"). */
const SIGNATURE = Buffer.from([0xda, 0x27, 0x14, 0, 0, 0, 0, 0, 2, 0, ...Buffer.from('CmnD')]);

/**
 * Replaces the ICU blob inside `binary` (a node executable's bytes, patched in place) with its
 * trimmed form padded with zeros. `blobSize` comes from the unstripped binary's symbol table; the
 * blob is found by its header, which must occur exactly once. Returns the bytes kept.
 */
export function trimIcuInBinary(binary: Buffer, blobSize: number): number {
  const sig = binary.indexOf(SIGNATURE);
  if (sig < 2 || binary.indexOf(SIGNATURE, sig + 1) >= 0) throw new Error('the ICU data blob is not found exactly once in the binary');
  const blob = binary.subarray(sig - 2, sig - 2 + blobSize);
  const small = trimIcuData(blob);
  if (small.length > blob.length) throw new Error('trimmed ICU data is larger than the original');
  small.copy(blob, 0);
  blob.fill(0, small.length);
  return small.length;
}

/**
 * What a trimmed node must still print exactly as the full one does: the ICU services tknp, the
 * tokenizers, vitest and yargs use, with explicit English locales and time zones.
 */
export const ICU_SMOKE_JS = `console.log(JSON.stringify([
  'e\\u0301'.normalize('NFC'), '\\ufb01'.normalize('NFKC'), 'é'.normalize('NFD').length,
  /\\p{L}+\\p{Nd}/u.test('héllo1'), /É/iu.test('é'), 'ß'.toLocaleUpperCase('en'), 'i'.toLocaleUpperCase('tr'),
  new Intl.NumberFormat('en-US').format(1234567.891), (1234.5).toLocaleString('en-US'),
  new Intl.NumberFormat('en', { style: 'unit', unit: 'megabyte' }).format(3),
  new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'full', timeStyle: 'long' }).format(new Date(0)),
  new Intl.DateTimeFormat('en', { timeZone: 'Asia/Tokyo', timeZoneName: 'short' }).format(new Date(0)),
  [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment('\\u{1F468}\\u200D\\u{1F469}a\\u0301')].length,
  [...new Intl.Segmenter('en', { granularity: 'word' }).segment('hello, world')].length,
  ['b', 'a', 'C', 'ä'].sort(new Intl.Collator('en').compare).join(''), 'a'.localeCompare('B'),
  new Intl.PluralRules('en').select(1), new Intl.RelativeTimeFormat('en').format(-1, 'day'),
  new Intl.ListFormat('en').format(['a', 'b', 'c']), new Intl.DisplayNames('en', { type: 'region' }).of('US'),
  new TextDecoder('windows-1252').decode(new Uint8Array([0x41, 0xe9])), new TextDecoder('utf-16le').decode(new Uint8Array([65, 0])),
]));`;

/** `node -e ICU_SMOKE_JS`'s output, or the error it failed with. */
export function icuSmoke(node: string): string {
  try {
    return execFileSync(node, ['-e', ICU_SMOKE_JS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `failed: ${(e as Error).message}`;
  }
}
