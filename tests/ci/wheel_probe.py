"""Collected only when named on the command line (by test_end_to_end through `ci test-wheel`).

It runs inside the venv that `python -m ci test-wheel` creates, against the installed wheel.
"""

from __future__ import annotations

import pathlib
import sys

import sageattention


def test_imported_from_the_venv_not_the_checkout() -> None:
    assert pathlib.Path(sageattention.__file__).resolve().is_relative_to(pathlib.Path(sys.prefix).resolve())


def test_build_info_names_the_flavor() -> None:
    info = sageattention.build_info()
    assert info["local_label"] == "cu" + info["cuda_version"].replace(".", "")
    assert info["kernels"]["core"] == "loaded"
