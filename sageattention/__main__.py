"""`python -m sageattention`: print the build and runtime facts a bug report needs."""

from __future__ import annotations

import json

import torch

from sageattention import build_info


def main() -> None:
    info = build_info()
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        cap = torch.cuda.get_device_capability(index)
        info["gpu"] = f"{torch.cuda.get_device_name(index)} (sm_{cap[0]}{cap[1]})"
    else:
        info["gpu"] = None
    print(json.dumps(info, indent=2, default=str))


if __name__ == "__main__":
    main()
