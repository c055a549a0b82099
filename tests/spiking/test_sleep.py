"""The sleep controller inside the simulation (numpy runtime, tiny networks)."""

import brian2
import numpy as np
import pytest
from brian2 import Hz, StateMonitor, mV, ms, second

from spiking.backend import use_backend
from spiking.network import build_network
from spiking.params import EINetworkParams, ParameterError, STDPParams
from spiking.functions import sleep_decay
from spiking.sleep import SleepParams, power_law_decay

TINY = dict(n_input=16, n_exc=8, n_inh=2, p_inp_exc=1.0, p_exc_exc=0.5, p_exc_inh=1.0,
            p_inh_exc=1.0, t_present=100 * ms, t_rest=20 * ms, input_rate=200 * Hz,
            J_inp_exc=30 * mV)


def run_tiny(params, sleep, images, n_train, seed=0):
    """Build and run a tiny network; return (net, per-step controller monitor, initial weights)."""
    with use_backend("numpy"):
        brian2.seed(seed)
        net = build_network(params, sleep, images, n_train, raster_exc=0, raster_inh=0,
                            record_interval=sleep.check_interval)
        mon = StateMonitor(net["ctrl"], ["sleeping", "W", "W0", "sleep_steps", "wake_steps",
                                         "started", "ended"], record=0, when="end", order=50,
                           name="ctrl_mon")
        net.add(mon)
        w_init = {p: np.array(net[p].w[:]) for p in ("inp_exc", "exc_exc", "exc_inh", "inh_exc")}
        net.run(net.duration, namespace={})
        return net, mon, w_init


@pytest.fixture(scope="module")
def trigger_run():
    params = EINetworkParams(**TINY, stdp=STDPParams(eta_plus=0.05, eta_minus=0.0))
    sleep = SleepParams(alpha_trig=1.05, alpha_base=1.0, sleep_ratio=0.5, lam=0.95,
                        w_tgt_inp_exc=0.01, w_tgt_exc_exc=0.01, sigma=0 * mV,
                        check_interval=1 * ms, max_sleep=1 * second)
    images = np.ones((6, params.n_input))
    net, mon, w_init = run_tiny(params, sleep, images, n_train=6)
    return params, sleep, net, mon, w_init


def test_sleep_starts_on_the_step_W_crosses_trigger(trigger_run):
    params, sleep, net, mon, _ = trigger_run
    W, W0 = mon.W[0], mon.W0[0]
    sleeping = mon.sleeping[0]
    starts = np.flatnonzero(mon.started[0] > 0.5)
    assert len(starts) >= 2, "the tiny network should sleep several times"
    first = starts[0]
    above = np.flatnonzero(W > sleep.alpha_trig * W0)
    assert above[0] == first
    assert sleeping[first] == 1 and sleeping[first - 1] == 0
    for k in starts:  # every start: awake before, W above the trigger
        assert W[k] > sleep.alpha_trig * W0[k]
        assert sleeping[k - 1] == 0


def test_sleep_ends_on_the_step_W_falls_to_baseline(trigger_run):
    params, sleep, net, mon, _ = trigger_run
    W, W0 = mon.W[0], mon.W0[0]
    ends = np.flatnonzero(mon.ended[0] > 0.5)
    starts = np.flatnonzero(mon.started[0] > 0.5)
    assert len(starts) >= 2, "the tiny network should sleep several times"
    assert len(ends) == len(starts)
    for s, e in zip(starts, ends):
        below = s + 1 + np.flatnonzero(W[s + 1:] <= sleep.alpha_base * W0[s + 1:])
        assert below[0] == e
        assert mon.sleeping[0][e] == 0
        assert np.all(mon.sleeping[0][s:e] == 1)
    reasons = [int(r) for r in net["sleep_ends"].end_reason[:]]
    assert len(reasons) == len(ends)  # one recorded reason per episode (not an empty all())
    assert all(r & 1 for r in reasons)  # ended at baseline


def test_W_stays_within_trigger_plus_one_step_growth(trigger_run):
    params, sleep, net, mon, _ = trigger_run
    W, W0 = mon.W[0], mon.W0[0][0]
    train_steps = net.n_train * params.steps_per_image
    awake = (mon.sleeping[0] == 0) & (mon.wake_steps[0] < train_steps)
    growth = np.diff(W)[awake[:-1]]  # growth during an awake step
    max_step = growth.max()
    assert np.all(W <= sleep.alpha_trig * W0 + max_step + 1e-12)
    # without sleep the same potentiation would have taken W far above that bound
    awake_growth = np.diff(W)[awake[:-1]].clip(min=0).sum()
    assert W0 + awake_growth > sleep.alpha_trig * W0 + max_step


def test_weights_keep_sign_and_bounds(trigger_run):
    params, sleep, net, mon, _ = trigger_run
    for p in ("inp_exc", "exc_exc", "inh_exc"):
        w = np.asarray(net[p].w[:])
        assert w.min() >= 0.0
        assert w.max() <= 1.0


def test_budget_never_exceeded(trigger_run):
    params, sleep, net, mon, _ = trigger_run
    factor = sleep.budget_factor
    assert np.all(mon.sleep_steps[0] <= factor * mon.wake_steps[0] + 1e-9)


