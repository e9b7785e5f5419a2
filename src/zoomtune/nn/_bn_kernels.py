"""Optional fused CPU kernels for :mod:`zoomtune.nn.bn_functional`.

The kernels are a small piece of C (below) compiled lazily, on first use, with the
system C compiler into a per-user cache directory and called through :mod:`ctypes`.
Nothing happens at import time.  If there is no compiler, or compiling or loading
fails, :func:`get` returns ``None`` and the caller uses its eager PyTorch path,
which is always available and computes the same maths.

Layout: the input is viewed as a contiguous ``(N, C, S)`` array (``S`` = product of
the spatial sizes, 1 for ``(N, C)`` inputs).  Threads take disjoint rows; per-channel
sums go into per-thread double-precision partials that are combined at the end (for
``S == 1`` in tiles of 16 channels, each summed over blocks of 32 rows in registers
before being added to the double partials).  Each kernel reads its inputs once per pass:

* forward: pass 1 accumulates Σ(x-K) and Σ(x-K)² with a per-channel shift
  K = x[0, c, 0] (keeps the one-pass variance exact enough for means far from zero),
  pass 2 writes out = (x - mean)·(γ·inv_std) + β (then max(out, 0) when fused).
* backward: pass 1 accumulates Σdy and Σdy·(x - mean) (dy masked by out > 0 when
  fused), pass 2 writes dx = a·dy + b·(x - mean) + c with per-channel a, b, c.

Environment: ``ZOOMTUNE_BN_BACKEND=eager`` disables these kernels (``auto`` or unset: used; any
other value raises ``ConfigError`` on first use); ``ZOOMTUNE_CACHE_DIR``
picks the cache directory; ``CC`` picks the compiler.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, TypedDict

import torch

if TYPE_CHECKING:
    from zoomtune.nn.bn_functional import Backend

_SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <omp.h>

/* Threads get disjoint ranges of the flattened (n, c) rows (S > 1) or of n (S == 1),
   and their own partial per-channel sums, combined serially afterwards. */
#define RANGE(total) \
    int tid = omp_get_thread_num(), nth = omp_get_num_threads(); \
    int64_t lo = (int64_t)(total) * tid / nth, hi = (int64_t)(total) * (tid + 1) / nth;
#define RELU(v) ((v) > 0 ? (v) : 0)

#define DEFINE_KERNELS(T, SFX)                                                          \
int bn_fwd_##SFX(const T* x, const T* w, const T* b, T* out, T* mean, T* invstd,        \
                 T* rmean, T* rvar, int64_t N, int64_t C, int64_t S, double eps,        \
                 double momentum, int relu, int nthreads) {                             \
    double* part = (double*)calloc((size_t)(nthreads * 3 + 1) * C, sizeof(double));     \
    T* tc = (T*)malloc(sizeof(T) * 2 * C);                                              \
    if (!part || !tc) { free(part); free(tc); return 1; }                               \
    double* shift = part + (int64_t)nthreads * 2 * C;                                   \
    T *scale = tc, *bias = tc + C;                                                      \
    for (int64_t c = 0; c < C; ++c) shift[c] = (double)x[c * S];                        \
    _Pragma("omp parallel num_threads(nthreads)")                                       \
    {                                                                                   \
        RANGE(S == 1 ? N : N * C)                                                       \
        double* s1 = part + (int64_t)tid * 2 * C; double* s2 = s1 + C;                  \
        if (S == 1) { /* tiles of 16 channels, blocks of 32 rows summed in registers */ \
            for (int64_t c0 = 0; c0 < C; c0 += 16) {                                    \
                int64_t wd = C - c0 < 16 ? C - c0 : 16;                                 \
                for (int64_t n0 = lo; n0 < hi; n0 += 32) {                              \
                    int64_t n1 = n0 + 32 < hi ? n0 + 32 : hi;                           \
                    T f1[16] = {0}, f2[16] = {0}, k[16] = {0};                          \
                    for (int j = 0; j < wd; ++j) k[j] = (T)shift[c0 + j];               \
                    if (wd == 16) {                                                     \
                        for (int64_t n = n0; n < n1; ++n) {                             \
                            const T* xr = x + n * C + c0;                               \
                            _Pragma("omp simd")                                         \
                            for (int j = 0; j < 16; ++j) {                              \
                                T d = xr[j] - k[j]; f1[j] += d; f2[j] += d * d;         \
                            }                                                           \
                        }                                                               \
                    } else {                                                            \
                        for (int64_t n = n0; n < n1; ++n)                               \
                            for (int j = 0; j < wd; ++j) {                              \
                                T d = x[n * C + c0 + j] - k[j]; f1[j] += d; f2[j] += d * d; \
                            }                                                           \
                    }                                                                   \
                    for (int j = 0; j < wd; ++j) {                                      \
                        s1[c0 + j] += (double)f1[j]; s2[c0 + j] += (double)f2[j];       \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        } else {                                                                        \
            for (int64_t r = lo; r < hi; ++r) {                                         \
                int64_t c = r % C; const T* xr = x + r * S;                             \
                double k = shift[c], a1 = 0.0, a2 = 0.0;                                \
                _Pragma("omp simd reduction(+:a1,a2)")                                  \
                for (int64_t s = 0; s < S; ++s) {                                       \
                    double d = (double)xr[s] - k; a1 += d; a2 += d * d;                 \
                }                                                                       \
                s1[c] += a1; s2[c] += a2;                                               \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    double inv_m = 1.0 / (double)(N * S);                                               \
    for (int64_t c = 0; c < C; ++c) {                                                   \
        double a1 = 0.0, a2 = 0.0;                                                      \
        for (int t = 0; t < nthreads; ++t) {                                            \
            a1 += part[(int64_t)t * 2 * C + c]; a2 += part[(int64_t)t * 2 * C + C + c]; \
        }                                                                               \
        double dm = a1 * inv_m, var = a2 * inv_m - dm * dm;                             \
        if (var < 0.0) var = 0.0;                                                       \
        mean[c] = (T)(shift[c] + dm);                                                   \
        if (rmean) { /* running = (1 - momentum)*running + momentum*batch (unbiased var) */ \
            rmean[c] = (T)((1.0 - momentum) * rmean[c] + momentum * (double)mean[c]);   \
            rvar[c] = (T)((1.0 - momentum) * rvar[c]                                    \
                          + momentum * var * (double)(N * S) / (double)(N * S - 1));    \
        }                                                                               \
        invstd[c] = (T)(1.0 / sqrt(var + eps));                                         \
        scale[c] = w ? w[c] * invstd[c] : invstd[c];                                    \
        bias[c] = b ? b[c] : (T)0;                                                      \
    }                                                                                   \
    _Pragma("omp parallel num_threads(nthreads)")                                       \
    {                                                                                   \
        RANGE(S == 1 ? N : N * C)                                                       \
        if (S == 1) {                                                                   \
            for (int64_t n = lo; n < hi; ++n) {                                         \
                const T* xr = x + n * C; T* o = out + n * C;                            \
                if (relu) {                                                             \
                    _Pragma("omp simd")                                                 \
                    for (int64_t c = 0; c < C; ++c) {                                   \
                        T v = (xr[c] - mean[c]) * scale[c] + bias[c]; o[c] = RELU(v);   \
                    }                                                                   \
                } else {                                                                \
                    _Pragma("omp simd")                                                 \
                    for (int64_t c = 0; c < C; ++c)                                     \
                        o[c] = (xr[c] - mean[c]) * scale[c] + bias[c];                  \
                }                                                                       \
            }                                                                           \
        } else {                                                                        \
            for (int64_t r = lo; r < hi; ++r) {                                         \
                int64_t c = r % C; const T* xr = x + r * S; T* o = out + r * S;         \
                T m = mean[c], sc = scale[c], bb = bias[c];                             \
                if (relu) {                                                             \
                    _Pragma("omp simd")                                                 \
                    for (int64_t s = 0; s < S; ++s) {                                   \
                        T v = (xr[s] - m) * sc + bb; o[s] = RELU(v);                    \
                    }                                                                   \
                } else {                                                                \
                    _Pragma("omp simd")                                                 \
                    for (int64_t s = 0; s < S; ++s) o[s] = (xr[s] - m) * sc + bb;       \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    free(part); free(tc);                                                               \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
int bn_bwd_##SFX(const T* dy, const T* x, const T* out, const T* mean, const T* invstd, \
                 const T* w, T* dx, T* dw, T* db, int64_t N, int64_t C, int64_t S,      \
                 int nthreads) {                                                        \
    double* part = (double*)calloc((size_t)nthreads * 2 * C, sizeof(double));           \
    T* co = (T*)malloc(sizeof(T) * 3 * C);                                              \
    if (!part || !co) { free(part); free(co); return 1; }                               \
    _Pragma("omp parallel num_threads(nthreads)")                                       \
    {                                                                                   \
        RANGE(S == 1 ? N : N * C)                                                       \
        double* s1 = part + (int64_t)tid * 2 * C; double* s2 = s1 + C;                  \
        if (S == 1) { /* tiles of 16 channels, blocks of 32 rows summed in registers */ \
            for (int64_t c0 = 0; c0 < C; c0 += 16) {                                    \
                int64_t wd = C - c0 < 16 ? C - c0 : 16;                                 \
                for (int64_t n0 = lo; n0 < hi; n0 += 32) {                              \
                    int64_t n1 = n0 + 32 < hi ? n0 + 32 : hi;                           \
                    T f1[16] = {0}, f2[16] = {0}, m[16] = {0};                          \
                    for (int j = 0; j < wd; ++j) m[j] = mean[c0 + j];                   \
                    if (wd == 16 && out) {                                              \
                        for (int64_t n = n0; n < n1; ++n) {                             \
                            const T* g = dy + n * C + c0; const T* xr = x + n * C + c0; \
                            const T* o = out + n * C + c0;                              \
                            _Pragma("omp simd")                                         \
                            for (int j = 0; j < 16; ++j) {                              \
                                T gv = o[j] > 0 ? g[j] : (T)0;                          \
                                f1[j] += gv; f2[j] += gv * (xr[j] - m[j]);              \
                            }                                                           \
                        }                                                               \
                    } else if (wd == 16) {                                              \
                        for (int64_t n = n0; n < n1; ++n) {                             \
                            const T* g = dy + n * C + c0; const T* xr = x + n * C + c0; \
                            _Pragma("omp simd")                                         \
                            for (int j = 0; j < 16; ++j) {                              \
                                f1[j] += g[j]; f2[j] += g[j] * (xr[j] - m[j]);          \
                            }                                                           \
                        }                                                               \
                    } else {                                                            \
                        for (int64_t n = n0; n < n1; ++n)                               \
                            for (int j = 0; j < wd; ++j) {                              \
                                int64_t i = n * C + c0 + j;                             \
                                T gv = (out && !(out[i] > 0)) ? (T)0 : dy[i];           \
                                f1[j] += gv; f2[j] += gv * (x[i] - m[j]);               \
                            }                                                           \
                    }                                                                   \
                    for (int j = 0; j < wd; ++j) {                                      \
                        s1[c0 + j] += (double)f1[j]; s2[c0 + j] += (double)f2[j];       \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        } else {                                                                        \
            for (int64_t r = lo; r < hi; ++r) {                                         \
                int64_t c = r % C; const T* g = dy + r * S; const T* xr = x + r * S;    \
                T m = mean[c]; double a1 = 0.0, a2 = 0.0;                               \
                if (out) {                                                              \
                    const T* o = out + r * S;                                           \
                    _Pragma("omp simd reduction(+:a1,a2)")                              \
                    for (int64_t s = 0; s < S; ++s) {                                   \
                        double gv = (double)(o[s] > 0 ? g[s] : (T)0);                   \
                        a1 += gv; a2 += gv * (double)(xr[s] - m);                       \
                    }                                                                   \
                } else {                                                                \
                    _Pragma("omp simd reduction(+:a1,a2)")                              \
                    for (int64_t s = 0; s < S; ++s) {                                   \
                        a1 += (double)g[s]; a2 += (double)g[s] * (double)(xr[s] - m);   \
                    }                                                                   \
                }                                                                       \
                s1[c] += a1; s2[c] += a2;                                               \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    /* dx = a*dy + b*(x - mean) + k, i.e. a*(dy - sum(dy)/M - xhat*sum(dy*xhat)/M) */  \
    double inv_m = 1.0 / (double)(N * S);                                               \
    T *ca = co, *cb = co + C, *ck = co + 2 * C;                                         \
    for (int64_t c = 0; c < C; ++c) {                                                   \
        double sdy = 0.0, sdx = 0.0;                                                    \
        for (int t = 0; t < nthreads; ++t) {                                            \
            sdy += part[(int64_t)t * 2 * C + c]; sdx += part[(int64_t)t * 2 * C + C + c]; \
        }                                                                               \
        double inv = (double)invstd[c], a = w ? (double)w[c] * inv : inv;               \
        if (dw) dw[c] = (T)(sdx * inv);                                                 \
        if (db) db[c] = (T)sdy;                                                         \
        ca[c] = (T)a; cb[c] = (T)(-a * inv * inv * sdx * inv_m); ck[c] = (T)(-a * sdy * inv_m); \
    }                                                                                   \
    if (dx) {                                                                           \
        _Pragma("omp parallel num_threads(nthreads)")                                   \
        {                                                                               \
            RANGE(S == 1 ? N : N * C)                                                   \
            if (S == 1) {                                                               \
                for (int64_t n = lo; n < hi; ++n) {                                     \
                    const T* g = dy + n * C; const T* xr = x + n * C; T* d = dx + n * C; \
                    if (out) {                                                          \
                        const T* o = out + n * C;                                       \
                        _Pragma("omp simd")                                             \
                        for (int64_t c = 0; c < C; ++c) {                               \
                            T gv = o[c] > 0 ? g[c] : (T)0;                              \
                            d[c] = ca[c] * gv + cb[c] * (xr[c] - mean[c]) + ck[c];      \
                        }                                                               \
                    } else {                                                            \
                        _Pragma("omp simd")                                             \
                        for (int64_t c = 0; c < C; ++c)                                 \
                            d[c] = ca[c] * g[c] + cb[c] * (xr[c] - mean[c]) + ck[c];    \
                    }                                                                   \
                }                                                                       \
            } else {                                                                    \
                for (int64_t r = lo; r < hi; ++r) {                                     \
                    int64_t c = r % C; const T* g = dy + r * S; const T* xr = x + r * S; \
                    T* d = dx + r * S; T m = mean[c], a = ca[c], bb = cb[c], k = ck[c]; \
                    if (out) {                                                          \
                        const T* o = out + r * S;                                       \
                        _Pragma("omp simd")                                             \
                        for (int64_t s = 0; s < S; ++s) {                               \
                            T gv = o[s] > 0 ? g[s] : (T)0;                              \
                            d[s] = a * gv + bb * (xr[s] - m) + k;                       \
                        }                                                               \
                    } else {                                                            \
                        _Pragma("omp simd")                                             \
                        for (int64_t s = 0; s < S; ++s)                                 \
                            d[s] = a * g[s] + bb * (xr[s] - m) + k;                     \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    free(part); free(co);                                                               \
    return 0;                                                                           \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
"""

