// Feasibility prototype (not part of memax): one NTM memory step (one write
// head, one read head, content + location addressing, write first) as two
// XLA FFI kernels, forward and backward, written from Graves et al. 2014,
// eqs. 2-9, and memax.ops' exact definitions (eps inside the norms and the
// log). The backward kernel recomputes the forward pass. See README.md.
#include <cmath>
#include <cstdint>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using F32 = ffi::Buffer<ffi::F32>;
using R32 = ffi::ResultBuffer<ffi::F32>;

namespace {

constexpr float kEps = 1e-6f;

struct Scratch {
  std::vector<float> mn, dot, den, cosv, wc, wg, ws, w, tmp;
  float kn = 0.f;
  void resize(int n) {
    mn.resize(n); dot.resize(n); den.resize(n); cosv.resize(n);
    wc.resize(n); wg.resize(n); ws.resize(n); w.resize(n); tmp.resize(n);
  }
};

// Separate in/out buffers so that GCC vectorises them with libmvec.
__attribute__((noinline)) void vexp(float* __restrict out,
                                    const float* __restrict in, float shift,
                                    int n) {
  for (int i = 0; i < n; ++i) out[i] = expf(in[i] - shift);
}
__attribute__((noinline)) void vlog(float* __restrict out,
                                    const float* __restrict in, float scale,
                                    int n) {
  for (int i = 0; i < n; ++i) out[i] = scale * logf(in[i] + kEps);
}

// Addressing forward (eqs. 5-9); fills the scratch, result in s.w.
template <int WT>
void address_fwd(const float* __restrict M, int N, int W_, const float* __restrict k, float beta,
                 float g, const float* __restrict sh, int S, float gamma,
                 const float* __restrict prev, Scratch& s) {
  const int W = WT ? WT : W_;
  float kk = 0.f;
  for (int j = 0; j < W; ++j) kk += k[j] * k[j];
  s.kn = std::sqrt(kk + kEps * kEps);
  float zmax = -3.0e38f;
  for (int i = 0; i < N; ++i) {
    const float* m = M + i * W;
    float mm = 0.f, d = 0.f;
    for (int j = 0; j < W; ++j) { mm += m[j] * m[j]; d += m[j] * k[j]; }
    s.mn[i] = std::sqrt(mm + kEps * kEps);
    s.dot[i] = d;
    s.den[i] = s.mn[i] * s.kn + kEps;
    s.cosv[i] = d / s.den[i];
    zmax = std::fmax(zmax, beta * s.cosv[i]);
  }
  for (int i = 0; i < N; ++i) s.tmp[i] = beta * s.cosv[i];
  vexp(s.wc.data(), s.tmp.data(), zmax, N);
  float z = 0.f;
  for (int i = 0; i < N; ++i) z += s.wc[i];
  const float iz = 1.f / z;
  for (int i = 0; i < N; ++i) {
    s.wc[i] *= iz;
    s.wg[i] = g * s.wc[i] + (1.f - g) * prev[i];
  }
  const int r = S / 2;
  for (int i = 0; i < N; ++i) s.ws[i] = 0.f;
  for (int q = 0; q < S; ++q) {
    const int o = q - r;  // ws[i] += sh[q] * wg[i - o]
    const float c = sh[q];
    for (int i = 0; i < N; ++i) {
      int src = i - o;
      src += (src < 0) ? N : 0;
      src -= (src >= N) ? N : 0;
      s.ws[i] += c * s.wg[src];
    }
  }
  vlog(s.tmp.data(), s.ws.data(), gamma, N);
  float umax = -3.0e38f;
  for (int i = 0; i < N; ++i) umax = std::fmax(umax, s.tmp[i]);
  vexp(s.w.data(), s.tmp.data(), umax, N);
  float zz = 0.f;
  for (int i = 0; i < N; ++i) zz += s.w[i];
  const float izz = 1.f / zz;
  for (int i = 0; i < N; ++i) s.w[i] *= izz;
}

// Addressing backward. dw: [N] cotangent of the final weights. Adds to dM
// and writes dk, dbeta, dg, dsh, dgamma, dprev.
template <int WT>
void address_bwd(const float* __restrict M, int N, int W_, const float* __restrict k, float beta,
                 float g, const float* __restrict sh, int S, float gamma,
                 const float* __restrict prev, const Scratch& s, const float* __restrict dw,
                 float* __restrict dM, float* __restrict dk, float* __restrict dbeta, float* __restrict dg, float* __restrict dsh,
                 float* __restrict dgamma, float* __restrict dprev, std::vector<float>& t1,
                 std::vector<float>& t2) {
  const int W = WT ? WT : W_;
  // sharpen: w = softmax(gamma * log(ws + eps)).
  float dot_wd = 0.f;
  for (int i = 0; i < N; ++i) dot_wd += dw[i] * s.w[i];
  float dgam = 0.f;
  std::vector<float>& dws = t1;
  vlog(t2.data(), s.ws.data(), 1.f, N);
  for (int i = 0; i < N; ++i) {
    const float du = s.w[i] * (dw[i] - dot_wd);
    const float l = t2[i];
    dgam += du * l;
    dws[i] = gamma * du / (s.ws[i] + kEps);
  }
  *dgamma = dgam;
  // shift: ws[i] = sum_q sh[q] wg[(i - q + r) mod N].
  const int r = S / 2;
  std::vector<float>& dwg = t2;
  for (int i = 0; i < N; ++i) dwg[i] = 0.f;
  for (int q = 0; q < S; ++q) {
    const int o = q - r;
    const float c = sh[q];
    float acc = 0.f;
    for (int i = 0; i < N; ++i) {
      int src = i - o;
      src += (src < 0) ? N : 0;
      src -= (src >= N) ? N : 0;
      acc += dws[i] * s.wg[src];
      dwg[src] += c * dws[i];
    }
    dsh[q] = acc;
  }
  // interpolation.
  float dgate = 0.f;
  float dot_c = 0.f;
  for (int i = 0; i < N; ++i) {
    dgate += dwg[i] * (s.wc[i] - prev[i]);
    dprev[i] = (1.f - g) * dwg[i];
    dot_c += g * dwg[i] * s.wc[i];
  }
  *dg = dgate;
  // content softmax and cosine.
  float db = 0.f, gkn = 0.f;
  for (int j = 0; j < W; ++j) dk[j] = 0.f;
  for (int i = 0; i < N; ++i) {
    const float dz = s.wc[i] * (g * dwg[i] - dot_c);
    db += dz * s.cosv[i];
    const float dcos = beta * dz;
    const float gdot = dcos / s.den[i];
    const float gden = -dcos * s.dot[i] / (s.den[i] * s.den[i]);
    const float gmn = gden * s.kn;
    gkn += gden * s.mn[i];
    const float c = gmn / s.mn[i];
    const float* m = M + i * W;
    float* dm = dM + i * W;
    for (int j = 0; j < W; ++j) {
      dm[j] += gdot * k[j] + c * m[j];
      dk[j] += gdot * m[j];
    }
  }
  *dbeta = db;
  const float ck = gkn / s.kn;
  for (int j = 0; j < W; ++j) dk[j] += ck * k[j];
}

// One head's activated parameters (memax.ops.address's arguments).
struct Head {
  const float* k;
  float beta, g, gamma;
  const float* sh;
};

// One example's step, forward: write head, write, read head, read.
template <int WT>
void step_fwd(const float* __restrict m, int N, int W_, int S, const float* __restrict wp,
              const float* __restrict rp, const Head& hw, const float* __restrict e, const float* __restrict a,
              const Head& hr, Scratch& s, float* __restrict mo, float* __restrict ww, float* __restrict rw,
              float* __restrict rv) {
  const int W = WT ? WT : W_;
  address_fwd<WT>(m, N, W, hw.k, hw.beta, hw.g, hw.sh, S, hw.gamma, wp, s);
  for (int i = 0; i < N; ++i) {
    const float wi = s.w[i];
    ww[i] = wi;
    for (int j = 0; j < W; ++j)
      mo[i * W + j] = m[i * W + j] * (1.f - wi * e[j]) + wi * a[j];
  }
  address_fwd<WT>(mo, N, W, hr.k, hr.beta, hr.g, hr.sh, S, hr.gamma, rp, s);
  for (int j = 0; j < W; ++j) rv[j] = 0.f;
  for (int i = 0; i < N; ++i) {
    rw[i] = s.w[i];
    for (int j = 0; j < W; ++j) rv[j] += s.w[i] * mo[i * W + j];
  }
}

// Cotangents of one head's activated parameters.
struct HeadGrad {
  float* k;
  float* beta;
  float* g;
  float* sh;
  float* gamma;
};

struct Work {
  Scratch sw, sr;
  std::vector<float> mo, dmo, t1, t2, dr, dwt;
  void resize(int n, int w) {
    sw.resize(n); sr.resize(n);
    mo.resize(n * w); dmo.resize(n * w);
    t1.resize(n); t2.resize(n); dr.resize(n); dwt.resize(n);
  }
};

// One example's step, backward (recomputes the forward pass).
template <int WT>
void step_bwd(const float* __restrict m, int N, int W_, int S, const float* __restrict wp,
              const float* __restrict rp, const Head& hw, const float* __restrict e, const float* __restrict a,
              const Head& hr, const float* __restrict g_mo, const float* __restrict g_ww,
              const float* __restrict g_rw, const float* __restrict g_rv, Work& k, float* __restrict g_m,
              float* __restrict g_wp, float* __restrict g_rp, const HeadGrad& gw, float* __restrict g_e,
              float* __restrict g_a, const HeadGrad& gr) {
  const int W = WT ? WT : W_;
  address_fwd<WT>(m, N, W, hw.k, hw.beta, hw.g, hw.sh, S, hw.gamma, wp, k.sw);
  float* mo = k.mo.data();
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < W; ++j)
      mo[i * W + j] = m[i * W + j] * (1.f - k.sw.w[i] * e[j]) +
                      k.sw.w[i] * a[j];
  address_fwd<WT>(mo, N, W, hr.k, hr.beta, hr.g, hr.sh, S, hr.gamma, rp, k.sr);
  // 1. read: rv = rw^T M'.
  float* dmo = k.dmo.data();
  for (int i = 0; i < N; ++i) {
    float acc = g_rw[i];
    for (int j = 0; j < W; ++j) {
      acc += g_rv[j] * mo[i * W + j];
      dmo[i * W + j] = g_mo[i * W + j] + k.sr.w[i] * g_rv[j];
    }
    k.dr[i] = acc;
  }
  // 2. read addressing on M'.
  address_bwd<WT>(mo, N, W, hr.k, hr.beta, hr.g, hr.sh, S, hr.gamma, rp, k.sr,
              k.dr.data(), dmo, gr.k, gr.beta, gr.g, gr.sh, gr.gamma, g_rp,
              k.t1, k.t2);
  // 3. write: M' = M (1 - w e^T) + w a^T.
  for (int j = 0; j < W; ++j) { g_e[j] = 0.f; g_a[j] = 0.f; }
  for (int i = 0; i < N; ++i) {
    const float wi = k.sw.w[i];
    float acc = g_ww[i];
    for (int j = 0; j < W; ++j) {
      const float gm = dmo[i * W + j];
      const float mv = m[i * W + j];
      g_m[i * W + j] = gm * (1.f - wi * e[j]);
      acc += gm * (a[j] - mv * e[j]);
      g_e[j] -= gm * mv * wi;
      g_a[j] += gm * wi;
    }
    k.dwt[i] = acc;
  }
  // 4. write addressing on M.
  address_bwd<WT>(m, N, W, hw.k, hw.beta, hw.g, hw.sh, S, hw.gamma, wp, k.sw,
              k.dwt.data(), g_m, gw.k, gw.beta, gw.g, gw.sh, gw.gamma, g_wp,
              k.t1, k.t2);
}

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
inline float softplus(float x) {
  return x > 20.f ? x : std::log1p(std::exp(x));
}

