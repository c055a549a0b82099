"""bridge.nir: NIR export of converted networks, the exact round trip, and NIR semantics vs SRC."""

import dataclasses
import time

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from bridge.convert import SpikingSpec  # noqa: E402
from bridge.nir import (LAYOUT, NIRExportError, NIRImportError, from_nir, nir_dynamics, nudge_threshold,  # noqa: E402
                        read_nir, run_nir, to_nir, unnudge_threshold, weights_nbytes, write_nir)
from bridge.presets import SRCParams  # noqa: E402
from bridge.src import simulate  # noqa: E402


def _spec(sizes=(30, 20, 15, 5), seed=0, alpha=(0.9, 1.3, 1.7), beta=(1.0, 1.2, 0.8)):
    rng = np.random.default_rng(seed)
    w = tuple((rng.standard_normal((o, i)) * 0.35 + 0.12).astype(np.float32)
              for i, o in zip(sizes[:-1], sizes[1:]))
    return SpikingSpec(weights=w, alpha=alpha, beta=beta, layer_sizes=sizes, scale=(2.0, 0.5, 1.5),
                       percentile=99.5, alpha_scale=3.25)


def _same_spec(a, b):
    assert a.layer_sizes == b.layer_sizes
    assert all(x.dtype == y.dtype == np.float32 and np.array_equal(x, y) for x, y in zip(a.weights, b.weights))
    assert a.alpha == b.alpha and a.beta == b.beta and a.scale == b.scale
    assert a.percentile == b.percentile and a.alpha_scale == b.alpha_scale


@pytest.mark.parametrize("decay", [1.0, 0.999, 0.9])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_exact_through_a_file(tmp_path, decay, dtype):
    spec = _spec()
    graph = to_nir(spec, dt=0.5, decay=decay, threshold=1.5, dtype=dtype)
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds == ["Input", "Linear", "IF" if decay == 1 else "LIF"] * 1 + kinds[3:]
    assert kinds.count("Linear") == 3 and kinds[-1] == "Output"
    path = write_nir(tmp_path / "net.nir", graph)
    back = read_nir(path)
    _same_spec(from_nir(back), spec)
    _same_spec(from_nir(path), spec)
    dyn = nir_dynamics(back)
    assert (dyn.dt, dyn.decay, dyn.threshold, dyn.dtype) == (0.5, decay, 1.5, dtype)
    assert back.metadata["layout"] == LAYOUT


def test_nodes_carry_the_network_without_metadata():
    """NIR graphs must run without their metadata: the nodes alone give an equivalent spec."""
    spec = _spec()
    graph = to_nir(spec, dt=1.0, decay=0.99, threshold=2.0, dtype="float64")
    lif = graph.nodes["lif_2"]
    assert np.all(lif.tau == pytest.approx(100.0)) and np.all(lif.r == pytest.approx(1.3 * 100.0))
    assert np.array_equal(graph.nodes["linear_2"].weight, spec.weights[1])  # bit for bit
    graph.metadata = {}
    bare = from_nir(graph)
    assert all(np.array_equal(x, y) for x, y in zip(bare.weights, spec.weights))
    assert bare.alpha == pytest.approx(spec.alpha, rel=1e-14)
    assert bare.thresholds() == pytest.approx(spec.thresholds(2.0), rel=1e-15)
    assert nir_dynamics(graph).decay == pytest.approx(0.99, rel=1e-15)


