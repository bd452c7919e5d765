# docker buildx bake file for sageattention (stages: dockerfile.builder; guide: docs/docker.md).
#
#   docker buildx bake --file docker-bake.hcl wheel           # repaired wheel(s) into ./dist
#   docker buildx bake --file docker-bake.hcl dev             # builder image, tag sageattention:dev
#   docker buildx bake --file docker-bake.hcl full            # build + CPU tests, sageattention:latest
#   docker buildx bake --file docker-bake.hcl                 # all three (group "default")
#   docker buildx bake --file docker-bake.hcl --print wheel   # the resolved definition, builds nothing
#
# Override a variable from the environment (CUDA_VERSION=12.8.1 docker buildx bake wheel) or an
# argument on the command line (--set "*.args.CUDA_VERSION=12.8.1", --set "*.platform=linux/arm64";
# buildx's --set key is `platform`, singular, though the attribute below is `platforms`).
# The defaults below are the cu129 flavor of ci/flavors.py; tests/ci/test_docker_bake.py keeps them equal.

variable "CUDA_VERSION" {
  default = "12.9.1"
}

variable "PYTHON_VERSION" {
  default = "3.12"
}

variable "TORCH_CUDA_ARCH_LIST" {
  default = "8.0;8.6;8.9;9.0;10.0;12.0;12.1"
}

variable "BUILD_PLATFORM" {
  default = "linux/amd64"
}

# Empty: setup.py bounds parallel jobs by cores and memory (hosted runners: 4 vCPU, 16 GB).
variable "MAX_JOBS" {
  default = ""
}

variable "NVCC_THREADS" {
  default = ""
}

# Empty: the VERSION file. Release workflows pass the tag's version (python -m ci version).
variable "SAGEATTENTION_VERSION" {
  default = ""
}

group "default" {
  targets = ["dev", "wheel", "full"]
}

# Hidden base targets: the concrete ones below set only their stage, tags, output and cache scope.
target "_common" {
  context    = "."
  dockerfile = "dockerfile.builder"
  platforms  = ["${BUILD_PLATFORM}"]
  args = {
    CUDA_VERSION          = "${CUDA_VERSION}"
    PYTHON_VERSION        = "${PYTHON_VERSION}"
    TORCH_CUDA_ARCH_LIST  = "${TORCH_CUDA_ARCH_LIST}"
    MAX_JOBS              = "${MAX_JOBS}"
    NVCC_THREADS          = "${NVCC_THREADS}"
    SAGEATTENTION_VERSION = "${SAGEATTENTION_VERSION}"
  }
}

target "_labels" {
  labels = {
    "org.opencontainers.image.title"       = "sageattention"
    "org.opencontainers.image.description" = "SageAttention wheel builder, CUDA ${CUDA_VERSION}, Python ${PYTHON_VERSION}"
    "org.opencontainers.image.licenses"    = "Apache-2.0"
  }
}

# The GitHub Actions cache (type=gha): buildx drops these entries outside Actions, so local builds are
# unaffected. Scopes carry the flavor and platform so legs do not overwrite each other's layers; a
# cache-service outage costs a slower build, not a failed one (ignore-error). dev and full also read
# the wheel target's scope: all three share the sageattention-builder stage.
target "dev" {
  inherits   = ["_common", "_labels"]
  target     = "sageattention-builder"
  tags       = ["sageattention:dev"]
  cache-from = [
    "type=gha,scope=sageattention-wheel-${CUDA_VERSION}-${BUILD_PLATFORM}",
    "type=gha,scope=sageattention-dev-${CUDA_VERSION}-${BUILD_PLATFORM}",
  ]
  cache-to   = ["type=gha,mode=max,ignore-error=true,scope=sageattention-dev-${CUDA_VERSION}-${BUILD_PLATFORM}"]
}

target "wheel" {
  inherits   = ["_common"]
  target     = "sageattention-wheel"
  output     = ["type=local,dest=./dist"]
  cache-from = ["type=gha,scope=sageattention-wheel-${CUDA_VERSION}-${BUILD_PLATFORM}"]
  cache-to   = ["type=gha,mode=max,ignore-error=true,scope=sageattention-wheel-${CUDA_VERSION}-${BUILD_PLATFORM}"]
}

target "full" {
  inherits   = ["_common", "_labels"]
  target     = "sageattention-test"
  tags       = ["sageattention:latest"]
  cache-from = [
    "type=gha,scope=sageattention-wheel-${CUDA_VERSION}-${BUILD_PLATFORM}",
    "type=gha,scope=sageattention-full-${CUDA_VERSION}-${BUILD_PLATFORM}",
  ]
  cache-to   = ["type=gha,mode=max,ignore-error=true,scope=sageattention-full-${CUDA_VERSION}-${BUILD_PLATFORM}"]
}