// The NTM cell's interface activations, from one head's slice of the
// (clipped) controller output: key W | strength | gate | shift S | gamma
// [| erase W | add W]. Storage for the activated vectors is in `buf`.
struct Activated {
  std::vector<float> buf;  // sh [S], e [W], a [W]
  Head h;
  const float* e = nullptr;
  const float* a = nullptr;
  void set(const float* raw, int W, int S, bool write) {
    buf.resize(S + 2 * W);
    float* sh = buf.data();
    h.k = raw;
    h.beta = 1.f + softplus(raw[W]);
    h.g = sigmoid(raw[W + 1]);
    float mx = -3.0e38f;
    for (int q = 0; q < S; ++q) mx = std::fmax(mx, raw[W + 2 + q]);
    float z = 0.f;
    for (int q = 0; q < S; ++q) { sh[q] = std::exp(raw[W + 2 + q] - mx); z += sh[q]; }
    for (int q = 0; q < S; ++q) sh[q] /= z;
    h.sh = sh;
    h.gamma = 1.f + softplus(raw[W + 2 + S]);
    if (write) {
      float* ev = buf.data() + S;
      float* av = ev + W;
      const float* re = raw + W + 3 + S;
      for (int j = 0; j < W; ++j) { ev[j] = sigmoid(re[j]); av[j] = std::tanh(re[W + j]); }
      e = ev; a = av;
    }
  }
};

