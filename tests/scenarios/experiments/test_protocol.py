"""The reference-protocol quirks: each switch changes only what it names."""

import dataclasses

import numpy as np
import pytest
from brian2 import Hz, ms, second

from scenarios.experiments.protocol import (QUIRK_STAGES, QUIRKS, Protocol, ProtocolError, ablation_sets,
                                            build_schedule, merge_same_label_runs, protocol_readout,
                                            quirk_label, quirk_set)
from spiking.params import EINetworkParams
from spiking.sleep import SleepParams

SIZES = dict(n_subset=20, epochs=3, n_readout=20, test_batch=15)
P, S = EINetworkParams(), SleepParams()


def test_quirk_sets_parse_and_label():
    assert quirk_set("none") == frozenset() and quirk_set("reference") == frozenset(QUIRKS)
    assert quirk_set("a+c") == {"fixed_subset", "qda_readout"}
    assert quirk_set("reference-g1") == frozenset(QUIRKS) - {"anti_hebbian"}
    for spec in ablation_sets():
        assert quirk_set(quirk_label(quirk_set(spec))) == quirk_set(spec)
    assert len(ablation_sets()) == 2 + 2 * len(QUIRKS)
    with pytest.raises(ProtocolError, match="unknown quirk 'gamma'"):
        quirk_set("a+gamma")
    with pytest.raises(ProtocolError, match="Protocol.epochs"):
        Protocol(epochs=0)


def _schedule(protocol, seed=0):
    return build_schedule(protocol, "digits", 60, 40, size=8, seed=seed)


def _schedule_signature(ps):
    s = ps.schedule
    return [s.images, s.order, s.train, s.record, s.keys, s.reset, ps.labels, ps.readout_train, ps.test]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)


def _diff_fields(a, b, prefix=""):
    """Names of the (nested) dataclass fields that differ."""
    out = []
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(va):
            out += _diff_fields(va, vb, prefix + f.name + ".")
        elif not (va == vb if not hasattr(va, "shape") else np.array_equal(va, vb)):
            out.append(prefix + f.name)
    return out


#: The fields each quirk may change in the network and sleep parameters (at ratio 0 and 0.1).
EXPECTED_FIELDS = {
    "reference_timing": {"network": {"t_present", "t_rest"},
                         "sleep": {"mode", "interval", "max_sleep", "lam"}},
    "anti_hebbian": {"network": {"stdp.rule"}},
    "sleep_only_bounds": {"network": {"stdp.w_max", "istdp.w_max"}},
    "sticky_sleep": {"sleep": {"sticky_spikes"}},
    "decay_all": {"sleep": {"pathways"}},
}


@pytest.fixture(scope="module")
def readout_inputs():
    base = Protocol(**SIZES)
    ps = _schedule(base)
    rng = np.random.default_rng(0)
    n_rec = len(ps.schedule.recorded)
    labels = np.asarray(ps.labels)[ps.schedule.recorded]
    counts = rng.poisson(2.0, (n_rec, 40)).astype(float)
    counts[:, :10] += 3.0 * labels[:, None] * (np.arange(10) == labels[:, None] % 10)  # informative
    return counts


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_each_quirk_changes_only_what_it_names(quirk, readout_inputs):
    base = Protocol(**SIZES)
    one = base.with_quirks([quirk])
    stages = QUIRK_STAGES[quirk]
    # the images and their order
    changed = not _same(_schedule_signature(_schedule(base)), _schedule_signature(_schedule(one)))
    assert changed == ("schedule" in stages), quirk
    # network and sleep parameters, with and without sleep
    for ratio in (0.0, 0.1):
        net = _diff_fields(base.network_params(P, ratio), one.network_params(P, ratio))
        slp = _diff_fields(base.sleep_params(S, ratio), one.sleep_params(S, ratio))
        allowed = EXPECTED_FIELDS.get(quirk, {})
        assert set(net) <= allowed.get("network", set()), (quirk, net)
        assert set(slp) <= allowed.get("sleep", set()), (quirk, slp)
        if quirk == "sleep_only_bounds":
            assert bool(net) == (ratio == 0.0)  # bounds removed only where the run does not sleep
        elif "network" in stages:
            assert net
        if "sleep" in stages:
            assert slp
    # the read-out, on the same counts of the same schedule (schedule quirks aside)
    if "schedule" not in stages:
        ps = _schedule(base)
        r0 = protocol_readout(readout_inputs, ps, base)
        r1 = protocol_readout(readout_inputs, ps, one)
        differs = (r0.details["n_rows"] != r1.details["n_rows"] or r0.method != r1.method
                   or not np.array_equal(r0.predictions, r1.predictions))
        assert differs == ("readout" in stages), quirk


