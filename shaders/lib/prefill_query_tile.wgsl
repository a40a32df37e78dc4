// The query tile a prefill_attention workgroup owns (the tiling and dispatch order of
// prefill_attention.wgsl's header): statements for the top of main, not module-scope code.
// Uses the includer's wid, nwg (builtins), p (prefill_params), queryStartLoc, seqLens and BK
// (keys per tile). Returns from main when the workgroup has no rows; otherwise defines
// kvHead, qTile, seq, qStart, qLen, R, G, seqLen, firstPos, nRows, lastPos, numKeyTiles,
// tok0, head0 and, with SLIDING, kt0: the first key tile any row's window reaches (earlier tiles
// are masked for every row: skipped).
  let wgIndex = wid.x + wid.y * nwg.x;
  if (wgIndex >= p.numSeqs * p.numKvHeads * p.numQTiles) { return; }
  let kvHead = wgIndex % p.numKvHeads;
  let rest = wgIndex / p.numKvHeads;
  let qTile = p.numQTiles - 1u - rest % p.numQTiles;
  let seq = rest / p.numQTiles;

  let qStart = queryStartLoc[seq];
  let qLen = queryStartLoc[seq + 1u] - qStart;
  let R = p.tileTokens;
  let G = p.groupSize;
  let seqLen = seqLens[seq];
  if (qTile * R >= qLen || seqLen < qLen) { return; } // (seqLen < qLen: malformed, skipped)
  let firstPos = seqLen - qLen + qTile * R;       // position of the tile's first token
  let nRows = min(R, qLen - qTile * R);            // valid tokens in this tile
  let lastPos = firstPos + nRows - 1u;
  let numKeyTiles = lastPos / BK + 1u;
  let tok0 = qStart + qTile * R;
  let head0 = kvHead * G;
//#if SLIDING
  let kt0 = select(0u, (firstPos + 1u - p.window) / BK, firstPos + 1u > p.window);
//#endif