// Cotangent of a head's raw slice from those of its activated parameters.
void activation_bwd(const float* raw, int W, int S, const Activated& act,
                    const float* dk, float dbeta, float dg, const float* dsh,
                    float dgamma, const float* de, const float* da,
                    float* draw) {
  for (int j = 0; j < W; ++j) draw[j] = dk[j];
  draw[W] = dbeta * sigmoid(raw[W]);
  draw[W + 1] = dg * act.h.g * (1.f - act.h.g);
  float dot = 0.f;
  for (int q = 0; q < S; ++q) dot += dsh[q] * act.h.sh[q];
  for (int q = 0; q < S; ++q) draw[W + 2 + q] = act.h.sh[q] * (dsh[q] - dot);
  draw[W + 2 + S] = dgamma * sigmoid(raw[W + 2 + S]);
  if (de != nullptr) {
    float* dre = draw + W + 3 + S;
    for (int j = 0; j < W; ++j) {
      dre[j] = de[j] * act.e[j] * (1.f - act.e[j]);
      dre[W + j] = da[j] * (1.f - act.a[j] * act.a[j]);
    }
  }
}

// Example b's head parameters from the batched buffers.
Head head_at(const F32& k, const F32& beta, const F32& g, const F32& sh,
             const F32& gamma, int b, int W, int S) {
  return Head{k.typed_data() + b * W, beta.typed_data()[b], g.typed_data()[b],
              gamma.typed_data()[b], sh.typed_data() + b * S};
}

}  // namespace

