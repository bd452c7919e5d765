"""Loading the compiled kernel families, with errors that say why a kernel is unavailable.

Import never fails because of the extension: a missing or broken module is recorded, and the first
call that needs it raises ``KernelUnavailableError`` naming the cause and the fix.
"""

from __future__ import annotations

import importlib
import logging

logger = logging.getLogger("sageattention")

# Kernel family -> extension module (setup.py builds one module per family, see ci/archs.py).
FAMILY_MODULES = {"core": "_C", "mma_fp16": "_C_mma_fp16", "mma_fp8": "_C_mma_fp8", "sm90": "_C_sm90"}
# Kernel family -> its Python wrapper module under sageattention.kernels (holds the family's fakes).
FAMILY_WRAPPERS = {"mma_fp16": "mma", "mma_fp8": "mma", "sm90": "sm90"}

_loaded: dict[str, bool] = {}
_errors: dict[str, str] = {}


class KernelUnavailableError(RuntimeError):
    """A kernel family was not compiled into this build, failed to load, or cannot run on this GPU."""


def _build_config() -> dict[str, object]:
    try:
        from sageattention._build_config import BUILD_CONFIG
    except ImportError:
        return {}
    return dict(BUILD_CONFIG)


def load(family: str) -> bool:
    """Import one family's module (runs its op registrations); True when its ops are usable."""
    if family in _loaded:
        return _loaded[family]
    module = FAMILY_MODULES[family]
    ok = False
    try:
        importlib.import_module(f"sageattention.{module}")
        ok = True
    except ImportError as exc:  # not built (ModuleNotFoundError) or a dlopen failure (OSError text)
        modules = _build_config().get("modules")
        if isinstance(modules, list) and module not in modules:
            _errors[family] = (
                f"kernel family '{family}' was not compiled into this build (compiled modules: {modules}); "
                f"rebuild with its archs in TORCH_CUDA_ARCH_LIST (see build_info()['archs']) and "
                f"SAGEATTENTION_FAMILIES unset"
            )
        elif not _build_config():
            _errors[family] = (
                "sageattention's compiled extension is missing (no _build_config.py): this is a source "
                "checkout without a build; run `pip install .` or install a wheel from a flavor index"
            )
        else:
            _errors[family] = f"sageattention.{module} failed to load: {exc}. {_abi_hint()}"
    _loaded[family] = ok
    if ok:
        from sageattention import _ops

        if family in FAMILY_WRAPPERS:  # defines the family's fakes (register_family_fakes)
            importlib.import_module(f"sageattention.kernels.{FAMILY_WRAPPERS[family]}")
        _ops.register_fakes(family)
    else:
        logger.debug("sageattention: %s", _errors[family])
    return ok


def require(family: str, what: str) -> None:
    if not load(family):
        raise KernelUnavailableError(f"{what} is not available: {_errors[family]}")


def error(family: str) -> str | None:
    load(family)
    return _errors.get(family)


def _abi_hint() -> str:
    import torch

    cfg = _build_config()
    floor = cfg.get("torch_floor", "?")
    cuda = cfg.get("cuda_version", "?")
    label = cfg.get("local_label") or ""
    flavor = f"flavor {label}, compiled with CUDA {cuda}" if label else f"compiled with CUDA {cuda}"
    return (
        f"This wheel ({flavor}) targets torch >= {floor} of the same CUDA major; you have torch {torch.__version__} "
        f"(CUDA {torch.version.cuda}). Install the sageattention flavor matching your torch's CUDA "
        f"(…/whl/cu{str(torch.version.cuda or '').replace('.', '')}/)."
    )
