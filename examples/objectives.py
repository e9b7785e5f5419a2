"""Objectives the example study files name. Each takes a `zoomtune.Trial` and returns a number."""

from __future__ import annotations

import math

import numpy as np

import zoomtune


def momentum_descent(trial):  # type: ignore[no-untyped-def]
    """Tune gradient descent with momentum on an ill-conditioned quadratic (condition number 1e3).

    A real tuning problem in miniature: the learning rate matters on a log scale, the momentum
    β on a 1-β log scale, and a bad pair diverges. Returns log10 of the final loss (minimise).
    """
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    beta = trial.suggest_float("beta", 0.5, 0.999, scale="log1m")
    schedule = trial.suggest_categorical("schedule", ["constant", "cosine"])
    curvature = np.logspace(0, 3, 20)  # eigenvalues of the quadratic's Hessian
    w = np.ones_like(curvature)
    velocity = np.zeros_like(w)
    steps = 200
    for step in range(steps):
        rate = lr if schedule == "constant" else lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        velocity = beta * velocity + curvature * w / curvature.max()
        w = w - rate * velocity
        if (step + 1) % 40 == 0:  # five reports: steps 0..4, one per 40 iterations
            loss = float(0.5 * np.sum(curvature * w * w))
            trial.report(min(math.log10(loss + 1e-300), 10.0) if math.isfinite(loss) else 10.0, (step + 1) // 40 - 1)
            if trial.should_stop():
                raise zoomtune.TrialStopped()
    loss = float(0.5 * np.sum(curvature * w * w))
    return min(math.log10(loss + 1e-300), 10.0) if math.isfinite(loss) else 10.0


def panda_curve(trial):  # type: ignore[no-untyped-def]
    """A slow "training run" to babysit: 30 steps of a loss that falls faster with a larger lr
    (until lr is too large), checkpointed at every step so it can be resumed or branched."""
    import time

    lr = trial.suggest_float("lr", 1e-3, 1.0, scale="log")
    state = trial.load_checkpoint() or {"step": -1, "loss": 10.0}
    loss = state["loss"]
    for step in range(state["step"] + 1, 30):
        lr = trial.params["lr"]  # a nudge lands here at the next report
        loss *= 1.0 - min(lr, 0.5) if lr < 0.6 else 1.5
        time.sleep(float(__import__("os").environ.get("PANDA_STEP_SECONDS", "0.2")))
        trial.report(loss, step)
        trial.save_checkpoint({"step": step, "loss": loss})
        if trial.should_stop():
            raise zoomtune.TrialStopped()
    return loss