_lock = threading.Lock()


class _State(TypedDict):
    tried: bool  # get() has run (built, loaded, or failed)
    lib: ctypes.CDLL | None
    error: str | None
    build_seconds: float | None


_state: _State = {"tried": False, "lib": None, "error": None, "build_seconds": None}


def _flags() -> list[str]:
    flags = ["-O3", "-std=c99", "-fopenmp", "-shared", "-fPIC", "-fno-math-errno",
             "-fno-trapping-math"]
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - very old torch has no capability query  # pragma: no cover
        cap = "DEFAULT"
    if cap in ("AVX2", "AVX512"):
        flags += ["-mavx2", "-mfma"]
    return flags


def _cache_dir() -> str:
    base = os.environ.get("ZOOMTUNE_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "zoomtune")
    return os.path.join(base, "bn_kernels")


def _build() -> ctypes.CDLL:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RuntimeError("no C compiler found (set CC)")
    flags = _flags()
    key = hashlib.sha256("\0".join([_SOURCE, cc, *flags, sys.platform]).encode()).hexdigest()[:16]
    try:
        cache = _cache_dir()
        os.makedirs(cache, exist_ok=True)
    except OSError:
        cache = os.path.join(tempfile.gettempdir(), "zoomtune-bn-kernels")
        os.makedirs(cache, exist_ok=True)
    target = os.path.join(cache, f"bn_{key}.so")
    if not os.path.exists(target):
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            src = os.path.join(tmp, "bn.c")
            with open(src, "w") as f:
                f.write(_SOURCE)
            tmp_so = os.path.join(tmp, "bn.so")
            proc = subprocess.run([cc, *flags, src, "-o", tmp_so, "-lm"],
                                  capture_output=True, text=True, timeout=120, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"compiling the batch-norm kernels failed:\n{proc.stderr[-2000:]}")
            os.replace(tmp_so, target)  # atomic: concurrent builders are harmless
    lib = ctypes.CDLL(target)
    p, i64, dbl, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    for sfx in ("f32", "f64"):
        fwd = getattr(lib, f"bn_fwd_{sfx}")
        fwd.argtypes = [p] * 8 + [i64, i64, i64, dbl, dbl, i32, i32]
        fwd.restype = i32
        bwd = getattr(lib, f"bn_bwd_{sfx}")
        bwd.argtypes = [p] * 9 + [i64, i64, i64, i32]
        bwd.restype = i32
    return lib


def env_backend() -> Backend:
    """``$ZOOMTUNE_BN_BACKEND`` as a :class:`~zoomtune.nn.bn_functional.Backend` (unset or empty: ``AUTO``,
    any case); a value that is not one raises ``ConfigError`` naming it and the choices."""
    from zoomtune.nn.bn_functional import Backend  # bn_functional imports this module: looked up at call time

    value = os.environ.get("ZOOMTUNE_BN_BACKEND", "").lower() or Backend.AUTO
    return Backend.parse(value, "environment", "ZOOMTUNE_BN_BACKEND")


def get() -> ctypes.CDLL | None:
    """Return the loaded kernel library, building it on first call; ``None`` if unavailable."""
    if _state["tried"]:
        return _state["lib"]
    with _lock:
        if not _state["tried"]:
            from zoomtune.nn.bn_functional import Backend

            if env_backend() is Backend.EAGER:
                _state["error"] = "disabled by ZOOMTUNE_BN_BACKEND=eager"
            else:
                t0 = time.perf_counter()
                try:
                    _state["lib"] = _build()
                    _state["build_seconds"] = time.perf_counter() - t0
                except Exception as exc:  # noqa: BLE001 - never required: fall back to eager
                    error = _state["error"] = f"{type(exc).__name__}: {exc}"
                    warnings.warn("zoomtune.nn: fused batch-norm CPU kernels unavailable, using the "
                                  f"eager PyTorch path ({error[:300]})", RuntimeWarning, stacklevel=3)
            _state["tried"] = True
    return _state["lib"]


def info() -> dict[str, Any]:
    """Whether the kernels were built, the build/load time in seconds, and any error."""
    return {"loaded": _state["lib"] is not None, "build_seconds": _state["build_seconds"],
            "error": _state["error"]}


_DTYPES = (torch.float32, torch.float64)


def supports(x: torch.Tensor, *others: torch.Tensor | None) -> bool:
    """True when ``x`` can go through these kernels (CPU, float32/64, contiguous, non-empty)
    and every tensor in ``others`` that is not None is a contiguous CPU tensor of x's dtype."""
    dt = x.dtype  # `is_cpu`, not `device.type`: this runs on every call, and a device object costs 0.5 µs
    if dt not in _DTYPES or not x.is_cpu or not x.is_contiguous() or not x.numel():
        return False
    for t in others:  # a loop, not all(<generator>)
        if t is not None and (t.dtype is not dt or not t.is_cpu or not t.is_contiguous()):
            return False
    return True


def _threads(numel: int) -> int:
    return 1 if numel < 65536 else max(1, torch.get_num_threads())


def forward(lib: ctypes.CDLL, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
            running_mean: torch.Tensor | None, running_var: torch.Tensor | None, momentum: float, eps: float,
            relu: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training-mode forward; returns (out, mean, inv_std).

    ``x``, ``weight``, ``bias`` and the running buffers must be contiguous, of x's dtype
    (checked by the caller); the running buffers (both or neither) are updated in place.
    """
    N, C = x.shape[0], x.shape[1]
    numel = x.numel()
    out = torch.empty_like(x)
    mean = torch.empty(C, dtype=x.dtype)
    invstd = torch.empty(C, dtype=x.dtype)
    rc = (lib.bn_fwd_f32 if x.dtype is torch.float32 else lib.bn_fwd_f64)(
        x.data_ptr(), None if weight is None else weight.data_ptr(), None if bias is None else bias.data_ptr(),
        out.data_ptr(), mean.data_ptr(), invstd.data_ptr(),
        None if running_mean is None else running_mean.data_ptr(),
        None if running_var is None else running_var.data_ptr(),
        N, C, numel // (N * C), eps, momentum, relu, 1 if numel < 65536 else _threads(numel))
    if rc:
        raise MemoryError("batch-norm kernel could not allocate its scratch space")
    return out, mean, invstd


def backward(lib: ctypes.CDLL, dy: torch.Tensor, x: torch.Tensor, out: torch.Tensor | None, mean: torch.Tensor,
             invstd: torch.Tensor, weight: torch.Tensor | None,
             need_dx: bool) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Returns (dx, dweight, dbias), dx None unless ``need_dx``.  ``out`` (the saved output of the
    fused ReLU variant, else None) masks dy with out > 0."""
    N, C = x.shape[0], x.shape[1]
    numel = x.numel()
    if not dy.is_contiguous():
        dy = dy.contiguous()
    dx = torch.empty_like(x) if need_dx else None
    dw = torch.empty(C, dtype=x.dtype)
    db = torch.empty(C, dtype=x.dtype)
    rc = (lib.bn_bwd_f32 if x.dtype is torch.float32 else lib.bn_bwd_f64)(
        dy.data_ptr(), x.data_ptr(), None if out is None else out.data_ptr(), mean.data_ptr(), invstd.data_ptr(),
        None if weight is None else weight.data_ptr(), None if dx is None else dx.data_ptr(),
        dw.data_ptr(), db.data_ptr(), N, C, numel // (N * C), 1 if numel < 65536 else _threads(numel))
    if rc:
        raise MemoryError("batch-norm kernel could not allocate its scratch space")
    return dx, dw, db