// The paper's word size gets code specialised for it (loops of known length).
#define STEP_FWD(...) (W == 20 ? step_fwd<20>(__VA_ARGS__) : step_fwd<0>(__VA_ARGS__))
#define STEP_BWD(...) (W == 20 ? step_bwd<20>(__VA_ARGS__) : step_bwd<0>(__VA_ARGS__))

// ---- Variant 1: activated head parameters in, their cotangents out. ----
// Inputs: M [B,N,W], wprev [B,N], rprev [B,N]; write head kw [B,W],
// bw gw [B], sw [B,S], yw [B], e a [B,W]; read head kr [B,W], br gr [B],
// sr [B,S], yr [B]. Outputs: M' [B,N,W], ww [B,N], rw [B,N], rv [B,W].
static ffi::Error FwdImpl(F32 M, F32 wprev, F32 rprev, F32 kw, F32 bw, F32 gw,
                          F32 sw, F32 yw, F32 e, F32 a, F32 kr, F32 br, F32 gr,
                          F32 sr, F32 yr, R32 Mo, R32 wwo, R32 rwo, R32 rvo) {
  auto d = M.dimensions();
  const int B = d[0], N = d[1], W = d[2];
  const int S = sw.dimensions()[1];
  Scratch s; s.resize(N);
  for (int b = 0; b < B; ++b) {
    const Head hw = head_at(kw, bw, gw, sw, yw, b, W, S);
    const Head hr = head_at(kr, br, gr, sr, yr, b, W, S);
    STEP_FWD(M.typed_data() + b * N * W, N, W, S, wprev.typed_data() + b * N,
             rprev.typed_data() + b * N, hw, e.typed_data() + b * W,
             a.typed_data() + b * W, hr, s, Mo->typed_data() + b * N * W,
             wwo->typed_data() + b * N, rwo->typed_data() + b * N,
             rvo->typed_data() + b * W);
  }
  return ffi::Error::Success();
}

