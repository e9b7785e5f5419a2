"""Fused batch-norm kernels for CUDA, written in Triton (optional).

Used for contiguous float32 CUDA tensors when Triton imports; anything else, or any failure to
compile, takes the eager path, which computes the same maths. Each program owns a block of
channels, so per-channel sums need no atomics, and γ/β gradients and running statistics are
written by the program that computed them.

Element (row r, channel c) of an input viewed as (N, C, S) lives at
(r // S)·C·S + c·S + r % S, for rows r in [0, N·S): loads are contiguous along channels when
S = 1 (an (N, C) input) and along rows otherwise (each channel's plane is contiguous).
"""

from __future__ import annotations

import torch

try:  # pragma: no cover - only on machines with Triton and CUDA
    import triton
    import triton.language as tl
except Exception:  # noqa: BLE001 - Triton missing or broken: the eager path serves
    triton = None

_failed: list[str] = []


def supports(x: torch.Tensor, *others: torch.Tensor | None) -> bool:
    """Whether these kernels take this input (CUDA, float32, contiguous) and have not failed before."""
    return (triton is not None and not _failed and x.is_cuda and x.dtype == torch.float32 and x.is_contiguous()
            and all(t is None or (t.is_cuda and t.dtype == torch.float32 and t.is_contiguous()) for t in others))


def _blocks(C: int, S: int) -> tuple[int, int]:
    block_c = min(64, triton.next_power_of_2(C)) if S == 1 else 1
    return block_c, (16 if S == 1 else 1024)


