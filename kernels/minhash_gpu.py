"""GPU path of the MinHash kernel (CuPy): the permutations and minimum run on the device.

Shingling and shingle hashing stay on the CPU (`minhash.shingle_hashes`, Numba); the
`n_shingles x num_perm` multiply-add-minimum, which dominates, runs as one CUDA kernel: one block
per document, one thread per permutation. Integer arithmetic wraps identically on both sides, so
the signatures are bit-for-bit those of the CPU path. CuPy is imported lazily: the CPU path never
needs it, and `available()` is False without CuPy or a CUDA device.
"""

from __future__ import annotations

import numpy as np

_SOURCE = r"""
typedef unsigned long long u64;
typedef unsigned int u32;

extern "C" __global__ void minhash_affine64(const u64* hashes, const long long* offsets, const u64* a,
                                            const u64* b, u64* sig, int num_perm) {
    int d = blockIdx.x;
    long long lo = offsets[d], hi = offsets[d + 1];
    for (int p = threadIdx.x; p < num_perm; p += blockDim.x) {
        u64 ap = a[p], bp = b[p], best = 0xFFFFFFFFFFFFFFFFull;
        for (long long s = lo; s < hi; ++s) {
            u64 h = hashes[s];
            h ^= h >> 33; h *= 0xFF51AFD7ED558CCDull; h ^= h >> 33; h *= 0xC4CEB9FE1A85EC53ull; h ^= h >> 33;
            u64 v = ap * h + bp;
            best = v < best ? v : best;
        }
        sig[(long long)d * num_perm + p] = best;
    }
}

extern "C" __global__ void minhash_affine32(const u64* hashes, const long long* offsets, const u32* a,
                                            const u32* b, u32* sig, int num_perm) {
    int d = blockIdx.x;
    long long lo = offsets[d], hi = offsets[d + 1];
    for (int p = threadIdx.x; p < num_perm; p += blockDim.x) {
        u32 ap = a[p], bp = b[p], best = 0xFFFFFFFFu;
        for (long long s = lo; s < hi; ++s) {
            u32 h = (u32)hashes[s];
            h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; h ^= h >> 16;
            u32 v = ap * h + bp;
            best = v < best ? v : best;
        }
        sig[(long long)d * num_perm + p] = best;
    }
}

extern "C" __global__ void minhash_legacy(const u64* hashes, const long long* offsets, const u64* a,
                                          const u64* b, u64* sig, int num_perm) {
    const u64 prime = (1ull << 61) - 1, mask = 0xFFFFFFFFull;
    int d = blockIdx.x;
    long long lo = offsets[d], hi = offsets[d + 1];
    for (int p = threadIdx.x; p < num_perm; p += blockDim.x) {
        u64 ap = a[p], bp = b[p], best = mask;
        for (long long s = lo; s < hi; ++s) {
            u64 v = ((ap * (hashes[s] & mask) + bp) % prime) & mask;
            best = v < best ? v : best;
        }
        sig[(long long)d * num_perm + p] = best;
    }
}
"""

_MODULE = None
_AVAILABLE: bool | None = None


def available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            import cupy as cp

            _AVAILABLE = cp.cuda.runtime.getDeviceCount() > 0
        except Exception:  # noqa: BLE001 - ImportError, CUDA driver errors: no GPU path
            _AVAILABLE = False
    return _AVAILABLE


def _module():
    global _MODULE
    if _MODULE is None:
        import cupy as cp

        _MODULE = cp.RawModule(code=_SOURCE, options=("--std=c++11",))
    return _MODULE


def signatures_from_hashes(hashes: np.ndarray, offsets: np.ndarray, params) -> np.ndarray:
    """Same contract as `minhash.signatures_from_hashes`, computed on the GPU."""
    import cupy as cp
    from trivium.kernels.minhash import permutations

    n_docs = len(offsets) - 1
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    out = cp.empty((n_docs, params.num_perm), dtype=params.dtype)
    if n_docs == 0:
        return cp.asnumpy(out)
    kernel = _module().get_function(f"minhash_{params.scheme}")
    d_hashes = cp.asarray(hashes if len(hashes) else np.zeros(1, np.uint64))
    d_offsets = cp.asarray(offsets.astype(np.int64))
    threads = min(256, max(32, ((params.num_perm + 31) // 32) * 32))
    kernel(
        (n_docs,),
        (threads,),
        (d_hashes, d_offsets, cp.asarray(a), cp.asarray(b), out, np.int32(params.num_perm)),
    )
    return cp.asnumpy(out)