def test_schedule_quirks_do_what_they_say():
    base = Protocol(**SIZES)
    ps = _schedule(base)
    n_tr = ps.schedule.n_train
    assert n_tr == 60 and np.array_equal(ps.schedule.order[:60], np.arange(60))
    # readout: a frozen re-presentation of the last training images, starting from rest
    assert not ps.schedule.train[ps.readout_train].any() and ps.schedule.reset[ps.readout_train].all()
    np.testing.assert_array_equal(ps.schedule.order[ps.readout_train], np.arange(40, 60))
    # a: the first n_subset images, epochs times
    a = _schedule(base.with_quirks("a"))
    np.testing.assert_array_equal(a.schedule.order[:a.schedule.n_train], np.tile(np.arange(20), 3))
    # b: the read-out rows are the last training presentations themselves (plastic)
    b = _schedule(base.with_quirks("b"))
    assert b.schedule.train[b.readout_train].all()
    np.testing.assert_array_equal(b.schedule.order[b.readout_train], ps.schedule.order[ps.readout_train])
    # f: the split is drawn from both official files, per network seed
    f0, f1 = _schedule(base.with_quirks("f"), seed=0), _schedule(base.with_quirks("f"), seed=1)
    assert not np.array_equal(f0.schedule.images, f1.schedule.images)
    assert not np.array_equal(f0.schedule.images[:60], ps.schedule.images[:60])


def test_reference_timing_and_sleep_schedule():
    ref = Protocol(quirks="e")
    p = ref.network_params(P, 0.1)
    assert p.t_present == 100 * ms and p.t_rest == 0 * ms
    for ratio, episode in ((0.1, 3.5), (0.2, 7.0), (0.3, 10.0)):
        s = ref.sleep_params(S, ratio)
        assert s.mode == "schedule" and s.interval == 35 * second and s.lam == 0.99997
        assert float(s.max_sleep / second) == pytest.approx(episode)
        # the budget never binds before the episode length does
        assert s.budget_factor * 35.0 >= episode - 1e-9


def test_merge_same_label_runs_closed_form():
    x = np.array([[1.0, 0], [3, 2], [5, 5], [0, 1], [2, 3]])
    y = np.array([4, 4, 1, 7, 7])
    mx, my = merge_same_label_runs(x, y)
    np.testing.assert_array_equal(my, [4, 1, 7])
    np.testing.assert_allclose(mx, [[2, 1], [5, 5], [1, 2]])


def test_last_test_batch_scores_only_the_last_images(readout_inputs):
    ps = _schedule(Protocol(**SIZES))
    r = protocol_readout(readout_inputs, ps, Protocol(quirks="d", **SIZES))
    assert r.n_test == 15 and r.details["n_rows"][1] == 15


def test_plastic_readout_records_while_the_weights_change():
    """b on: the read-out features come from presentations during which the weights change;
    b off: from a frozen re-presentation, during which they do not."""
    from spiking.network import EISimulation

    small = EINetworkParams(n_input=64, n_exc=30, n_inh=8, p_inp_exc=0.3, p_exc_exc=0.2, p_exc_inh=0.3,
                            p_inh_exc=0.3, t_present=40 * ms, t_rest=10 * ms, input_rate=200 * Hz)
    sizes = dict(n_subset=4, epochs=2, n_readout=4, test_batch=2)
    t_img = float(small.t_image / second)
    for on in (False, True):
        prot = Protocol(quirks="b" if on else "none", **sizes)
        ps = build_schedule(prot, "digits", 8, 4, size=8)
        out = EISimulation(small, S, ps.schedule, backend="numpy", progress=False).run(seed=2)
        first, last = ps.readout_train[0], ps.readout_train[-1] + 1
        window = (out.weights_wake_t > first * t_img + 0.021) & (out.weights_wake_t < last * t_img - 0.021)
        moved = sum(np.ptp(W[window]) for W in out.weights.values())
        assert window.sum() > 3
        assert (moved > 0) == on, (on, moved)