if triton is not None:  # pragma: no cover - compiled on a GPU machine only

    # Annotations: every non-constexpr value inside a kernel is a `tl.tensor` (pointers and scalars
    # too). Triton acts only on `tl.constexpr`; it evaluates the others as names too, so they must be
    # triton.language attributes (`tl.tensor`), not other globals such as typing.Any.
    @triton.jit
    def _offsets(r: tl.tensor, c: tl.tensor, C: tl.tensor, S: tl.tensor) -> tl.tensor:
        return (r // S)[:, None] * C * S + c[None, :] * S + (r % S)[:, None]

    @triton.jit
    def _grad(DY: tl.tensor, OUT: tl.tensor, off: tl.tensor, mask: tl.tensor, RELU: tl.constexpr) -> tl.tensor:
        """dy, masked by out > 0 when fused with ReLU (the mask is recomputed, never stored)."""
        g = tl.load(DY + off, mask=mask, other=0.0)
        if RELU:
            g = tl.where(tl.load(OUT + off, mask=mask, other=0.0) > 0.0, g, 0.0)
        return g

    @triton.jit
    def _fwd_kernel(X: tl.tensor, W: tl.tensor, B: tl.tensor, OUT: tl.tensor, MEAN: tl.tensor, INVSTD: tl.tensor,
                    RM: tl.tensor, RV: tl.tensor, R: tl.tensor, C: tl.tensor, S: tl.tensor, eps: tl.tensor,
                    momentum: tl.tensor, unbias: tl.tensor,
                    HAS_W: tl.constexpr, HAS_B: tl.constexpr, HAS_RUN: tl.constexpr, RELU: tl.constexpr,
                    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr) -> None:
        c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = c < C
        rows = tl.arange(0, BLOCK_R)
        total = tl.zeros([BLOCK_R, BLOCK_C], tl.float32)
        for r0 in range(0, R, BLOCK_R):  # mean = Σx / M
            r = r0 + rows
            mask = (r < R)[:, None] & cmask[None, :]
            total += tl.load(X + _offsets(r, c, C, S), mask=mask, other=0.0)
        mean = tl.sum(total, axis=0) / R
        spread = tl.zeros([BLOCK_R, BLOCK_C], tl.float32)
        for r0 in range(0, R, BLOCK_R):  # var = Σ(x − mean)² / M (biased, for normalising)
            r = r0 + rows
            mask = (r < R)[:, None] & cmask[None, :]
            d = tl.where(mask, tl.load(X + _offsets(r, c, C, S), mask=mask, other=0.0) - mean[None, :], 0.0)
            spread += d * d
        var = tl.sum(spread, axis=0) / R
        invstd = 1.0 / tl.sqrt(var + eps)
        scale = invstd
        if HAS_W:
            scale = invstd * tl.load(W + c, mask=cmask, other=1.0)
        shift = -mean * scale
        if HAS_B:
            shift += tl.load(B + c, mask=cmask, other=0.0)
        for r0 in range(0, R, BLOCK_R):  # out = γ·x̂ + β = x·scale + shift
            r = r0 + rows
            mask = (r < R)[:, None] & cmask[None, :]
            off = _offsets(r, c, C, S)
            y = tl.load(X + off, mask=mask, other=0.0) * scale[None, :] + shift[None, :]
            if RELU:
                y = tl.maximum(y, 0.0)
            tl.store(OUT + off, y, mask=mask)
        tl.store(MEAN + c, mean, mask=cmask)
        tl.store(INVSTD + c, invstd, mask=cmask)
        if HAS_RUN:
            rm = tl.load(RM + c, mask=cmask, other=0.0)
            rv = tl.load(RV + c, mask=cmask, other=0.0)
            tl.store(RM + c, rm + momentum * (mean - rm), mask=cmask)
            tl.store(RV + c, rv + momentum * (var * unbias - rv), mask=cmask)

    @triton.jit
    def _bwd_kernel(DY: tl.tensor, X: tl.tensor, OUT: tl.tensor, MEAN: tl.tensor, INVSTD: tl.tensor, W: tl.tensor,
                    DX: tl.tensor, DW: tl.tensor, DB: tl.tensor, R: tl.tensor, C: tl.tensor, S: tl.tensor,
                    HAS_W: tl.constexpr, RELU: tl.constexpr, NEED_DX: tl.constexpr,
                    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr) -> None:
        c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = c < C
        rows = tl.arange(0, BLOCK_R)
        mean = tl.load(MEAN + c, mask=cmask, other=0.0)
        invstd = tl.load(INVSTD + c, mask=cmask, other=0.0)
        sum_g = tl.zeros([BLOCK_R, BLOCK_C], tl.float32)
        sum_gx = tl.zeros([BLOCK_R, BLOCK_C], tl.float32)
        for r0 in range(0, R, BLOCK_R):  # Σg and Σg·(x − mean), g = dy (masked by out > 0 with ReLU)
            r = r0 + rows
            mask = (r < R)[:, None] & cmask[None, :]
            off = _offsets(r, c, C, S)
            g = _grad(DY, OUT, off, mask, RELU)
            sum_g += g
            sum_gx += g * tl.where(mask, tl.load(X + off, mask=mask, other=0.0) - mean[None, :], 0.0)
        db = tl.sum(sum_g, axis=0)
        dw = tl.sum(sum_gx, axis=0) * invstd  # dγ = Σ(g·x̂)
        tl.store(DB + c, db, mask=cmask)
        tl.store(DW + c, dw, mask=cmask)
        if NEED_DX:  # dx = γ·inv_std/M · (M·g − Σg − x̂·Σ(g·x̂))
            k = invstd / R
            if HAS_W:
                k = k * tl.load(W + c, mask=cmask, other=1.0)
            for r0 in range(0, R, BLOCK_R):
                r = r0 + rows
                mask = (r < R)[:, None] & cmask[None, :]
                off = _offsets(r, c, C, S)
                g = _grad(DY, OUT, off, mask, RELU)
                xhat = (tl.load(X + off, mask=mask, other=0.0) - mean[None, :]) * invstd[None, :]
                dx = k[None, :] * (R * g - db[None, :] - xhat * dw[None, :])
                tl.store(DX + off, dx, mask=mask)


def _shape(x: torch.Tensor) -> tuple[int, int, int]:
    n, c = x.shape[0], x.shape[1]
    return n, c, x.numel() // max(1, n * c)


def forward(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
            running_mean: torch.Tensor | None, running_var: torch.Tensor | None, momentum: float, eps: float,
            relu: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(out, mean, inv_std), running statistics updated in place; None if the kernel failed to build."""
    n, c, s = _shape(x)
    rows = n * s
    out = torch.empty_like(x)
    mean = torch.empty(c, device=x.device, dtype=torch.float32)
    invstd = torch.empty_like(mean)
    block_c, block_r = _blocks(c, s)
    has_run = running_mean is not None
    try:
        _fwd_kernel[(triton.cdiv(c, block_c),)](
            x, weight if weight is not None else x, bias if bias is not None else x, out, mean, invstd,
            running_mean if has_run else x, running_var if has_run else x, rows, c, s, eps, momentum,
            rows / (rows - 1), HAS_W=weight is not None, HAS_B=bias is not None, HAS_RUN=has_run, RELU=relu,
            BLOCK_R=block_r, BLOCK_C=block_c)
    except Exception as error:  # noqa: BLE001 - compile or launch failure: fall back for good
        _failed.append(f"{type(error).__name__}: {error}")
        return None
    return out, mean, invstd


def backward(dy: torch.Tensor, x: torch.Tensor, out: torch.Tensor | None, mean: torch.Tensor,
             invstd: torch.Tensor, weight: torch.Tensor | None,
             need_dx: bool) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor] | None:
    """(dx or None, dγ, dβ); None if the kernel failed (the caller then runs the eager backward)."""
    n, c, s = _shape(x)
    dy = dy.contiguous()
    dx = torch.empty_like(x) if need_dx else None
    dw, db = torch.empty_like(mean), torch.empty_like(mean)
    block_c, block_r = _blocks(c, s)
    try:
        _bwd_kernel[(triton.cdiv(c, block_c),)](
            dy, x, out if out is not None else x, mean, invstd, weight if weight is not None else x,
            dx if dx is not None else x, dw, db, n * s, c, s, HAS_W=weight is not None, RELU=out is not None,
            NEED_DX=need_dx, BLOCK_R=block_r, BLOCK_C=block_c)
    except Exception as error:  # noqa: BLE001 - compile or launch failure: fall back for good
        _failed.append(f"{type(error).__name__}: {error}")
        return None
    return dx, dw, db


__all__ = ["backward", "forward", "supports"]
