// Fused multi-step neuron kernels for CPU (forward and backward over all T in one call).
//
// Layout: x, spikes, grads are contiguous [T, N]; state is [N]. Work is split over
// blocks of BLK neurons (OpenMP); inside a block the loop runs over t, then over the
// BLK contiguous neurons (vectorised). The forward saves nothing: the backward
// re-integrates h[t] for its block from x and v0 into a T*BLK scratch buffer (in
// cache) and then runs the recurrence backwards. A soft reset subtracts vsub: v_threshold, or
// v_threshold / beta for LIF's reset_delay (snnTorch's delayed subtract reset). Arithmetic follows the reference
// formulas operation by operation (no FMA contraction) so spikes match bit for bit.
#include <cmath>
#include <cstdint>
#include <vector>
#include <algorithm>

#ifndef BLK
#define BLK 256
#endif

namespace {

enum Charge { IF_ = 0, LIF_DIV_DI = 1, LIF_DIV_NDI = 2, LIF_MUL_DI = 3, LIF_MUL_NDI = 4,
              // internal: LIF_DIV_* for a power-of-two tau, with c = 1/tau: x / tau is then exactly x * (1/tau)
              // (both are the correctly rounded x/tau), and a multiply costs a fraction of a vector divide
              LIF_RCP_DI = 5, LIF_RCP_NDI = 6 };
enum Sg { ATAN = 0, SIGMOID = 1, FAST_SIGMOID = 2, TRIANGLE = 3, RECT = 4, PWQ = 5 };

template <typename F, int CH>
inline F charge(F x, F v, F c, F vr) {
    if (CH == IF_) return v + x;
    if (CH == LIF_DIV_DI) return v + (x - (v - vr)) / c;
    if (CH == LIF_DIV_NDI) return v - (v - vr) / c + x;
    if (CH == LIF_MUL_DI || CH == LIF_RCP_DI) return v + (x - (v - vr)) * c;
    if (CH == LIF_RCP_NDI) return v - (v - vr) * c + x;
    return v - (v - vr) * c + x;  // LIF_MUL_NDI
}

template <typename F, int SG>
inline F sgrad(F x, F a1, F a2) {
    if (SG == ATAN) {
        const F c = F(M_PI / 2) * a1;
        const F z = c * x;
        return a1 / F(2) / (F(1) + z * z);
    }
    if (SG == SIGMOID) {
        const F s = F(1) / (F(1) + std::exp(-a1 * x));
        return a1 * s * (F(1) - s);
    }
    if (SG == FAST_SIGMOID) {
        const F d = a1 * std::fabs(x) + F(1);
        return F(1) / (d * d);
    }
    if (SG == TRIANGLE) return a1 * std::max(F(0), F(1) - std::fabs(x) / a2);
    if (SG == RECT) return std::fabs(x) < F(0.5) / a1 ? a1 : F(0);
    return std::max(F(0), a1 - a1 * a1 * std::fabs(x));  // PWQ
}

template <typename F, int CH>
void lif_fwd(const F* x, const F* v0, F* out, F* vT, int64_t T, int64_t N, F c, F vth, F vr, F vsub,
             int soft, int graded, int nthreads) {
    const int64_t nblk = (N + BLK - 1) / BLK;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < nblk; ++b) {
        const int64_t j0 = b * BLK, n = std::min<int64_t>(BLK, N - j0);
        F v[BLK];
        for (int64_t j = 0; j < n; ++j) v[j] = v0[j0 + j];
        for (int64_t t = 0; t < T; ++t) {
            const F* xt = x + t * N + j0;
            F* ot = out + t * N + j0;
            for (int64_t j = 0; j < n; ++j) {
                const F h = charge<F, CH>(xt[j], v[j], c, vr);
                const bool s = h >= vth;
                ot[j] = graded ? (s ? h : F(0)) : (s ? F(1) : F(0));
                v[j] = s ? (soft ? h - vsub : vr) : h;
            }
        }
        for (int64_t j = 0; j < n; ++j) vT[j0 + j] = v[j];
    }
}

