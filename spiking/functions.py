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
  its flag is set (the simulation stops once every image was shown);
* :data:`input_threshold`: the Exp(1) threshold of the next input spike as a
  hash of (run seed, presentation key, input, draw number), so that an image
  shown with the same key gets the same input spikes anywhere in a run
  ("frozen" input noise; :func:`uniform_hash` is the same hash in numpy).

The power-law rule is that of the sleep-based homeostatic regularisation of
arXiv 2601.08447 (see :mod:`spiking.sleep`).
"""

from __future__ import annotations

import numpy as np
from brian2 import Function, check_units, implementation, volt

__all__ = ["sleep_decay", "sleep_noise", "stop_when", "input_threshold", "uniform_hash"]


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


# --------------------------------------------------------------------------
# Frozen input noise: a counter-based random number per (seed, key, input, n)

_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x):
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + _SM_GAMMA
        x = (x ^ (x >> np.uint64(30))) * _SM_M1
        x = (x ^ (x >> np.uint64(27))) * _SM_M2
        return x ^ (x >> np.uint64(31))


def uniform_hash(seed, key, i, n) -> np.ndarray:
    """A uniform number in [0, 1) from (seed, key, i, n), the same as the compiled one.

    Parameters
    ----------
    seed, key, i, n : array_like of non-negative integers (< 2**32 for ``i`` and ``n``)
        Run seed, presentation key, input index and draw number.

    Returns
    -------
    numpy.ndarray
        float64 values in [0, 1) (53 random bits).
    """
    seed, key, i, n = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (seed, key, i, n)))
    h = _splitmix64(seed.astype(np.uint64))
    h = _splitmix64(h ^ key.astype(np.uint64))
    h = _splitmix64(h ^ ((i.astype(np.uint64) << np.uint64(32)) | n.astype(np.uint64)))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _threshold_numpy(current, fresh, key, i, n, seed):
    current, fresh, key, i, n, seed = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (current, fresh, key, i, n, seed)))
    out = np.array(current, dtype=float)
    sel = fresh > 0.5
    if np.any(sel):
        out[sel] = -np.log1p(-uniform_hash(seed[sel], key[sel], i[sel], n[sel]))
    return out


_THRESHOLD_CPP = """
static inline unsigned long long _sleep_snn_sm64(unsigned long long x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}
double input_threshold(double current, double fresh, double key, int i, double n, double seed)
{
    if (fresh < 0.5)
        return current;
    unsigned long long h = _sleep_snn_sm64((unsigned long long)seed);
    h = _sleep_snn_sm64(h ^ (unsigned long long)key);
    h = _sleep_snn_sm64(h ^ ((((unsigned long long)i) << 32) | (unsigned long long)n));
    const double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
    return -log1p(-u);
}
"""

_THRESHOLD_CYTHON = """
from libc.math cimport log1p

cdef unsigned long long _sleep_snn_sm64(unsigned long long x):
    x = x + 0x9E3779B97F4A7C15ULL
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)

cdef double input_threshold(double current, double fresh, double key, int i, double n, double seed):
    cdef unsigned long long h
    cdef double u
    if fresh < 0.5:
        return current
    h = _sleep_snn_sm64(<unsigned long long>seed)
    h = _sleep_snn_sm64(h ^ (<unsigned long long>key))
    h = _sleep_snn_sm64(h ^ (((<unsigned long long>i) << 32) | (<unsigned long long>n)))
    u = (<double>(h >> 11)) * (1.0 / 9007199254740992.0)
    return -log1p(-u)
"""

#: Brian2 function: ``input_threshold(current, fresh, key, i, n, seed)`` returns
#: ``current`` unless ``fresh``, else the Exp(1) number ``-log(1 - u)`` with
#: ``u = uniform_hash(seed, key, i, n)``.
input_threshold = Function(_threshold_numpy, arg_units=[1, 1, 1, 1, 1, 1], return_unit=1,
                           arg_names=["current", "fresh", "key", "i", "n", "seed"])
input_threshold.implementations.add_implementation("cpp", _THRESHOLD_CPP)
input_threshold.implementations.add_implementation("cython", _THRESHOLD_CYTHON)
input_threshold.implementations.add_numpy_implementation(_threshold_numpy, discard_units=True)
