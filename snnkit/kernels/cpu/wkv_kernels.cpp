// RWKV-4 WKV on CPU: the numerically stable recurrence, forward and hand-written backward.
//
// Layout: k, v, y, gy, gk, gv are contiguous [T, N] (time-major [T, B, C] with N = B*C);
// w, u are [C] (channel of column n is n % C); the state a, b, p is [N]. The real running
// sums are A = a*exp(p), B = b*exp(p), with p the largest exponent seen so far, so no
// exp() ever overflows (the trick of RWKV-LM's CUDA kernel):
//     y_t     = (A + e^(u+k_t) v_t) / (B + e^(u+k_t))
//     A      <- e^w A + e^(k_t) v_t,    B <- e^w B + e^(k_t)
// Work is split over blocks of BLK columns (OpenMP); inside a block the loop runs over t,
// then over the contiguous columns. The forward saves nothing: the backward re-runs the
// forward of its block into a T*BLK scratch buffer of states and then runs the adjoint
// recurrence backwards, itself kept in scaled form (alpha = ga*exp(r)) so that every
// exponent it evaluates is <= 0 (derivation in snnkit/kernels/wkv.py).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#ifndef BLK
#define BLK 64
#endif

namespace {

template <typename F>
struct Lim {
    static constexpr F neg() { return F(-1e38); }  // "minus infinity" that keeps arithmetic finite
};

// exp() that the compiler can vectorise (glibc's vector expf needs -ffast-math, which would
// also switch the whole process to flush-to-zero). float: Cephes' expf, within 2 ulp of
// std::exp for x in [-87.3, 88]; below that exactly 0 (no denormals). Every argument in this
// file is <= 0 up to rounding. double: std::exp.
__attribute__((always_inline)) inline float vexp(float x) {
    const float lo = -87.3f, hi = 88.0f;
    float xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    const float t = xc * 1.44269504088896341f + 0.5f;
    int32_t n = static_cast<int32_t>(t);                    // truncation ...
    n -= static_cast<int32_t>(t < static_cast<float>(n));   // ... corrected to floor (branch-free)
    const float fx = static_cast<float>(n);
    const float r = (xc - fx * 0.693359375f) - fx * -2.12194440e-4f;  // x - n ln2 in two parts
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    const int32_t bits = (n + 127) << 23;                   // 2^n
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return y * scale * static_cast<float>(x >= lo);
}
inline double vexp(double x) { return std::exp(x); }

template <typename F>
inline void load_params(const F* w, const F* u, int64_t C, int64_t j0, int64_t n, F* wl, F* ul) {
    for (int64_t j = 0; j < n; ++j) {
        const int64_t c = (j0 + j) % C;
        wl[j] = w[c];
        ul[j] = u[c];
    }
}

template <typename F>
void wkv_fwd(const F* w, const F* u, const F* k, const F* v, const F* a0, const F* b0, const F* p0, F* y,
             F* aT, F* bT, F* pT, int64_t T, int64_t N, int64_t C, int nthreads) {
    const int64_t nblk = (N + BLK - 1) / BLK;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t blk = 0; blk < nblk; ++blk) {
        const int64_t j0 = blk * BLK, n = std::min<int64_t>(BLK, N - j0);
        F wl[BLK], ul[BLK], a[BLK], b[BLK], p[BLK];
        load_params(w, u, C, j0, n, wl, ul);
        for (int64_t j = 0; j < n; ++j) { a[j] = a0[j0 + j]; b[j] = b0[j0 + j]; p[j] = p0[j0 + j]; }
        for (int64_t t = 0; t < T; ++t) {
            const F* kt = k + t * N + j0;
            const F* vt = v + t * N + j0;
            F* yt = y + t * N + j0;
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                const F kk = kt[j], vv = vt[j];
                const F uk = ul[j] + kk;
                const F q = std::max(p[j], uk);
                const F e1 = vexp(p[j] - q), e2 = vexp(uk - q);
                yt[j] = (e1 * a[j] + e2 * vv) / (e1 * b[j] + e2);
                const F wp = wl[j] + p[j];
                const F pn = std::max(wp, kk);
                const F f1 = vexp(wp - pn), f2 = vexp(kk - pn);
                a[j] = f1 * a[j] + f2 * vv;
                b[j] = f1 * b[j] + f2;
                p[j] = pn;
            }
        }
        for (int64_t j = 0; j < n; ++j) { aT[j0 + j] = a[j]; bT[j0 + j] = b[j]; pT[j0 + j] = p[j]; }
    }
}

