"""The torch-free half of tools/make_quant_fixtures.py: round-to-nearest quantization of a weight
[N, K] (out, in) in groups of 128 along K, and the AWQ (GEMM) and GPTQ (v1) checkpoint packings, in
numpy, written from the formats' descriptions (docs/QUANTIZATION.md). test/tools/quant_pack.test.ts
runs it here (no torch needed) and unpacks its words with tknp's TypeScript readers.

  AWQ  qweight int32 [K, N/8]: a word holds outputs 8w .. 8w+7, nibble i holding output 8w + (0,2,4,6,1,3,5,7)[i];
       qzeros int32 [K/g, N/8] likewise; scales f16 [K/g, N]; w = (q - z) * s.
  GPTQ qweight int32 [K/8, N]: a word holds inputs 8j .. 8j+7 of one output, input 8j + i at bits 4i;
       qzeros int32 [K/g, N/8]: output 8j + i at bits 4i, holding zero - 1 (format 'gptq', v1);
       scales f16 [K/g, N]; g_idx int32 [K] = k // g.
"""
import numpy as np

GROUP = 128
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def quantize_awq(w: np.ndarray, group: int = GROUP):
    """w [N, K] float32 -> q [N, K], zeros [N, G] (int64), scales [N, G] float16: 4-bit asymmetric."""
    n, k = w.shape
    g = w.astype(np.float32).reshape(n, k // group, group)
    wmax, wmin = g.max(axis=2), g.min(axis=2)
    s = (np.maximum(wmax - wmin, np.float32(1e-5)) / np.float32(15)).astype(np.float16)
    sf = s.astype(np.float32)
    z = np.clip(np.round(-wmin / sf), 0, 15)
    q = np.clip(np.round(g / sf[:, :, None]) + z[:, :, None], 0, 15)
    return q.reshape(n, k).astype(np.int64), z.astype(np.int64), s


def quantize_gptq_sym(w: np.ndarray, group: int = GROUP):
    """w [N, K] -> q [N, K], zeros [N, G] (all 8), scales [N, G] float16: 4-bit symmetric (zero 8)."""
    n, k = w.shape
    g = w.astype(np.float32).reshape(n, k // group, group)
    s = (np.maximum(np.abs(g).max(axis=2), np.float32(1e-5)) / np.float32(7.5)).astype(np.float16)
    sf = s.astype(np.float32)
    q = np.clip(np.round(g / sf[:, :, None]) + 8, 0, 15)
    return q.reshape(n, k).astype(np.int64), np.full(s.shape, 8, dtype=np.int64), s


def dequantize(q: np.ndarray, z: np.ndarray, s: np.ndarray, group: int = GROUP) -> np.ndarray:
    """(q - z) * s in float32, s widened from float16: [N, K]."""
    n, k = q.shape
    d = (q.reshape(n, k // group, group) - z[:, :, None]).astype(np.float32) * s.astype(np.float32)[:, :, None]
    return d.reshape(n, k)


def _int32(words: np.ndarray) -> np.ndarray:
    return (words & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def pack_awq_rows(v: np.ndarray) -> np.ndarray:
    """v [R, N] 4-bit values by output -> [R, N/8] int32 in AWQ's GEMM order along N."""
    r, n = v.shape
    blocks = v.astype(np.int64).reshape(r, n // 8, 8)
    words = np.zeros((r, n // 8), dtype=np.int64)
    for i, col in enumerate(AWQ_ORDER):
        words |= blocks[:, :, col] << (4 * i)
    return _int32(words)


def pack_along_first(v: np.ndarray) -> np.ndarray:
    """v [K, N] -> [K/8, N] int32: row 8j + i of v at bits 4i of word row j (GPTQ's qweight)."""
    k, n = v.shape
    blocks = v.astype(np.int64).reshape(k // 8, 8, n)
    words = np.zeros((k // 8, n), dtype=np.int64)
    for i in range(8):
        words |= blocks[:, i, :] << (4 * i)
    return _int32(words)


def pack_along_last(v: np.ndarray) -> np.ndarray:
    """v [R, N] -> [R, N/8] int32: column 8j + i at bits 4i of word column j (GPTQ's qzeros)."""
    r, n = v.shape
    blocks = v.astype(np.int64).reshape(r, n // 8, 8)
    words = np.zeros((r, n // 8), dtype=np.int64)
    for i in range(8):
        words |= blocks[:, :, i] << (4 * i)
    return _int32(words)


def nibble(words: np.ndarray, i) -> np.ndarray:
    return (words.astype(np.uint32) >> np.uint32(4 * i)) & np.uint32(15)


def awq_tensors(w: np.ndarray, group: int = GROUP):
    """AWQ checkpoint tensors of w [N, K], the integers, and the dequantized weight; read back one nibble
    at a time (the format's description, not the packer's loops) before returning."""
    q, z, s = quantize_awq(w, group)
    t = {"qweight": pack_awq_rows(q.T), "qzeros": pack_awq_rows(z.T), "scales": np.ascontiguousarray(s.T)}
    for out in sorted({0, 1, 5, 7, q.shape[0] - 1}):
        word, pos = out // 8, AWQ_ORDER.index(out % 8)
        assert np.array_equal(nibble(t["qweight"][:, word], pos), q[out]), f"AWQ qweight of output {out} does not read back"
        assert np.array_equal(nibble(t["qzeros"][:, word], pos), z[out]), f"AWQ qzeros of output {out} does not read back"
    return t, (q, z, s), dequantize(q, z, s, group)


def gptq_tensors(w: np.ndarray, group: int = GROUP):
    """GPTQ (4-bit, sym, v1) checkpoint tensors of w [N, K], the integers and the dequantized weight."""
    q, z, s = quantize_gptq_sym(w, group)
    k = w.shape[1]
    t = {
        "qweight": pack_along_first(q.T),
        "qzeros": pack_along_last((z - 1).T),  # v1 stores zero - 1
        "scales": np.ascontiguousarray(s.T),
        "g_idx": (np.arange(k) // group).astype(np.int32),
    }
    for out in sorted({0, 1, 9, q.shape[0] - 1}):
        got = np.array([nibble(t["qweight"][kk // 8, out], kk % 8) for kk in range(k)])
        assert np.array_equal(got, q[out]), f"GPTQ qweight of output {out} does not read back"
        assert np.array_equal(nibble(t["qzeros"][:, out // 8], out % 8) + 1, z[out]), f"GPTQ qzeros of output {out} does not read back"
    return t, (q, z, s), dequantize(q, z, s, group)
