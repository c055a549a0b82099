"""The Brian2 SRC network compiled once: re-runs with new values equal fresh builds, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from bridge import src_brian2 as b2
from bridge.convert import SpikingSpec
from bridge.presets import SRCParams
from bridge.src import simulate


def _case(seed, sizes=(60, 25, 20, 4), steps=120):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.3, 0.6, (sizes[k + 1], sizes[k])).astype(np.float32) for k in range(len(sizes) - 1)]
    raster = rng.random((steps, sizes[0])) < 0.15
    params = SRCParams(max_rate=100.0, inc=0.02 + 0.01 * seed, dec=0.004 + 0.001 * seed, beta=(1.0,),
                       alpha_scale=1.0, decay=0.9 + 0.05 * seed, steps=steps, mask_size=0, image_side=1,
                       g_scale=0.05)
    alpha = [0.8 + 0.1 * seed, 1.1, 1.3 - 0.1 * seed]
    thresholds = [1.0 + 0.2 * seed, 0.9, 1.1]
    return weights, alpha, thresholds, params, raster


def test_pack_raster_round_trip():
    rng = np.random.default_rng(0)
    raster = rng.random((7, 130)) < 0.3
    packed = b2.pack_raster(raster, rows=9)
    assert packed.shape == (9, 5) and packed.dtype == np.float64 and not packed[7:].any()
    assert packed.max() < 2 ** 30
    bits = [(np.floor(packed[:7, i // 30] * 2.0 ** -(i % 30)) % 2) > 0.5 for i in range(130)]
    np.testing.assert_array_equal(np.stack(bits, axis=1), raster)


@pytest.mark.slow  # two cpp_standalone compiles (~15 s each on a free core), like the other standalone tests
def test_a_rerun_equals_a_fresh_build_bit_for_bit(tmp_path, monkeypatch):
    import brian2

    a, b = _case(0, steps=40), _case(1, steps=120)
    monkeypatch.setattr(b2, "PROGRAM_STEPS", 50)  # capacity 50 steps: the second sleep runs in 3 chunks
    first = b2.run_brian2(a[0], a[1], a[2], a[3], iter([a[4]]), directory=tmp_path / "one")
    assert not first.reused and first.build_seconds > 0 and first.runs == 1
    assert brian2.get_device().__class__.__name__ == "RuntimeDevice"  # between runs
    # other Brian2 work in between (a runtime network) does not discard the program
    spec_a = SpikingSpec(weights=tuple(a[0]), alpha=tuple(a[1]), beta=tuple(a[2]), layer_sizes=(60, 25, 20, 4),
                         scale=(1.0,) * 3)
    simulate(spec_a, a[4], a[3], backend="brian2", brian2_backend="numpy")
    second = b2.run_brian2(b[0], b[1], b[2], b[3], iter([b[4]]), directory=tmp_path / "one")
    assert second.reused and second.build_seconds == 0.0 and second.runs == 3
    assert np.all(second.counts[1:] > 0) and not all(np.array_equal(x, y) for x, y in zip(second.weights, b[0]))
    # a fresh build for the second sleep alone (it replaces the first program)
    old = b2._PROGRAM["program"]
    fresh = b2.Brian2Program((60, 25, 20, 4), "float32", 1.0, 50, "cpp_standalone", tmp_path / "two")
    assert not old.valid and fresh.valid
    w_f, c_f, _, _ = fresh.run(b[0], b[1], b[2], b[3], b[4])
    np.testing.assert_array_equal(c_f, second.counts)
    for x, y in zip(w_f, second.weights):
        np.testing.assert_array_equal(x, y)
    # the chunked run is the sleep of the torch kernel (same spikes; float32 rounding apart)
    spec_b = SpikingSpec(weights=tuple(b[0]), alpha=tuple(b[1]), beta=tuple(b[2]), layer_sizes=(60, 25, 20, 4),
                         scale=(1.0,) * 3)
    w_t, c_t = simulate(spec_b, b[4], b[3], backend="torch", dtype="float32")
    np.testing.assert_array_equal(c_t, second.counts)
    for x, y in zip(w_t, second.weights):
        np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6)


def test_numpy_target_runs_the_packed_raster_like_torch():
    """The same network on the runtime (numpy) target: the packed raster gives torch's spikes."""
    w, alpha, thresholds, params, raster = _case(0, steps=60)
    spec = SpikingSpec(weights=tuple(w), alpha=tuple(alpha), beta=tuple(thresholds), layer_sizes=(60, 25, 20, 4),
                       scale=(1.0,) * 3)
    wb, cb = simulate(spec, raster, params, backend="brian2", brian2_backend="numpy", dtype="float64")
    wt, ct = simulate(spec, raster, params, backend="torch", dtype="float64")
    np.testing.assert_array_equal(cb, ct)
    assert cb[0] == raster.sum() and np.all(cb[1:] > 0)
    for x, y in zip(wb, wt):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)