// Gradients of y (gy) and of the final state (gaT, gbT, gpT; all null when unused) with
// respect to k, v (per element), w, u (per column: summed over the batch by the caller)
// and the initial state.
template <typename F>
void wkv_bwd(const F* w, const F* u, const F* k, const F* v, const F* a0, const F* b0, const F* p0, const F* gy,
             const F* gaT, const F* gbT, const F* gpT, F* gk, F* gv, F* gw, F* gu, F* ga0, F* gb0, F* gp0,
             int64_t T, int64_t N, int64_t C, int nthreads) {
    const int64_t nblk = (N + BLK - 1) / BLK;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<F> sa(static_cast<size_t>(T) * BLK), sb(sa.size()), sp(sa.size());
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblk; ++blk) {
            const int64_t j0 = blk * BLK, n = std::min<int64_t>(BLK, N - j0);
            F wl[BLK], ul[BLK], a[BLK], b[BLK], p[BLK];
            int64_t arg[BLK];  // which term holds the final max p_T: -1 = initial state, else t
            load_params(w, u, C, j0, n, wl, ul);
            for (int64_t j = 0; j < n; ++j) {
                a[j] = a0[j0 + j]; b[j] = b0[j0 + j]; p[j] = p0[j0 + j]; arg[j] = -1;
            }
            // 1. Re-run the forward, keeping the state before each step.
            for (int64_t t = 0; t < T; ++t) {
                const F* kt = k + t * N + j0;
                const F* vt = v + t * N + j0;
                F *at = sa.data() + t * BLK, *bt = sb.data() + t * BLK, *pt = sp.data() + t * BLK;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    at[j] = a[j]; bt[j] = b[j]; pt[j] = p[j];
                    const F kk = kt[j];
                    const F wp = wl[j] + p[j];
                    const F pn = std::max(wp, kk);
                    if (kk > wp) arg[j] = t;
                    const F f1 = vexp(wp - pn), f2 = vexp(kk - pn);
                    a[j] = f1 * a[j] + f2 * vt[j];
                    b[j] = f1 * b[j] + f2;
                    p[j] = pn;
                }
            }
            // 2. Adjoint of (A, B) after the last step, in scaled form alpha = ga*exp(r).
            F ga[BLK], gb[BLK], r[BLK], gpe[BLK];
            double gwa[BLK], gua[BLK];  // sums over T: accumulated in double
            for (int64_t j = 0; j < n; ++j) {
                gwa[j] = gua[j] = 0.0;
                gpe[j] = F(0);
                if (gaT) {
                    // L(a_T, b_T, p_T) with a_T = A_T e^-p_T, b_T = B_T e^-p_T: dL/dA_T = gaT e^-p_T, and the
                    // rest of dL/dp_T (zero when L depends on A_T, B_T only) goes to the argmax term.
                    ga[j] = gaT[j0 + j]; gb[j] = gbT[j0 + j]; r[j] = -p[j];
                    gpe[j] = gpT[j0 + j] - ga[j] * a[j] - gb[j] * b[j];
                } else {
                    ga[j] = gb[j] = F(0); r[j] = Lim<F>::neg();
                }
            }
            // 3. Backwards over t.
            for (int64_t t = T - 1; t >= 0; --t) {
                const F* kt = k + t * N + j0;
                const F* vt = v + t * N + j0;
                const F* gyt = gy + t * N + j0;
                F* gkt = gk + t * N + j0;
                F* gvt = gv + t * N + j0;
                const F *at = sa.data() + t * BLK, *bt = sb.data() + t * BLK, *pt = sp.data() + t * BLK;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const F kk = kt[j], vv = vt[j], pp = pt[j];
                    // the output y_t, recomputed (D_t = d * e^q)
                    const F uk = ul[j] + kk;
                    const F q = std::max(pp, uk);
                    const F e1 = vexp(pp - q), e2 = vexp(uk - q);
                    const F d = e1 * bt[j] + e2;
                    const F yy = (e1 * at[j] + e2 * vv) / d;
                    // through the state update A_{t+1} = e^w A_t + e^k v, B_{t+1} = e^w B_t + e^k
                    const F s = vexp(kk + r[j]);
                    F gvv = s * ga[j];
                    F gkk = s * (ga[j] * vv + gb[j]);
                    gwa[j] += double(vexp(wl[j] + pp + r[j]) * (at[j] * ga[j] + bt[j] * gb[j]));
                    // directly through y_t
                    const F g = gyt[j] / d;
                    const F ge = g * e2;
                    gvv += ge;
                    gkk += ge * (vv - yy);
                    gua[j] += double(ge * (vv - yy));
                    gvt[j] = gvv;
                    gkt[j] = gkk;
                    // adjoint of (A_t, B_t): alpha_t = e^w alpha_{t+1} + gy_t / D_t
                    const F wr = wl[j] + r[j];
                    const F rn = std::max(wr, -q);
                    const F f1 = vexp(wr - rn), f2 = vexp(-q - rn);
                    ga[j] = f1 * ga[j] + f2 * g;
                    gb[j] = f1 * gb[j] - f2 * g * yy;
                    r[j] = rn;
                }
            }
            // 4. Initial state (a_0, b_0, p_0) and the argmax route of dL/dp_T.
            for (int64_t j = 0; j < n; ++j) {
                const int64_t jj = j0 + j;
                const F sc = vexp(r[j] + p0[jj]);
                ga0[jj] = ga[j] * sc;
                gb0[jj] = gb[j] * sc;
                gp0[jj] = ga0[jj] * a0[jj] + gb0[jj] * b0[jj];
                if (gpe[j] != F(0)) {
                    if (arg[j] < 0) {
                        gp0[jj] += gpe[j];
                        gwa[j] += double(gpe[j]) * double(T);
                    } else {
                        gk[arg[j] * N + jj] += gpe[j];
                        gwa[j] += double(gpe[j]) * double(T - 1 - arg[j]);
                    }
                }
                gw[jj] = F(gwa[j]);
                gu[jj] = F(gua[j]);
            }
        }
    }
}

}  // namespace

