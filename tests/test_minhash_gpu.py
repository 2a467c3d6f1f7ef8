"""GPU path: identical signatures to the CPU path. Skips without CuPy or a CUDA device."""

from __future__ import annotations

import random

import numpy as np
import pytest
from trivium.kernels import minhash as mh
from trivium.kernels import minhash_gpu

pytestmark = pytest.mark.skipif(not minhash_gpu.available(), reason="needs CuPy and a CUDA device")


def _texts(n: int = 300) -> list[str | None]:
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(2000)] + list("中文維基百科是一個自由的百科全書") + ["😀", "Ａ"]
    out: list[str | None] = ["", None, "one", "中文", "😀"]
    out += [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 800))) for _ in range(n)]
    return out


@pytest.mark.parametrize("scheme", mh.SCHEMES)
@pytest.mark.parametrize("num_perm", [1, 112, 300])
def test_gpu_signatures_equal_cpu(scheme, num_perm):
    params = mh.MinHashParams(num_perm=num_perm, scheme=scheme, ngram=5)
    texts = _texts()
    hashes, offsets = mh.shingle_hashes(texts, params)
    cpu = mh.signatures_from_hashes(hashes, offsets, params)
    gpu = minhash_gpu.signatures_from_hashes(hashes, offsets, params)
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
    assert np.array_equal(gpu, cpu)


def test_device_gpu_through_the_public_call():
    params = mh.MinHashParams()
    texts = _texts(50)
    assert np.array_equal(mh.signatures(texts, params, device="gpu"), mh.signatures(texts, params))
    assert np.array_equal(mh.signatures(texts, params, device="auto"), mh.signatures(texts, params))
