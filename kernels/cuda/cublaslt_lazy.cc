// cuBLASLt, opened on first use. Linking it would cost every kvsim process its load-time initialisers: a program
// that only links libcublasLt peaks at 211 MB resident and takes 0.06-0.17 s to start, against 1.5 MB linking
// cudart alone (measured on this project's development machine, CUDA 13), although only `kvsim calibrate` and
// `kvsim engine-bench` call it. These are the cuBLASLt functions kvsim uses, declared by cublasLt.h (so a signature
// that differs from the toolkit's does not compile); the first call opens the library with dlopen and each call
// forwards to its symbol. When it cannot be opened they return CUBLAS_STATUS_NOT_INITIALIZED, and the status string
// says why.
#include <cublasLt.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace {

struct Library {
  void* handle = nullptr;
  std::string error;
};

const Library& library() {
  static const Library lib = [] {
    Library l;
    // $KVSIM_CUBLASLT (a file: how scripts/gpu-measure.sh points a copied build at the GPU machine's library), the
    // soname through the library path (and the executable's run path), then the toolkit's file found at build time
    // and the toolkit's usual place.
    std::string tried;
    const char* env = std::getenv("KVSIM_CUBLASLT");
    for (const char* name :
         {env != nullptr && *env != '\0' ? env : nullptr, static_cast<const char*>(KVSIM_CUBLASLT_SONAME),
          static_cast<const char*>(KVSIM_CUBLASLT_PATH), "/usr/local/cuda/lib64/" KVSIM_CUBLASLT_SONAME}) {
      if (name == nullptr) continue;
      l.handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (l.handle != nullptr) return l;
      const char* why = dlerror();
      tried += std::string(tried.empty() ? "" : "; ") + (why != nullptr ? why : name);
    }
    l.error = "cannot open cuBLASLt: " + tried;
    return l;
  }();
  return lib;
}

template <typename Fn>
Fn resolve(const char* name) {
  const Library& lib = library();
  return lib.handle ? reinterpret_cast<Fn>(dlsym(lib.handle, name)) : nullptr;
}

}  // namespace

#define KVSIM_CUBLASLT_FORWARD(name, params, args)                   \
  extern "C" cublasStatus_t CUBLASWINAPI name params {               \
    static const auto fn = resolve<cublasStatus_t(*) params>(#name); \
    return fn != nullptr ? fn args : CUBLAS_STATUS_NOT_INITIALIZED;  \
  }

KVSIM_CUBLASLT_FORWARD(cublasLtCreate, (cublasLtHandle_t * handle), (handle))
KVSIM_CUBLASLT_FORWARD(cublasLtDestroy, (cublasLtHandle_t handle), (handle))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmul,
                       (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* a,
                        cublasLtMatrixLayout_t a_desc, const void* b, cublasLtMatrixLayout_t b_desc, const void* beta,
                        const void* c, cublasLtMatrixLayout_t c_desc, void* d, cublasLtMatrixLayout_t d_desc,
                        const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes, cudaStream_t stream),
                       (handle, desc, alpha, a, a_desc, b, b_desc, beta, c, c_desc, d, d_desc, algo, workspace,
                        workspace_bytes, stream))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulAlgoGetHeuristic,
                       (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a_desc,
                        cublasLtMatrixLayout_t b_desc, cublasLtMatrixLayout_t c_desc, cublasLtMatrixLayout_t d_desc,
                        cublasLtMatmulPreference_t preference, int requested, cublasLtMatmulHeuristicResult_t results[],
                        int* returned),
                       (handle, desc, a_desc, b_desc, c_desc, d_desc, preference, requested, results, returned))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulDescCreate,
                       (cublasLtMatmulDesc_t * desc, cublasComputeType_t compute, cudaDataType_t scale),
                       (desc, compute, scale))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t desc), (desc))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulDescSetAttribute,
                       (cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* buf, size_t bytes),
                       (desc, attr, buf, bytes))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * preference), (preference))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t preference), (preference))
KVSIM_CUBLASLT_FORWARD(cublasLtMatmulPreferenceSetAttribute,
                       (cublasLtMatmulPreference_t preference, cublasLtMatmulPreferenceAttributes_t attr,
                        const void* buf, size_t bytes),
                       (preference, attr, buf, bytes))
KVSIM_CUBLASLT_FORWARD(cublasLtMatrixLayoutCreate,
                       (cublasLtMatrixLayout_t * layout, cudaDataType type, uint64_t rows, uint64_t cols, int64_t ld),
                       (layout, type, rows, cols, ld))
KVSIM_CUBLASLT_FORWARD(cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t layout), (layout))

extern "C" const char* CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t status) {
  static const auto fn = resolve<const char* (*)(cublasStatus_t)>("cublasLtGetStatusString");
  if (fn != nullptr) return fn(status);
  const Library& lib = library();
  return lib.error.empty() ? "cublasLtGetStatusString not found in cuBLASLt" : lib.error.c_str();
}