#define WKV_API(SUF, F)                                                                                         \
    extern "C" int snn_wkv_forward_##SUF(const F* w, const F* u, const F* k, const F* v, const F* a0,          \
                                         const F* b0, const F* p0, F* y, F* aT, F* bT, F* pT, int64_t T,       \
                                         int64_t N, int64_t C, int nthreads) {                                 \
        if (T < 0 || N < 0 || C <= 0 || N % C != 0) return 1;                                                  \
        wkv_fwd<F>(w, u, k, v, a0, b0, p0, y, aT, bT, pT, T, N, C, nthreads);                                  \
        return 0;                                                                                              \
    }                                                                                                          \
    extern "C" int snn_wkv_backward_##SUF(const F* w, const F* u, const F* k, const F* v, const F* a0,         \
                                          const F* b0, const F* p0, const F* gy, const F* gaT, const F* gbT,   \
                                          const F* gpT, F* gk, F* gv, F* gw, F* gu, F* ga0, F* gb0, F* gp0,    \
                                          int64_t T, int64_t N, int64_t C, int nthreads) {                     \
        if (T < 0 || N < 0 || C <= 0 || N % C != 0) return 1;                                                  \
        if ((gaT == nullptr) != (gbT == nullptr) || (gaT == nullptr) != (gpT == nullptr)) return 2;            \
        wkv_bwd<F>(w, u, k, v, a0, b0, p0, gy, gaT, gbT, gpT, gk, gv, gw, gu, ga0, gb0, gp0, T, N, C,          \
                   nthreads);                                                                                  \
        return 0;                                                                                              \
    }

WKV_API(f32, float)
WKV_API(f64, double)
