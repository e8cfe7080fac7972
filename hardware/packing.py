"""Lossless compact storage of a plan's sparse weight matrices in ``.lava`` files.

A composed pooling + convolution matrix has millions of nonzeros but few distinct values (a
kernel weight times a pooling factor) and very regular column indices. Stored as distinct
values, their codes and index differences, each zlib-compressed, a 127 MB file becomes a few
MB. Unpacking gives back the identical CSR arrays (values, dtypes, index order).
"""
from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, Tuple

import numpy as np

__all__ = ["PackedCSR", "pack_csr", "unpack_csr", "pack_plan", "unpack_plan"]


@dataclass(frozen=True)
class PackedCSR:
    """A CSR matrix as distinct values + zlib-compressed codes, column-index differences and row pointers."""

    shape: Tuple[int, int]
    values: np.ndarray        # the distinct stored values, sorted, in the matrix's dtype
    codes: bytes              # zlib of value codes (uint8/16/32), one per stored entry
    code_dtype: str
    index_steps: bytes        # zlib of int64 differences of consecutive column indices
    index_dtype: str
    indptr: bytes             # zlib of the row pointers
    indptr_dtype: str


def _z(a: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(a).tobytes(), 1)


def _unz(b: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(b), dtype=np.dtype(dtype))


def pack_csr(m: Any) -> PackedCSR:
    """Pack a scipy CSR matrix (any dtype); :func:`unpack_csr` restores it exactly."""
    values, codes = np.unique(m.data, return_inverse=True)
    code_dtype = np.min_scalar_type(max(len(values) - 1, 0))
    steps = np.diff(m.indices.astype(np.int64), prepend=np.int64(0))
    return PackedCSR(tuple(int(s) for s in m.shape), values, _z(codes.astype(code_dtype)), code_dtype.str,
                     _z(steps), m.indices.dtype.str, _z(m.indptr), m.indptr.dtype.str)


def unpack_csr(p: PackedCSR) -> Any:
    """The scipy ``csr_matrix`` that :func:`pack_csr` packed."""
    import scipy.sparse as sp

    data = p.values[_unz(p.codes, p.code_dtype)]
    indices = np.cumsum(_unz(p.index_steps, "<i8")).astype(np.dtype(p.index_dtype))
    indptr = _unz(p.indptr, p.indptr_dtype).copy()
    return sp.csr_matrix((data, indices, indptr), shape=p.shape)


def pack_plan(plan: Any) -> Any:
    """A copy of a ``NetworkPlan`` whose sparse stage weights are :class:`PackedCSR` (the plan is not changed)."""
    import scipy.sparse as sp

    stages = [dataclasses.replace(s, weight=pack_csr(s.weight.tocsr())) if sp.issparse(s.weight) else s
              for s in plan.stages]
    return dataclasses.replace(plan, stages=stages)


def unpack_plan(plan: Any) -> Any:
    """Undo :func:`pack_plan` in place (plans of files written before packing pass through)."""
    for s in plan.stages:
        if isinstance(s.weight, PackedCSR):
            s.weight = unpack_csr(s.weight)
    return plan
