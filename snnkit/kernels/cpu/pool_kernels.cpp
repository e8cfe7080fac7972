// 2x2 stride-2 pooling (no padding, floor mode) on contiguous NCHW planes, forward and backward.
//
// Bit for bit torch's CPU kernels (aten/src/ATen/native/cpu/{Avg,Max}PoolKernel.cpp, contiguous
// path), which loop over each output element with scalar code: avg sums the window row by row
// from 0 and divides by 4; max keeps the first maximum in row-major order (a NaN replaces
// it); the backwards add into a zeroed gradient (0 + g, so -0 becomes +0 as there). Compiled
// with -ffp-contract=off: the same operations in the same order give the same bits. Planes
// are independent, so the thread count never changes a result.
#include <cmath>
#include <cstdint>
#include <limits>

namespace {

template <typename F>
void avg_fwd(const F* x, F* out, int64_t P, int64_t H, int64_t W, int nt) {
    const int64_t H2 = H / 2, W2 = W / 2;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < P; ++p) {
        for (int64_t oh = 0; oh < H2; ++oh) {
            const F* r0 = x + (p * H + 2 * oh) * W;
            const F* r1 = r0 + W;
            F* o = out + (p * H2 + oh) * W2;
            for (int64_t ow = 0; ow < W2; ++ow) {
                F s = F(0);
                s += r0[2 * ow];
                s += r0[2 * ow + 1];
                s += r1[2 * ow];
                s += r1[2 * ow + 1];
                o[ow] = s / F(4);
            }
        }
    }
}

template <typename F>
void avg_bwd(const F* gout, F* gin, int64_t P, int64_t H, int64_t W, int nt) {
    const int64_t H2 = H / 2, W2 = W / 2;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < P; ++p) {
        for (int64_t oh = 0; oh < H2; ++oh) {
            const F* g = gout + (p * H2 + oh) * W2;
            F* r0 = gin + (p * H + 2 * oh) * W;
            F* r1 = r0 + W;
            for (int64_t ow = 0; ow < W2; ++ow) {
                const F d = F(0) + g[ow] / F(4);
                r0[2 * ow] = d;
                r0[2 * ow + 1] = d;
                r1[2 * ow] = d;
                r1[2 * ow + 1] = d;
            }
            if (W & 1) r0[W - 1] = r1[W - 1] = F(0);
        }
        if (H & 1) {
            F* r = gin + (p * H + H - 1) * W;
            for (int64_t iw = 0; iw < W; ++iw) r[iw] = F(0);
        }
    }
}

template <typename F>
void max_fwd(const F* x, F* out, int32_t* idx, int64_t P, int64_t H, int64_t W, int nt) {
    const int64_t H2 = H / 2, W2 = W / 2;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < P; ++p) {
        for (int64_t oh = 0; oh < H2; ++oh) {
            const F* r0 = x + (p * H + 2 * oh) * W;
            const F* r1 = r0 + W;
            F* o = out + (p * H2 + oh) * W2;
            int32_t* k = idx + (p * H2 + oh) * W2;
            for (int64_t ow = 0; ow < W2; ++ow) {
                // torch starts from (-inf, first index): the first element always ends up there (a -inf first
                // element leaves -inf), then each later one replaces it where greater or NaN
                F m = r0[2 * ow];
                int32_t a = 0;
                const F v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
                bool t = v1 > m || v1 != v1;
                m = t ? v1 : m;
                a = t ? 1 : a;
                t = v2 > m || v2 != v2;
                m = t ? v2 : m;
                a = t ? 2 : a;
                t = v3 > m || v3 != v3;
                m = t ? v3 : m;
                a = t ? 3 : a;
                o[ow] = m;
                k[ow] = a;
            }
        }
    }
}

template <typename F>
void max_bwd(const F* gout, const int32_t* idx, F* gin, int64_t P, int64_t H, int64_t W, int nt) {
    const int64_t H2 = H / 2, W2 = W / 2;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < P; ++p) {
        for (int64_t oh = 0; oh < H2; ++oh) {
            const F* g = gout + (p * H2 + oh) * W2;
            const int32_t* k = idx + (p * H2 + oh) * W2;
            F* r0 = gin + (p * H + 2 * oh) * W;
            F* r1 = r0 + W;
            for (int64_t ow = 0; ow < W2; ++ow) {
                const int32_t a = k[ow];
                r0[2 * ow] = r0[2 * ow + 1] = r1[2 * ow] = r1[2 * ow + 1] = F(0);
                r0[(a >> 1) * W + 2 * ow + (a & 1)] = F(0) + g[ow];  // no branch on the argmax
            }
            if (W & 1) r0[W - 1] = r1[W - 1] = F(0);
        }
        if (H & 1) {
            F* r = gin + (p * H + H - 1) * W;
            for (int64_t iw = 0; iw < W; ++iw) r[iw] = F(0);
        }
    }
}

}  // namespace

// ---- C ABI (called through ctypes); suffix f32/f64 is the dtype; P = N*C planes of H x W ----
extern "C" {
#define SNN_POOL_EXPORT(SUF, F)                                                                               \
    int snn_pool2_avg_forward_##SUF(const F* x, F* out, int64_t P, int64_t H, int64_t W, int nt) {            \
        avg_fwd<F>(x, out, P, H, W, nt);                                                                      \
        return 0;                                                                                             \
    }                                                                                                         \
    int snn_pool2_avg_backward_##SUF(const F* gout, F* gin, int64_t P, int64_t H, int64_t W, int nt) {        \
        avg_bwd<F>(gout, gin, P, H, W, nt);                                                                   \
        return 0;                                                                                             \
    }                                                                                                         \
    int snn_pool2_max_forward_##SUF(const F* x, F* out, int32_t* idx, int64_t P, int64_t H, int64_t W,        \
                                    int nt) {                                                                 \
        max_fwd<F>(x, out, idx, P, H, W, nt);                                                                 \
        return 0;                                                                                             \
    }                                                                                                         \
    int snn_pool2_max_backward_##SUF(const F* gout, const int32_t* idx, F* gin, int64_t P, int64_t H,         \
                                     int64_t W, int nt) {                                                     \
        max_bwd<F>(gout, idx, gin, P, H, W, nt);                                                              \
        return 0;                                                                                             \
    }
SNN_POOL_EXPORT(f32, float)
SNN_POOL_EXPORT(f64, double)
}
