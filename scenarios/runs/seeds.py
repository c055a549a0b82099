"""Seeds derived from other seeds, stable across runs, platforms and versions.

A protocol that needs several independent random streams (data subsets,
initial weights, sleep inputs, one per task ...) derives each from the trial
seed and fixed integers with :func:`derived_seed`, so a result is reproducible
from its recorded trial seed alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["derived_seed"]


def derived_seed(*parts: int, width: int = 63) -> int:
    """A seed derived from integers by :class:`numpy.random.SeedSequence`.

    Parameters
    ----------
    *parts : int
        The integers (e.g. trial seed, task index, a fixed stream number).
    width : {63, 32}
        Bits of the result. 63 (default) gives a non-negative ``int64``;
        32 gives a ``uint32`` seed: the first 32-bit word of the same
        sequence, which the incremental and patches protocols have used
        since their first results (kept so that recorded seeds reproduce
        them).

    Returns
    -------
    int
        In ``[0, 2**width)``.
    """
    seq = np.random.SeedSequence([int(p) for p in parts])
    if width == 63:
        return int(seq.generate_state(1, dtype=np.uint64)[0] >> 1)
    if width == 32:
        return int(seq.generate_state(1, dtype=np.uint32)[0])
    raise ValueError(f"width={width!r}: must be 63 or 32")