template <typename F, int CH, int SG>
void lif_bwd(const F* x, const F* v0, const F* gout, const F* gvT, F* gx, F* gv0, F* gk, int64_t T,
             int64_t N, F c, F vth, F vr, F vsub, int soft, int detach, int graded, F a1, F a2, int nthreads) {
    const int64_t nblk = (N + BLK - 1) / BLK;
    const bool mul = (CH == LIF_MUL_DI || CH == LIF_MUL_NDI);
    const bool div = (CH == LIF_DIV_DI || CH == LIF_DIV_NDI);
    const bool rcp = (CH == LIF_RCP_DI || CH == LIF_RCP_NDI);
    std::vector<double> gk_part(nblk, 0.0);
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<F> hbuf(static_cast<size_t>(T) * BLK);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t j0 = b * BLK, n = std::min<int64_t>(BLK, N - j0);
            F v[BLK], g[BLK];
            for (int64_t j = 0; j < n; ++j) v[j] = v0[j0 + j];
            for (int64_t t = 0; t < T; ++t) {
                const F* xt = x + t * N + j0;
                F* ht = hbuf.data() + t * BLK;
                for (int64_t j = 0; j < n; ++j) {
                    const F h = charge<F, CH>(xt[j], v[j], c, vr);
                    ht[j] = h;
                    v[j] = h >= vth ? (soft ? h - vsub : vr) : h;
                }
            }
            for (int64_t j = 0; j < n; ++j) g[j] = gvT ? gvT[j0 + j] : F(0);
            double gk_acc = 0.0;
            for (int64_t t = T - 1; t >= 0; --t) {
                const F* ht = hbuf.data() + t * BLK;
                const F* hp = t > 0 ? hbuf.data() + (t - 1) * BLK : nullptr;
                const F* got = gout + t * N + j0;
                const F* xt = x + t * N + j0;
                F* gxt = gx + t * N + j0;
                for (int64_t j = 0; j < n; ++j) {
                    const F h = ht[j];
                    const F s = h >= vth ? F(1) : F(0);
                    const F sg = sgrad<F, SG>(h - vth, a1, a2);
                    const F go = got[j];
                    F gs = graded ? go * h : go;
                    if (!detach) gs += g[j] * (soft ? -vsub : vr - h);
                    F gh = gs * sg + g[j] * (soft ? F(1) : F(1) - s);
                    if (graded) gh += go * s;
                    if (CH == LIF_DIV_DI || CH == LIF_MUL_DI || CH == LIF_RCP_DI) gxt[j] = div ? gh / c : gh * c;
                    else gxt[j] = gh;
                    if (mul) {
                        F vp = v0[j0 + j];
                        if (hp) vp = hp[j] >= vth ? (soft ? hp[j] - vsub : vr) : hp[j];
                        const F dk = CH == LIF_MUL_DI ? xt[j] - (vp - vr) : -(vp - vr);
                        gk_acc += double(gh * dk);
                    }
                    g[j] = CH == IF_ ? gh : (div ? gh - gh / c : rcp ? gh - gh * c : gh * (F(1) - c));
                }
            }
            for (int64_t j = 0; j < n; ++j) gv0[j0 + j] = g[j];
            gk_part[b] = gk_acc;
        }
    }
    if (gk) {
        double tot = 0.0;
        for (double p : gk_part) tot += p;
        *gk = F(tot);
    }
}

template <typename F>
void cuba_fwd(const F* x, const F* u0, const F* v0, F* out, F* uT, F* vT, int64_t T, int64_t N, F omdu,
              F omdv, F vth, F bias, int graded, int nthreads) {
    const int64_t nblk = (N + BLK - 1) / BLK;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < nblk; ++b) {
        const int64_t j0 = b * BLK, n = std::min<int64_t>(BLK, N - j0);
        F u[BLK], v[BLK];
        for (int64_t j = 0; j < n; ++j) { u[j] = u0[j0 + j]; v[j] = v0[j0 + j]; }
        for (int64_t t = 0; t < T; ++t) {
            const F* xt = x + t * N + j0;
            F* ot = out + t * N + j0;
            for (int64_t j = 0; j < n; ++j) {
                u[j] = u[j] * omdu + xt[j];
                const F h = v[j] * omdv + u[j] + bias;
                const bool s = h > vth;
                ot[j] = graded ? (s ? h : F(0)) : (s ? F(1) : F(0));
                v[j] = s ? F(0) : h;
            }
        }
        for (int64_t j = 0; j < n; ++j) { uT[j0 + j] = u[j]; vT[j0 + j] = v[j]; }
    }
}

