"""Seeds for samplers and schedulers created without one (drawn once, then kept and stored)."""

from __future__ import annotations

import numpy as np


def fresh_seed() -> int:
    """A random 63-bit seed, for samplers and schedulers created without one (kept, so a run can be repeated)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


__all__ = ["fresh_seed"]
