// Content hashes of full KV blocks, the keys of the prefix cache (after vLLM v1's block hashes).
// Block i of a token sequence covers positions [16 i, 16 i + 16); its hash is
//   sha256(hash of block i - 1 || its 16 token ids as u32 little-endian),
// and block 0's parent is a root hash of whatever else decides the block's KV contents (the
// engine passes the model directory, weight format and kernel mode). So equal hashes mean equal
// tokens at equal positions after an equal prefix: the same KV, whichever request computed it.
// sha256 keeps collisions out of reach (vLLM's default too): a collision would silently hand one
// request another's KV. A partial last block has no hash and is never shared.
import { createHash } from 'node:crypto';

export type BlockHash = string;

/** The parent hash of every sequence's block 0; `salt` names what else shapes the KV. */
export function rootBlockHash(salt: string): BlockHash {
  return createHash('sha256').update('tknp prefix cache v1\0').update(salt).digest('base64');
}

/** The hash of one full block: its parent's hash and its token ids ([blockSize] u32). */
export function hashBlock(parent: BlockHash, tokens: Uint32Array): BlockHash {
  return createHash('sha256').update(parent).update(tokens).digest('base64');
}

/**
 * Extends `hashes` (the hashes of a sequence's first blocks, in order) to its first `numBlocks`
 * full blocks; `tokenAt(p)` is the sequence's token at position p, which must exist for every
 * position of those blocks. Returns `hashes`.
 */
export function extendBlockHashes(hashes: BlockHash[], root: BlockHash, numBlocks: number, blockSize: number, tokenAt: (p: number) => number): BlockHash[] {
  if (hashes.length >= numBlocks) return hashes;
  const tokens = new Uint32Array(blockSize);
  for (let i = hashes.length; i < numBlocks; i++) {
    for (let j = 0; j < blockSize; j++) tokens[j] = tokenAt(i * blockSize + j);
    hashes.push(hashBlock(i === 0 ? root : hashes[i - 1], tokens));
  }
  return hashes;
}