template <typename F, int SG>
void cuba_bwd(const F* x, const F* u0, const F* v0, const F* gout, const F* guT, const F* gvT, F* gx,
              F* gu0, F* gv0, int64_t T, int64_t N, F omdu, F omdv, F vth, F bias, int detach, int graded,
              F a1, F a2, int nthreads) {
    const int64_t nblk = (N + BLK - 1) / BLK;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<F> hbuf(static_cast<size_t>(T) * BLK);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t j0 = b * BLK, n = std::min<int64_t>(BLK, N - j0);
            F u[BLK], v[BLK], gu[BLK], gv[BLK];
            for (int64_t j = 0; j < n; ++j) { u[j] = u0[j0 + j]; v[j] = v0[j0 + j]; }
            for (int64_t t = 0; t < T; ++t) {
                const F* xt = x + t * N + j0;
                F* ht = hbuf.data() + t * BLK;
                for (int64_t j = 0; j < n; ++j) {
                    u[j] = u[j] * omdu + xt[j];
                    const F h = v[j] * omdv + u[j] + bias;
                    ht[j] = h;
                    v[j] = h > vth ? F(0) : h;
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                gu[j] = guT ? guT[j0 + j] : F(0);
                gv[j] = gvT ? gvT[j0 + j] : F(0);
            }
            for (int64_t t = T - 1; t >= 0; --t) {
                const F* ht = hbuf.data() + t * BLK;
                const F* got = gout + t * N + j0;
                F* gxt = gx + t * N + j0;
                for (int64_t j = 0; j < n; ++j) {
                    const F h = ht[j];
                    const F s = h > vth ? F(1) : F(0);
                    const F sg = sgrad<F, SG>(h - vth, a1, a2);
                    const F go = got[j];
                    F gs = graded ? go * h : go;
                    if (!detach) gs += gv[j] * (-h);
                    F gh = gs * sg + gv[j] * (F(1) - s);
                    if (graded) gh += go * s;
                    // h_t = v_{t-1}*omdv + u_t + bias;  u_t = u_{t-1}*omdu + x_t
                    // gu holds dL/du_t from later steps (or the final-state grad); h_t adds gh.
                    const F gut = gh + gu[j];
                    gxt[j] = gut;
                    gu[j] = gut * omdu;
                    gv[j] = gh * omdv;
                }
            }
            for (int64_t j = 0; j < n; ++j) { gu0[j0 + j] = gu[j]; gv0[j0 + j] = gv[j]; }
        }
    }
}

// ---- dispatch over (charge, surrogate) template parameters ----
template <typename F, int CH>
void lif_bwd_sg(int sg, const F* x, const F* v0, const F* gout, const F* gvT, F* gx, F* gv0, F* gk,
                int64_t T, int64_t N, F c, F vth, F vr, F vsub, int soft, int detach, int graded, F a1, F a2, int nt) {
#define SNN_CASE(S) case S: lif_bwd<F, CH, S>(x, v0, gout, gvT, gx, gv0, gk, T, N, c, vth, vr, vsub, soft, detach, graded, a1, a2, nt); break;
    switch (sg) { SNN_CASE(0) SNN_CASE(1) SNN_CASE(2) SNN_CASE(3) SNN_CASE(4) SNN_CASE(5) }
#undef SNN_CASE
}

// LIF_DIV_* with a power-of-two tau -> LIF_RCP_* with c = 1/tau (exact, a normal number): the same bits
template <typename F>
void use_reciprocal(int& ch, double& c) {
    if (ch != LIF_DIV_DI && ch != LIF_DIV_NDI) return;
    int e = 0;
    const F cf = F(c), r = F(1) / cf;
    if (std::frexp(cf, &e) == F(0.5) && std::isnormal(r) && r * cf == F(1)) {
        ch = ch == LIF_DIV_DI ? LIF_RCP_DI : LIF_RCP_NDI;
        c = double(r);
    }
}

template <typename F>
int lif_forward_t(int ch, const F* x, const F* v0, F* out, F* vT, int64_t T, int64_t N, double c, double vth,
                  double vr, double vsub, int soft, int graded, int nt) {
    if (ch < 0 || ch > 4) return 1;
    use_reciprocal<F>(ch, c);
    switch (ch) {
        case 0: lif_fwd<F, 0>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
        case 1: lif_fwd<F, 1>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
        case 2: lif_fwd<F, 2>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
        case 3: lif_fwd<F, 3>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
        case 4: lif_fwd<F, 4>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
        case 5: lif_fwd<F, 5>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
        case 6: lif_fwd<F, 6>(x, v0, out, vT, T, N, F(c), F(vth), F(vr), F(vsub), soft, graded, nt); return 0;
    }
    return 1;
}