def test_wake_clock_pauses_so_every_image_is_shown_in_full(trigger_run):
    params, sleep, net, mon, _ = trigger_run
    n_images = 6
    ctrl = net["ctrl"]
    # every image for its full time, plus the one step that records the last boundary
    assert int(ctrl.wake_steps[0]) == n_images * params.steps_per_image + 1
    assert int(ctrl.sleep_steps[0]) > 0
    # one image-boundary record per image and neuron
    assert net["counts_exc"].num_events == n_images * params.n_exc
    # simulated time = wake + sleep
    steps = int(round(float(net.t / params.dt)))
    assert steps == int(ctrl.wake_steps[0]) + int(ctrl.sleep_steps[0])
    # the running weight sums equal the actual sums at the end
    for p in ("inp_exc", "exc_exc", "inh_exc"):
        assert float(net["meter"].__getattr__(f"W_{p}")[0]) == pytest.approx(
            float(np.sum(net[p].w[:])), rel=1e-9)


def test_decay_over_n_steps_is_exact_power_law_and_silent_without_input():
    params = EINetworkParams(**TINY, plastic=False)
    sleep = SleepParams(alpha_trig=0.5, alpha_base=0.4, sleep_ratio=0.9, lam=0.99,
                        w_tgt_inp_exc=0.02, w_tgt_exc_exc=0.03, w_tgt_inh_exc=0.04,
                        pathways=("inp_exc", "exc_exc", "inh_exc"), sigma=0 * mV,
                        check_interval=1 * ms, max_sleep=5 * second)
    images = np.zeros((2, params.n_input))
    net, mon, w_init = run_tiny(params, sleep, images, n_train=2)
    n = int(net["ctrl"].sleep_steps[0])
    assert n > 10
    for p in ("inp_exc", "exc_exc", "inh_exc"):
        expected = power_law_decay(w_init[p], sleep.w_tgt(p), sleep.lam, steps=n)
        np.testing.assert_allclose(net[p].w[:], expected, rtol=1e-10)
    np.testing.assert_array_equal(net["exc_inh"].w[:], w_init["exc_inh"])  # not plastic
    # sigma = 0 and no input: not a single spike, awake or asleep
    assert net["counts_exc"].img_count[:].sum() == 0
    assert net["exc"].sleep_count[:].sum() == 0 and net["inh"].sleep_count[:].sum() == 0


def test_schedule_mode_sleeps_every_interval_for_max_sleep():
    params = EINetworkParams(**TINY)
    sleep = SleepParams(mode="schedule", interval=200 * ms, max_sleep=30 * ms, sleep_ratio=0.5,
                        check_interval=1 * ms, sigma=2 * mV)
    images = np.full((5, params.n_input), 0.5)
    net, mon, _ = run_tiny(params, sleep, images, n_train=5)
    wake_at_start = np.asarray(net["sleep_starts"].wake_steps[:])
    assert len(wake_at_start) == (5 * params.steps_per_image - 1) // 200 > 0
    np.testing.assert_array_equal(wake_at_start, 200 * np.arange(1, len(wake_at_start) + 1))
    durations = np.asarray(net["sleep_ends"].t - net["sleep_starts"].t) / float(params.dt)
    np.testing.assert_allclose(durations, 30)
    reasons = [int(r) for r in net["sleep_ends"].end_reason[:]]
    assert len(reasons) == len(wake_at_start) and all(r & 2 for r in reasons)


def test_power_law_decay_composes_and_keeps_sign():
    w = np.array([-0.5, -0.01, 0.0, 0.003, 0.2, 0.9])
    once = w.copy()
    for _ in range(7):
        once = power_law_decay(once, 0.05, 0.97)
    np.testing.assert_allclose(once, power_law_decay(w, 0.05, 0.97, steps=7), rtol=1e-12)
    assert np.all(np.sign(once) == np.sign(w))
    # magnitudes move towards the target from both sides
    assert abs(once[0]) < 0.5 and abs(once[3]) > 0.003
    torch = pytest.importorskip("torch")
    t = power_law_decay(torch.tensor(w), 0.05, 0.97, steps=7)
    np.testing.assert_allclose(t.numpy(), once, rtol=1e-12)


def test_brian_decay_function_matches_power_law():
    w = np.array([0.0, 0.01, 0.3, 0.8])
    out = sleep_decay.pyfunc(w, 0.05, 0.99 ** 5, np.ones(4))
    np.testing.assert_allclose(out, power_law_decay(w, 0.05, 0.99, steps=5), rtol=1e-12)
    np.testing.assert_array_equal(sleep_decay.pyfunc(w, 0.05, 0.5, np.zeros(4)), w)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(alpha_base=1.2, alpha_trig=1.1), "alpha_base"),
    (dict(lam=1.01), "SleepParams.lam"),
    (dict(sigma=-1 * mV), "SleepParams.sigma"),
    (dict(sleep_ratio=1.0), "SleepParams.sleep_ratio"),
    (dict(mode="nap"), "SleepParams.mode"),
    (dict(pathways=("exc_inh",)), "SleepParams.pathways"),
])
def test_invalid_sleep_params_name_the_parameter(kwargs, needle):
    with pytest.raises(ParameterError, match=needle):
        SleepParams(**kwargs)
