"""sageattention: fast 8-bit attention (SageAttention: smoothed-K INT8 QK^T, FP16/FP8 PV)."""

from sageattention._info import build_info, version
from sageattention._lib import KernelUnavailableError
from sageattention.core import (
    sageattn,
    sageattn_qk_int8_pv_fp8_cuda,
    sageattn_qk_int8_pv_fp8_cuda_sm90,
    sageattn_qk_int8_pv_fp16_cuda,
    sageattn_qk_int8_pv_fp16_cuda_sm90,
    sageattn_qk_int8_pv_fp16_triton,
    sageattn_qk_int8_pv_int8_cuda_sm90,
    sageattn_varlen,
)

__version__ = version()

__all__ = [
    "KernelUnavailableError",
    "__version__",
    "build_info",
    "sageattn",
    "sageattn_qk_int8_pv_fp16_cuda",
    "sageattn_qk_int8_pv_fp16_cuda_sm90",
    "sageattn_qk_int8_pv_fp16_triton",
    "sageattn_qk_int8_pv_fp8_cuda",
    "sageattn_qk_int8_pv_fp8_cuda_sm90",
    "sageattn_qk_int8_pv_int8_cuda_sm90",
    "sageattn_varlen",
]