// The forward's inputs, then the cotangents of its outputs; returns the
// cotangents of the 15 inputs in order.
static ffi::Error BwdImpl(F32 M, F32 wprev, F32 rprev, F32 kw, F32 bw, F32 gw,
                          F32 sw, F32 yw, F32 e, F32 a, F32 kr, F32 br, F32 gr,
                          F32 sr, F32 yr, F32 dMo, F32 dwwo, F32 drwo,
                          F32 drvo, R32 dM, R32 dwprev, R32 drprev, R32 dkw,
                          R32 dbw, R32 dgw, R32 dsw, R32 dyw, R32 de, R32 da,
                          R32 dkr, R32 dbr, R32 dgr, R32 dsr, R32 dyr) {
  auto d = M.dimensions();
  const int B = d[0], N = d[1], W = d[2];
  const int S = sw.dimensions()[1];
  Work k; k.resize(N, W);
  for (int b = 0; b < B; ++b) {
    const Head hw = head_at(kw, bw, gw, sw, yw, b, W, S);
    const Head hr = head_at(kr, br, gr, sr, yr, b, W, S);
    const HeadGrad gwh{dkw->typed_data() + b * W, dbw->typed_data() + b,
                       dgw->typed_data() + b, dsw->typed_data() + b * S,
                       dyw->typed_data() + b};
    const HeadGrad grh{dkr->typed_data() + b * W, dbr->typed_data() + b,
                       dgr->typed_data() + b, dsr->typed_data() + b * S,
                       dyr->typed_data() + b};
    STEP_BWD(M.typed_data() + b * N * W, N, W, S, wprev.typed_data() + b * N,
             rprev.typed_data() + b * N, hw, e.typed_data() + b * W,
             a.typed_data() + b * W, hr, dMo.typed_data() + b * N * W,
             dwwo.typed_data() + b * N, drwo.typed_data() + b * N,
             drvo.typed_data() + b * W, k, dM->typed_data() + b * N * W,
             dwprev->typed_data() + b * N, drprev->typed_data() + b * N, gwh,
             de->typed_data() + b * W, da->typed_data() + b * W, grh);
  }
  return ffi::Error::Success();
}

