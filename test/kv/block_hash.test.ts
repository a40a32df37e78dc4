import { describe, expect, it } from 'vitest';
import { extendBlockHashes, hashBlock, rootBlockHash } from '../../src/kv/block_hash.js';
import { Rng } from '../../src/util/rng.js';

const hashesOf = (tokens: readonly number[], salt = 'm') => extendBlockHashes([], rootBlockHash(salt), Math.floor(tokens.length / 16), 16, (p) => tokens[p]);

describe('block hashes', () => {
  it('match an independent sha256 of (parent hash text, 16 u32 little-endian token ids) (Python hashlib)', () => {
    // python3: root = b64(sha256(b'tknp prefix cache v1\0' + b'model-x')); h = b64(sha256(parent.encode() + struct.pack('<16I', *tokens)))
    const root = rootBlockHash('model-x');
    expect(root).toBe('G7Qrobt+jFVc9Iv5BXp6TbWFE+BekS5z+ZdM+fAe2Xo=');
    const t1 = Array.from({ length: 16 }, (_, i) => 1000 + i);
    const t2 = [0xffffffff, ...Array.from({ length: 15 }, (_, i) => 1 + i)];
    const h = extendBlockHashes([], root, 2, 16, (p) => [...t1, ...t2][p]);
    expect(h).toEqual(['U1YUZpYKv1HO292KtdLSxlhpJ4bGOzprzv35HzXVAvo=', 'vZ/obLyyqpMh7ZRHNnsEmJhfdTTryYgg9JLHyKV0NrM=']);
    expect(hashBlock(h[0], Uint32Array.from(t2))).toBe(h[1]);
  });

  it('chain over the prefix: a changed token changes its block and every later one, never an earlier one; the salt changes all', () => {
    const rng = new Rng(3);
    const tokens = Array.from({ length: 16 * 8 + 5 }, () => rng.int(0, 1 << 20));
    const base = hashesOf(tokens);
    expect(base.length).toBe(8); // the partial last block has no hash
    expect(new Set(base).size).toBe(8);
    for (const p of [0, 15, 16, 77, 127]) {
      const changed = [...tokens];
      changed[p] ^= 1;
      const h = hashesOf(changed);
      const k = Math.floor(p / 16);
      for (let i = 0; i < 8; i++) expect(h[i] === base[i], `change at ${p}, block ${i}`).toBe(i < k);
    }
    expect(hashesOf(tokens, 'other model').some((h, i) => h === base[i])).toBe(false);
    // equal blocks at different positions (after different prefixes) differ
    const repeated = [...tokens.slice(0, 16), ...tokens.slice(0, 16)];
    const [a, b] = hashesOf(repeated);
    expect(a).not.toBe(b);
  });

  it('extend incrementally to the same hashes as at once, and leave enough alone', () => {
    const tokens = Array.from({ length: 16 * 6 }, (_, i) => (i * 7919) % 5000);
    const all = hashesOf(tokens);
    const inc: string[] = [];
    for (const n of [0, 1, 1, 3, 6, 4]) extendBlockHashes(inc, rootBlockHash('m'), n, 16, (p) => tokens[p]);
    expect(inc).toEqual(all);
  });
});
