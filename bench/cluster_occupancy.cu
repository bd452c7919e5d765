// How many thread-block clusters of 1, 2, 4 and 8 CTAs the GPU runs at once for a CTA shaped like the sm90
// attention kernel's (384 threads, ~200 KB of dynamic shared memory: one CTA per SM). Clusters are placed
// within one GPC, so a cluster size that does not divide a GPC's SM count leaves SMs idle; this prints how many.
//   nvcc -arch=sm_90a -o /tmp/cluster_occupancy bench/cluster_occupancy.cu && /tmp/cluster_occupancy
#include <cstdio>

#include <cuda_runtime.h>

__global__ void one_cta_per_sm() {}

int main() {
  constexpr int kThreads = 384;
  constexpr int kSmem = 200 * 1024;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  if (cudaFuncSetAttribute(one_cta_per_sm, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem) != cudaSuccess ||
      cudaFuncSetAttribute(one_cta_per_sm, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) != cudaSuccess) {
    std::fprintf(stderr, "cudaFuncSetAttribute failed\n");
    return 1;
  }
  std::printf("%s, %d SMs, %d threads and %d KB shared memory per CTA\n", prop.name, prop.multiProcessorCount,
              kThreads, kSmem / 1024);
  for (int size : {1, 2, 4, 8, 16}) {
    cudaLaunchConfig_t cfg{};
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = size;
    attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
    cfg.gridDim = dim3(size * prop.multiProcessorCount);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = kSmem;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    int clusters = 0;
    const cudaError_t err = cudaOccupancyMaxActiveClusters(&clusters, one_cta_per_sm, &cfg);
    if (err != cudaSuccess) {
      std::printf("cluster size %2d: %s\n", size, cudaGetErrorString(err));
      continue;
    }
    std::printf("cluster size %2d: %3d clusters, %3d SMs busy, %d idle\n", size, clusters, clusters * size,
                prop.multiProcessorCount - clusters * size);
  }
  return 0;
}