template <typename F>
int lif_backward_t(int ch, int sg, const F* x, const F* v0, const F* gout, const F* gvT, F* gx, F* gv0, F* gk,
                   int64_t T, int64_t N, double c, double vth, double vr, double vsub, int soft, int detach, int graded,
                   double a1, double a2, int nt) {
    if (sg < 0 || sg > 5) return 2;
    if (ch < 0 || ch > 4) return 1;
    use_reciprocal<F>(ch, c);
    switch (ch) {
        case 0: lif_bwd_sg<F, 0>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
        case 1: lif_bwd_sg<F, 1>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
        case 2: lif_bwd_sg<F, 2>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
        case 3: lif_bwd_sg<F, 3>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
        case 4: lif_bwd_sg<F, 4>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
        case 5: lif_bwd_sg<F, 5>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
        case 6: lif_bwd_sg<F, 6>(sg, x, v0, gout, gvT, gx, gv0, gk, T, N, F(c), F(vth), F(vr), F(vsub), soft, detach, graded, F(a1), F(a2), nt); return 0;
    }
    return 1;
}

template <typename F>
int cuba_backward_t(int sg, const F* x, const F* u0, const F* v0, const F* gout, const F* guT, const F* gvT, F* gx,
                    F* gu0, F* gv0, int64_t T, int64_t N, double omdu, double omdv, double vth, double bias,
                    int detach, int graded, double a1, double a2, int nt) {
#define SNN_CASE(S) case S: cuba_bwd<F, S>(x, u0, v0, gout, guT, gvT, gx, gu0, gv0, T, N, F(omdu), F(omdv), F(vth), F(bias), detach, graded, F(a1), F(a2), nt); return 0;
    switch (sg) { SNN_CASE(0) SNN_CASE(1) SNN_CASE(2) SNN_CASE(3) SNN_CASE(4) SNN_CASE(5) }
#undef SNN_CASE
    return 2;
}

}  // namespace

// ---- C ABI (called through ctypes); suffix f32/f64 is the dtype ----
extern "C" {
#define SNN_EXPORT(SUF, F)                                                                                      \
    int snn_lif_forward_##SUF(int ch, const F* x, const F* v0, F* out, F* vT, int64_t T, int64_t N, double c,   \
                              double vth, double vr, double vsub, int soft, int graded, int nt) {               \
        return lif_forward_t<F>(ch, x, v0, out, vT, T, N, c, vth, vr, vsub, soft, graded, nt);                  \
    }                                                                                                           \
    int snn_lif_backward_##SUF(int ch, int sg, const F* x, const F* v0, const F* gout, const F* gvT, F* gx,     \
                               F* gv0, F* gk, int64_t T, int64_t N, double c, double vth, double vr,          \
                               double vsub, int soft, int detach, int graded, double a1, double a2, int nt) {   \
        return lif_backward_t<F>(ch, sg, x, v0, gout, gvT, gx, gv0, gk, T, N, c, vth, vr, vsub, soft, detach,   \
                                 graded, a1, a2, nt);                                                           \
    }                                                                                                           \
    int snn_cuba_forward_##SUF(const F* x, const F* u0, const F* v0, F* out, F* uT, F* vT, int64_t T,           \
                               int64_t N, double omdu, double omdv, double vth, double bias, int graded,       \
                               int nt) {                                                                        \
        cuba_fwd<F>(x, u0, v0, out, uT, vT, T, N, F(omdu), F(omdv), F(vth), F(bias), graded, nt);               \
        return 0;                                                                                               \
    }                                                                                                           \
    int snn_cuba_backward_##SUF(int sg, const F* x, const F* u0, const F* v0, const F* gout, const F* guT,      \
                                const F* gvT, F* gx, F* gu0, F* gv0, int64_t T, int64_t N, double omdu,         \
                                double omdv, double vth, double bias, int detach, int graded, double a1,        \
                                double a2, int nt) {                                                            \
        return cuba_backward_t<F>(sg, x, u0, v0, gout, guT, gvT, gx, gu0, gv0, T, N, omdu, omdv, vth, bias,     \
                                  detach, graded, a1, a2, nt);                                                  \
    }
SNN_EXPORT(f32, float)
SNN_EXPORT(f64, double)
}
