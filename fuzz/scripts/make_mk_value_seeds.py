#!/usr/bin/env python3
"""Writes seeds/mk_value/: MK values (`Base64(ciphertext)|Base64(IV)`) under the fuzz key
`sample_key(0xF022)` (re-implemented here from octo-migrate-sample/src/rng.rs), plus a few
malformed ones. Deterministic (fixed IVs). Needs the `cryptography` package.

    python3 scripts/make_mk_value_seeds.py      # from fuzz/
"""
import base64
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

M = (1 << 64) - 1


class SplitMix64:
    def __init__(self, s):
        self.s = s & M

    def next_u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return z ^ (z >> 31)

    @staticmethod
    def derive(seed, a, b):
        s = SplitMix64(seed ^ 0x6A09E667F3BCC908)
        x = s.next_u64() ^ ((a * 0x9E3779B97F4A7C15) & M)
        s = SplitMix64(x)
        y = s.next_u64() ^ ((b * 0xC2B2AE3D27D4EB4F) & M)
        return SplitMix64(y)


def sample_key(seed):
    r = SplitMix64.derive(seed, 0x6B6579, 0)
    return b"".join(r.next_u64().to_bytes(8, "little") for _ in range(2))


def enc(key, plain, iv):
    p = padding.PKCS7(128).padder()
    data = p.update(plain) + p.finalize()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = e.update(data) + e.finalize()
    return base64.b64encode(ct) + b"|" + base64.b64encode(iv)


key = sample_key(0xF022)
other = sample_key(1)
iv = bytes(range(16))
seeds = {
    "valid_short.txt": enc(key, b"s3cr3t-pw", iv),
    "valid_empty_plain.txt": enc(key, b"", iv),
    "valid_block_exact.txt": enc(key, b"0123456789abcdef", bytes(16)),
    "valid_unicode.txt": enc(key, "pässwörd ☃".encode(), iv),
    "valid_spaces.txt": b" " + enc(key, b"x", iv).replace(b"|", b" | ") + b"\n",
    "valid_not_utf8.txt": enc(key, b"\xff\xfe\x00bad", iv),
    "other_key.txt": enc(other, b"s3cr3t-pw", iv),
    "bad_iv_length.txt": enc(key, b"s3cr3t-pw", iv).split(b"|")[0] + b"|AAAA",
    "partial_block.txt": base64.b64encode(b"A" * 20) + b"|" + base64.b64encode(iv),
    "no_pipe.txt": b"c2VjcmV0",
    "plain_text.txt": b"not encrypted",
}
os.makedirs("seeds/mk_value", exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join("seeds/mk_value", name), "wb") as f:
        f.write(data)
print(key.hex(), len(seeds), "seeds")
