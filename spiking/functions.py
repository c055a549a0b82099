"""Brian2 functions that the compiled E/I network calls while it runs.

Each has a C++ implementation (``cpp_standalone``), a Cython one and the
Python one for the ``numpy`` target, all computing the same thing:

* :data:`sleep_decay`: the power-law decay of :func:`spiking.sleep.power_law_decay`
  for the non-negative weight magnitudes the network stores, applied only while
  the controller's ``sleeping`` flag is set (awake it costs one comparison per
  synapse instead of a ``pow``);
* :data:`sleep_noise`: a Gaussian membrane kick while asleep, nothing (and no
  random number drawn) while awake;
* :data:`stop_when`: ends the current ``run()`` at the end of the step in which
  its flag is set (the simulation stops once every image was shown).

The power-law rule is that of the sleep-based homeostatic regularisation of
arXiv 2601.08447 (see :mod:`spiking.sleep`).
"""

from __future__ import annotations

import numpy as np
from brian2 import Function, check_units, implementation, volt

__all__ = ["sleep_decay", "sleep_noise", "stop_when"]


@implementation(
    "cpp",
    """
    double sleep_decay(double w, double w_tgt, double lam, double sleeping)
    {
        if (sleeping < 0.5 || w <= 0.0)
            return w;
        return w_tgt * pow(w / w_tgt, lam);
    }
    """,
)
@implementation(
    "cython",
    """
    cdef double sleep_decay(double w, double w_tgt, double lam, double sleeping):
        if sleeping < 0.5 or w <= 0.0:
            return w
        return w_tgt * (w / w_tgt) ** lam
    """,
)
@check_units(w=1, w_tgt=1, lam=1, sleeping=1, result=1)
def sleep_decay(w, w_tgt, lam, sleeping):
    """Power-law decay of a weight magnitude, applied only while ``sleeping``."""
    w = np.asarray(w, dtype=float)
    sleeping = np.broadcast_to(np.asarray(sleeping, dtype=float), w.shape)
    out = w.copy()
    active = (sleeping > 0.5) & (w > 0)
    wt = np.broadcast_to(np.asarray(w_tgt, dtype=float), w.shape)[active]
    lam_arr = np.broadcast_to(np.asarray(lam, dtype=float), w.shape)[active]
    out[active] = wt * (w[active] / wt) ** lam_arr
    return out


def _noise_numpy(sleeping, sigma):
    sleeping = np.asarray(sleeping, dtype=float)
    out = np.zeros_like(sleeping)
    asleep = sleeping > 0.5
    n = int(np.count_nonzero(asleep))
    if n:
        out[asleep] = np.broadcast_to(np.asarray(sigma, dtype=float), sleeping.shape)[asleep] * \
            np.random.randn(n)
    return out


_noise_cython = """
cdef double sleep_noise(double sleeping, double sigma):
    if sleeping < 0.5:
        return 0.0
    import numpy
    return sigma * numpy.random.randn()
"""

#: Brian2 function: a Gaussian membrane kick of s.d. ``sigma`` while
#: ``sleeping``, 0 (without drawing a random number) while awake. Drawing the
#: random numbers only during sleep keeps the awake network as fast as one
#: without a sleep phase. Uses Brian2's own generators (seeded by
#: ``brian2.seed`` and ``$SLEEP_SNN_SEED``).
sleep_noise = Function(_noise_numpy, arg_units=[1, volt], return_unit=volt,
                       arg_names=["sleeping", "sigma"])
sleep_noise.implementations.add_implementation(
    "cpp",
    """
    double sleep_noise(double sleeping, double sigma)
    {
        if (sleeping < 0.5)
            return 0.0;
        return sigma * brian::_random_generators[0].randn();
    }
    """,
    compiler_kwds={"headers": ['"objects.h"']},
)
sleep_noise.implementations.add_implementation("cython", _noise_cython)
sleep_noise.implementations.add_numpy_implementation(_noise_numpy, discard_units=True)


def _stop_numpy(flag):
    flag = np.asarray(flag, dtype=float)
    if np.any(flag > 0.5):
        from brian2 import stop

        stop()
    return flag


_stop_cython = """
cdef double stop_when(double flag):
    if flag > 0.5:
        from brian2 import stop
        stop()
    return flag
"""

#: Brian2 function that ends the current ``run()`` at the end of the step in
#: which ``flag > 0.5`` (the simulation stops as soon as all images are shown,
#: however long the network slept).
stop_when = Function(_stop_numpy, arg_units=[1], return_unit=1, arg_names=["flag"])
stop_when.implementations.add_implementation(
    "cpp",
    """
    double stop_when(double flag)
    {
        if (flag > 0.5)
            Network::_globally_stopped = true;
        return flag;
    }
    """,
    compiler_kwds={"headers": ['"network.h"']},
)
stop_when.implementations.add_implementation("cython", _stop_cython)
