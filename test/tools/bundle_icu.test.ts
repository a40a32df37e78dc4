// The bundle's ICU trimming (tools/bundle/icu.ts): the CmnD reader/writer on hand-built common
// data, which items the bundle keeps, the in-place patch of a binary, and (where this node's own
// blob can be found) an exact round trip of the real data.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { icuBlobSize, keepIcuItem, parseIcuData, trimIcuData, trimIcuInBinary, writeIcuData, type IcuItem } from '../../tools/bundle/icu.js';

/** A 32-byte little-endian CmnD header: headerSize, magic, UDataInfo (size 20, LE, ASCII, UChar 2, "CmnD"). */
function header(): Buffer {
  const h = Buffer.alloc(32);
  h.writeUInt16LE(32, 0);
  Buffer.from([0xda, 0x27, 0x14, 0, 0, 0, 0, 0, 2, 0]).copy(h, 2);
  h.write('CmnD', 12, 'latin1');
  h.write('test', 20, 'latin1');
  return h;
}

const item = (name: string, text: string): IcuItem => {
  const data = Buffer.alloc(Math.ceil(text.length / 16) * 16);
  data.write(text, 'latin1');
  return { name: `icudt78l/${name}`, data };
};

const ITEMS: IcuItem[] = [
  item('brkitr/char.brk', 'grapheme rules'),
  item('brkitr/cjdict.dict', 'cjk words'),
  item('coll/de.res', 'german collation'),
  item('coll/en.res', 'english'),
  item('coll/root.res', 'root collation and more'),
  item('de.res', 'deutsch'),
  item('en_US.res', 'us'),
  item('ibm-5348_P100-1997.cnv', 'windows-1252'),
  item('nfc.nrm', 'normalization'),
  item('root.res', 'root locale'),
  item('supplementalData.res', 'supplemental'),
  item('translit/root.res', 'transliterators'),
];

describe('ICU common data', () => {
  it('reads back what it writes: the header, names in order, and each item at a 16-aligned offset', () => {
    const blob = writeIcuData({ header: header(), items: ITEMS });
    const toc = 32;
    expect(blob.readUInt32LE(toc)).toBe(ITEMS.length);
    // Names start right after the 12 x 8-byte entries; data offsets are 16-aligned from the TOC.
    expect(blob.readUInt32LE(toc + 4)).toBe(4 + 8 * ITEMS.length);
    for (let i = 0; i < ITEMS.length; i++) expect(blob.readUInt32LE(toc + 8 + 8 * i) % 16).toBe(0);
    const back = parseIcuData(blob);
    expect(back.header).toEqual(header());
    expect(back.items.map((it) => it.name)).toEqual(ITEMS.map((it) => it.name));
    expect(back.items.map((it) => it.data.toString('latin1').replace(/\0+$/, ''))).toEqual(ITEMS.map((it) => it.data.toString('latin1').replace(/\0+$/, '')));
    expect(writeIcuData(back)).toEqual(blob);
  });

  it('refuses data that is not little-endian CmnD', () => {
    const blob = writeIcuData({ header: header(), items: ITEMS });
    blob.write('ResB', 12, 'latin1');
    expect(() => parseIcuData(blob)).toThrow(/not little-endian ICU common data/);
  });

  it('keeps core data, root and English; drops other locales, dictionaries, transliterators and multi-byte converters', () => {
    const kept = ITEMS.filter((it) => keepIcuItem(it.name, it.data.length)).map((it) => it.name.slice('icudt78l/'.length));
    expect(kept).toEqual(['brkitr/char.brk', 'coll/en.res', 'coll/root.res', 'en_US.res', 'ibm-5348_P100-1997.cnv', 'nfc.nrm', 'root.res', 'supplementalData.res']);
    expect(keepIcuItem('icudt78l/gb18030-2022.cnv', 233_024)).toBe(false);
    expect(keepIcuItem('icudt78l/zone/en_001.res', 900)).toBe(true);
    expect(keepIcuItem('icudt78l/zone/en_GB.res', 900)).toBe(false);
    expect(keepIcuItem('icudt78l/zone/pool.res', 90_000)).toBe(true);
    expect(keepIcuItem('icudt78l/zone/res_index.res', 900)).toBe(true); // the locale list (a name shaped like a locale)
  });

  it('patches the blob inside a binary in place: trimmed data first, zeros up to the old end, the rest untouched', () => {
    const blob = writeIcuData({ header: header(), items: ITEMS });
    const before = Buffer.alloc(1000, 0x11);
    const after = Buffer.alloc(500, 0x22);
    const binary = Buffer.concat([before, blob, after]);
    const kept = trimIcuInBinary(binary, blob.length);
    const small = trimIcuData(blob);
    expect(kept).toBe(small.length);
    expect(kept).toBeLessThan(blob.length);
    expect(binary.subarray(0, 1000)).toEqual(before);
    expect(binary.subarray(1000, 1000 + kept)).toEqual(small);
    expect(binary.subarray(1000 + kept, 1000 + blob.length).every((b) => b === 0)).toBe(true);
    expect(binary.subarray(1000 + blob.length)).toEqual(after);
    expect(() => trimIcuInBinary(Buffer.concat([binary, blob]), blob.length)).toThrow(/not found exactly once/);
  });

  // The running node's own blob, where nm finds its symbol (official builds export it; nm missing:
  // the test says so and checks nothing). Under the bundle's node the blob is already cut.
  const size = spawnSync('nm', ['--version']).status === 0 ? icuBlobSize(process.execPath) : undefined;
  it("round-trips the running node's ICU data byte for byte; trims a full blob to under a fifth, a trimmed one to itself", (ctx) => {
    if (size === undefined) {
      console.log(`skipped: nm finds no icudt*_dat symbol in ${process.execPath} (or nm is missing)`);
      ctx.skip();
    }
    const binary = readFileSync(process.execPath);
    const sig = binary.indexOf(Buffer.from([0xda, 0x27, 0x14, 0, 0, 0, 0, 0, 2, 0, ...Buffer.from('CmnD')]));
    const blob = binary.subarray(sig - 2, sig - 2 + size!);
    const data = parseIcuData(blob);
    expect(writeIcuData(data).equals(blob)).toBe(true);
    const names = (d: { items: readonly IcuItem[] }) => d.items.map((it) => it.name.replace(/^icudt\d+l\//, ''));
    const small = trimIcuData(blob);
    const kept = names(parseIcuData(small));
    expect(kept).toEqual(expect.arrayContaining(['nfkc.nrm', 'uts46.nrm', 'brkitr/char.brk', 'coll/root.res', 'coll/res_index.res', 'root.res', 'en.res', 'res_index.res', 'zoneinfo64.res']));
    expect(kept).not.toContain('de.res');
    if (names(data).includes('de.res')) {
      expect(data.items.length).toBeGreaterThan(1000);
      expect(small.length).toBeLessThan(blob.length / 5);
    } else {
      expect(small.equals(blob)).toBe(true); // the bundle's node: cutting again changes nothing
    }
  });
});