def test_threshold_nudge_turns_greater_equal_into_greater():
    for dtype, ftype in (("float32", np.float32), ("float64", np.float64)):
        theta = ftype(1.7)
        t2 = nudge_threshold(theta, dtype)
        assert t2.dtype == ftype and t2 < theta and np.nextafter(t2, ftype(np.inf)) == theta
        vs = np.array([np.nextafter(theta, ftype(0)), theta, np.nextafter(theta, ftype(9))], dtype=ftype)
        assert np.array_equal(vs > t2, vs >= theta)
        assert unnudge_threshold(t2) == theta


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_spike_exactly_at_threshold_fires_as_in_src(dtype):
    """Two input spikes of weight 0.5 reach v = 1.0 = theta exactly: SRC fires, so must NIR."""
    w = (np.full((1, 2), 0.5, dtype=np.float32), np.ones((1, 1), dtype=np.float32))
    spec = SpikingSpec(weights=w, alpha=(1.0, 1.0), beta=(1.0, 1.0), layer_sizes=(2, 1, 1), scale=(1.0, 1.0))
    raster = np.array([[True, True], [False, False]])
    params = SRCParams(max_rate=100, inc=0, dec=0, beta=(1.0,), alpha_scale=1.0, decay=1.0, steps=2, mask_size=0)
    _, counts = simulate(spec, raster, params, dtype=dtype)
    spikes = run_nir(to_nir(spec, decay=1.0, dtype=dtype), raster)
    assert counts.tolist() == [2, 1, 1]
    assert spikes["if_1"][:, 0].tolist() == [True, False] and spikes["if_2"][:, 0].tolist() == [True, False]
    # without the nudge NIR's v > theta would stay silent
    plain = to_nir(spec, decay=1.0, dtype=dtype)
    plain.nodes["if_1"].v_threshold = np.ones(1, dtype=np.float32 if dtype == "float32" else np.float64)
    assert not run_nir(plain, raster)["if_1"].any()


@pytest.mark.parametrize("decay", [1.0, 0.95])
def test_nir_semantics_give_the_spikes_of_src_simulate(decay):
    """The exported graph, stepped by NIR's IF/LIF equations, spikes as bridge.src.simulate does.

    Plasticity off (inc = dec = 0), same raster; compared step by step (the spike counts of
    every layer after every step) in float64, and in total in float32.
    """
    spec = _spec()
    steps = 60
    raster = np.random.default_rng(1).random((steps, spec.layer_sizes[0])) < 0.15
    params = SRCParams(max_rate=100, inc=0.0, dec=0.0, beta=(1.0,), alpha_scale=1.0, decay=decay,
                       threshold=1.0, steps=steps, mask_size=0)
    names = [f"{'if' if decay == 1 else 'lif'}_{k}" for k in (1, 2, 3)]
    for dtype, checkpoints in (("float64", range(1, steps + 1)), ("float32", [steps])):
        spikes = run_nir(to_nir(spec, dt=1.0, decay=decay, dtype=dtype), raster)
        nir_cum = np.stack([np.cumsum(spikes[n].sum(axis=1)) for n in names], axis=1)
        for t in checkpoints:
            w_after, counts = simulate(spec, raster[:t], dataclasses.replace(params, steps=t), dtype=dtype)
            assert counts[0] == raster[:t].sum()
            assert counts[1:].tolist() == nir_cum[t - 1].tolist(), (dtype, t)
        assert all(np.array_equal(a, b) for a, b in zip(w_after, spec.weights))  # plasticity off
        assert nir_cum[-1].min() > 10  # every layer is active: the comparison means something


def test_fold_alpha_puts_the_impulse_factor_into_the_weights():
    spec = _spec()
    graph = to_nir(spec, decay=1.0, fold_alpha=True)
    assert np.all(graph.nodes["if_1"].r == 1.0)
    assert np.allclose(graph.nodes["linear_1"].weight, spec.alpha[0] * spec.weights[0].astype(np.float64),
                       rtol=6e-8, atol=0)  # one float32 rounding
    back = from_nir(graph)
    assert back.alpha == spec.alpha
    for a, b in zip(back.weights, spec.weights):
        assert np.allclose(a, b, rtol=2.5e-7, atol=0)
    raster = np.random.default_rng(3).random((40, 30)) < 0.15
    ref = run_nir(to_nir(spec, decay=1.0, dtype="float64"), raster)
    folded = run_nir(to_nir(spec, decay=1.0, dtype="float64", fold_alpha=True), raster)
    assert all(np.array_equal(ref[k], folded[k]) for k in ref)


