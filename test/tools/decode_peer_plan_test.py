"""Unit tests of tools/decode_peer_plan.py (the torch-free half of tools/bench_decode_pytorch.py).
Run by test/tools/decode_peer.test.ts: python3 -m unittest test/tools/decode_peer_plan_test.py"""
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from decode_peer_plan import (PeerError, check_cases, fit_batch, inv_freq, kv_bytes, load_cases, model_dims,  # noqa: E402
                              stats, warm_until_stable, weight_bytes)

LLAMA3 = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
          "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256, "rope_theta": 500000,
          "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
                           "original_max_position_embeddings": 8192}}


class Dims(unittest.TestCase):
    def test_llama3_dims_and_bytes(self):
        d = model_dims(LLAMA3)
        self.assertEqual((d["group"], d["head_dim"], d["qkv_bias"], d["tie"]), (4, 128, False, False))
        # 8.03 B parameters (Meta's figure for Llama-3-8B): 8,030,261,248 x 2 bytes.
        self.assertEqual(weight_bytes(d), 2 * 8_030_261_248)
        # 128 KiB of KV per token (32 layers x k, v x 8 heads x 128 x 2 bytes).
        self.assertEqual(kv_bytes(d, 1, 1), 128 * 1024)
        self.assertEqual(kv_bytes(d, 3, 10), 30 * 128 * 1024)

    def test_qwen2_has_a_qkv_bias_and_head_dim_defaults_to_hidden_over_heads(self):
        d = model_dims({**LLAMA3, "model_type": "qwen2", "head_dim": None, "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4})
        self.assertTrue(d["qkv_bias"])
        self.assertEqual(d["head_dim"], 128)

    def test_bad_configs_are_named(self):
        with self.assertRaisesRegex(PeerError, "'hidden_size' must be an integer >= 1, got '4096'"):
            model_dims({**LLAMA3, "hidden_size": "4096"})
        with self.assertRaisesRegex(PeerError, "not a multiple of num_key_value_heads 5"):
            model_dims({**LLAMA3, "num_key_value_heads": 5})


class Rope(unittest.TestCase):
    def test_llama3_scaling_by_hand(self):
        f = inv_freq(LLAMA3, 128)
        base = lambda i: 500000 ** (-2 * i / 128)  # noqa: E731
        self.assertEqual(f[0], 1.0)  # wavelength 2 pi < 8192 / 4: unchanged
        self.assertAlmostEqual(f[63] / base(63), 1 / 8, places=12)  # wavelength 2.6e6 > 8192: divided by 8
        # i = 33: f = 500000^(-66/128) = e^-6.76622 = 1.15205e-3, wavelength 2 pi / f = 5453.9 (medium):
        # smooth = (8192 / 5453.9 - 1) / 3 = 0.16734, scaled by (1 - smooth) / 8 + smooth
        self.assertAlmostEqual(f[33] / base(33), (1 - 0.16734) / 8 + 0.16734, places=4)

    def test_default_rope_and_rope_parameters(self):
        self.assertEqual(inv_freq({"rope_theta": 10000}, 4), [1.0, 0.01])
        scaled = inv_freq({"rope_parameters": {**LLAMA3["rope_scaling"], "rope_theta": 500000}}, 128)
        self.assertEqual(scaled, inv_freq(LLAMA3, 128))
        with self.assertRaisesRegex(PeerError, "'yarn' is not supported"):
            inv_freq({"rope_scaling": {"rope_type": "yarn", "factor": 4}}, 128)


class Fit(unittest.TestCase):
    def test_largest_batch_that_fits(self):
        d = model_dims(LLAMA3)
        GiB = 1 << 30
        self.assertEqual(fit_batch(d, 16, 4097, 70 * GiB), 16)
        got = fit_batch(d, 128, 4097, 63 * GiB)
        self.assertLess(got, 128)
        per_seq = (63 * GiB - (2 << 30)) / got
        self.assertGreater(per_seq, kv_bytes(d, 1, 4097))  # at least its KV per sequence
        self.assertEqual(fit_batch(d, 4, 4097, GiB), 0)


class Timing(unittest.TestCase):
    def test_warm_up_stops_when_two_batches_agree_within_3_percent(self):
        seq = iter([30.0, 12.0, 10.5, 10.3, 10.0])
        self.assertEqual(warm_until_stable(lambda: next(seq)), (4, 10.3, True))
        flat = iter([5.0, 5.1])
        self.assertEqual(warm_until_stable(lambda: next(flat)), (2, 5.1, True))
        noisy = iter([1.0, 2.0] * 3)
        self.assertEqual(warm_until_stable(lambda: next(noisy), max_batches=6), (6, 2.0, False))

    def test_stats(self):
        s = stats([4, 1, 3, 2, 10])
        self.assertEqual((s["median"], s["mean"], s["min"], s["max"]), (3, 4, 1, 10))
        self.assertEqual(stats([1, 2, 3, 4])["median"], 2.5)
        with self.assertRaises(PeerError):
            stats([])


class Cases(unittest.TestCase):
    def test_case_file_errors_name_the_field(self):
        good = {"preset": "x", "config": LLAMA3, "cases": [{"batch": 1, "context": 4096}], "ttft": 4096}
        self.assertIs(check_cases(good, "f.json"), good)
        for doc, msg in [
            ([], "expected an object"),
            ({**good, "config": None}, "'config'"),
            ({**good, "cases": []}, "non-empty list"),
            ({**good, "cases": [{"batch": 0, "context": 1}]}, r"cases\[0\]: 'batch' must be an integer >= 1, got 0"),
            ({**good, "cases": [{"batch": 1, "context": 8}, {"batch": 1, "context": 8}]}, "listed twice"),
            ({**good, "ttft": -1}, "'ttft'"),
        ]:
            with self.assertRaisesRegex(PeerError, msg):
                check_cases(doc, "f.json")

    def test_load_cases_reads_json_and_names_the_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cases.json")
            with open(path, "w") as f:
                json.dump({"config": LLAMA3, "cases": [{"batch": 2, "context": 3}]}, f)
            self.assertEqual(load_cases(path)["cases"], [{"batch": 2, "context": 3}])
            with open(path, "w") as f:
                f.write("{not json")
            with self.assertRaisesRegex(PeerError, "cases.json is not JSON"):
                load_cases(path)
            with self.assertRaisesRegex(PeerError, "cannot read the case file"):
                load_cases(os.path.join(tmp, "missing.json"))


if __name__ == "__main__":
    unittest.main()