// ---- Variant 2: the cell's raw (clipped) interface vector in. ----
// Inputs: M [B,N,W], wprev [B,N], rprev [B,N], raw [B,P] with P = (W+3+S)
// for the read head then (3W+3+S) for the write head. Outputs as variant 1.
static ffi::Error RawFwdImpl(F32 M, F32 wprev, F32 rprev, F32 raw, R32 Mo,
                             R32 wwo, R32 rwo, R32 rvo) {
  auto d = M.dimensions();
  const int B = d[0], N = d[1], W = d[2];
  const int P = raw.dimensions()[1];
  const int S = (P - 4 * W - 6) / 2;
  Scratch s; s.resize(N);
  Activated ar, aw;
  for (int b = 0; b < B; ++b) {
    const float* r = raw.typed_data() + b * P;
    ar.set(r, W, S, false);
    aw.set(r + W + 3 + S, W, S, true);
    STEP_FWD(M.typed_data() + b * N * W, N, W, S, wprev.typed_data() + b * N,
             rprev.typed_data() + b * N, aw.h, aw.e, aw.a, ar.h, s,
             Mo->typed_data() + b * N * W, wwo->typed_data() + b * N,
             rwo->typed_data() + b * N, rvo->typed_data() + b * W);
  }
  return ffi::Error::Success();
}

static ffi::Error RawBwdImpl(F32 M, F32 wprev, F32 rprev, F32 raw, F32 dMo,
                             F32 dwwo, F32 drwo, F32 drvo, R32 dM, R32 dwprev,
                             R32 drprev, R32 draw) {
  auto d = M.dimensions();
  const int B = d[0], N = d[1], W = d[2];
  const int P = raw.dimensions()[1];
  const int S = (P - 4 * W - 6) / 2;
  Work k; k.resize(N, W);
  Activated ar, aw;
  // Cotangents of the activated parameters: k, sh, e, a, then scalars.
  std::vector<float> gk_w(W), gk_r(W), gs_w(S), gs_r(S), ge(W), ga(W);
  float gb_w, gg_w, gy_w, gb_r, gg_r, gy_r;
  for (int b = 0; b < B; ++b) {
    const float* r = raw.typed_data() + b * P;
    ar.set(r, W, S, false);
    aw.set(r + W + 3 + S, W, S, true);
    const HeadGrad gwh{gk_w.data(), &gb_w, &gg_w, gs_w.data(), &gy_w};
    const HeadGrad grh{gk_r.data(), &gb_r, &gg_r, gs_r.data(), &gy_r};
    STEP_BWD(M.typed_data() + b * N * W, N, W, S, wprev.typed_data() + b * N,
             rprev.typed_data() + b * N, aw.h, aw.e, aw.a, ar.h,
             dMo.typed_data() + b * N * W, dwwo.typed_data() + b * N,
             drwo.typed_data() + b * N, drvo.typed_data() + b * W, k,
             dM->typed_data() + b * N * W, dwprev->typed_data() + b * N,
             drprev->typed_data() + b * N, gwh, ge.data(), ga.data(), grh);
    float* dr = draw->typed_data() + b * P;
    activation_bwd(r, W, S, ar, gk_r.data(), gb_r, gg_r, gs_r.data(), gy_r,
                   nullptr, nullptr, dr);
    activation_bwd(r + W + 3 + S, W, S, aw, gk_w.data(), gb_w, gg_w,
                   gs_w.data(), gy_w, ge.data(), ga.data(), dr + W + 3 + S);
  }
  return ffi::Error::Success();
}

#define A ffi::Buffer<ffi::F32>

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    NtmStepFwd, FwdImpl,
    ffi::Ffi::Bind().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Arg<A>().Arg<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    NtmStepBwd, BwdImpl,
    ffi::Ffi::Bind().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Ret<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>()
        .Ret<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>()
        .Ret<A>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    NtmStepRawFwd, RawFwdImpl,
    ffi::Ffi::Bind().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Ret<A>().Ret<A>().Ret<A>().Ret<A>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    NtmStepRawBwd, RawBwdImpl,
    ffi::Ffi::Bind().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>().Arg<A>()
        .Arg<A>().Arg<A>().Ret<A>().Ret<A>().Ret<A>().Ret<A>());