def test_bad_input_is_refused_with_clear_messages():
    spec = _spec()
    with pytest.raises(NIRExportError, match="decay=1.5"):
        to_nir(spec, decay=1.5)
    with pytest.raises(NIRExportError, match="dt=0"):
        to_nir(spec, dt=0)
    with pytest.raises(NIRExportError, match="dtype='float16'"):
        to_nir(spec, dtype="float16")
    with pytest.raises(NIRExportError, match="SpikingSpec"):
        to_nir("not a spec")

    @dataclasses.dataclass(frozen=True, eq=False)
    class ConvSpec(SpikingSpec):
        kinds: tuple = ()

    conv = ConvSpec(weights=spec.weights, alpha=spec.alpha, beta=spec.beta, layer_sizes=spec.layer_sizes,
                    scale=spec.scale, kinds=("conv", "linear", "linear"))
    with pytest.raises(NIRExportError, match="MLPs.*kinds="):
        to_nir(conv)
    to_nir(ConvSpec(weights=spec.weights, alpha=spec.alpha, beta=spec.beta, layer_sizes=spec.layer_sizes,
                    scale=spec.scale))  # the extra field at its default: still an MLP
    graph = to_nir(spec)
    graph.nodes["lif_2"].v_reset = np.ones(15, dtype=np.float32)
    with pytest.raises(NIRImportError, match="'lif_2': v_reset must be 0"):
        from_nir(graph)
    conv_graph = nir.NIRGraph.from_list(nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 2, 2)), stride=1,
                                                   padding=0, dilation=1, groups=1, bias=np.zeros(1)))
    with pytest.raises(NIRImportError, match="Conv2d"):
        from_nir(conv_graph)


def test_edited_metadata_is_not_trusted():
    spec = _spec()
    graph = to_nir(spec, decay=1.0, dtype="float64")
    graph.metadata["alpha"] = np.array([5.0, 5.0, 5.0])
    with pytest.warns(UserWarning, match="does not match"):
        back = from_nir(graph)
    assert back.alpha == pytest.approx(spec.alpha, rel=0)


def test_size_of_the_784_1200_1200_10_export(tmp_path):
    """The file holds the float32 weights once (gzip); the timing target is in bench src."""
    rng = np.random.default_rng(0)
    sizes = (784, 1200, 1200, 10)
    w = tuple((rng.standard_normal((o, i)) * 0.03).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:]))
    spec = SpikingSpec(weights=w, alpha=(0.1, 0.2, 0.3), beta=(1.0, 1.0, 1.0), layer_sizes=sizes,
                       scale=(1.0, 1.0, 1.0))
    path = write_nir(tmp_path / "big.nir", to_nir(spec))
    assert path.stat().st_size < 2 * weights_nbytes(spec)
    _same_spec(from_nir(path), spec)


def test_round_trip_is_exact_for_random_factors_and_dynamics():
    """Exactness does not hinge on friendly numbers: random alpha, beta, dt, decay, threshold."""
    import warnings

    rng = np.random.default_rng(5)
    sizes = (6, 5, 3)
    for _ in range(60):
        w = tuple(rng.standard_normal((o, i)).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:]))
        spec = SpikingSpec(weights=w, alpha=tuple(rng.uniform(0.01, 50, 2)), beta=tuple(rng.uniform(0.1, 40, 2)),
                           layer_sizes=sizes, scale=(1.0, 1.0))
        decay = float(rng.choice([1.0, rng.uniform(0.5, 0.99999)]))
        kw = dict(dt=float(rng.uniform(0.1, 2)), decay=decay, threshold=float(rng.uniform(0.5, 3)))
        for dtype in ("float32", "float64"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # the metadata must agree with the nodes
                _same_spec(from_nir(to_nir(spec, dtype=dtype, **kw)), spec)


def test_a_converted_cnn_is_refused_by_name():
    torch = pytest.importorskip("torch")
    from torch import nn

    from bridge.convert import from_torch

    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2 * 4 * 4, 3, bias=False))
    spec = from_torch(cnn, torch.rand(8, 36))
    assert spec.layers is not None  # the converter kept the convolution's geometry
    with pytest.raises(NIRExportError, match="MLPs.*layers="):
        to_nir(spec)
