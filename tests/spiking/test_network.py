"""Closed-form checks of the neuron and plasticity models (numpy runtime)."""

import math

import brian2
import numpy as np
import pytest
from brian2 import Hz, Network, SpikeGeneratorGroup, SpikeMonitor, Synapses, mV, ms, second

from spiking.backend import BackendError, check_backend, use_backend
from spiking.network import _istdp_synapses, _stdp_synapses, flag_group, lif_group
from spiking.params import (
    EINetworkParams,
    ISTDPParams,
    LIFParams,
    ParameterError,
    STDPParams,
)


def lif_rate(lif: LIFParams, drive) -> float:
    """Analytic firing rate of a LIF neuron under a constant drive (v_inf = v_rest + drive)."""
    v_inf = lif.v_rest + drive
    if v_inf <= lif.v_thresh:
        return 0.0
    isi = lif.t_ref + lif.tau_m * math.log(float((v_inf - lif.v_reset) / (v_inf - lif.v_thresh)))
    return float(1 / isi / Hz)


def test_lif_f_i_curve_matches_analytic_rate():
    lif = LIFParams(adapt_increment=0 * mV)
    drives = np.array([10.0, 16.0, 20.0, 30.0, 45.0]) * mV
    with use_backend("numpy"):
        brian2.defaultclock.dt = 0.02 * ms
        flags = flag_group()
        g = lif_group(len(drives), lif, "lif", flags)
        g.I_ext = drives
        mon = SpikeMonitor(g)
        Network(flags, g, mon).run(1 * second)
        trains = mon.spike_trains()
    for k, drive in enumerate(drives):
        expected = lif_rate(lif, drive)
        times = np.asarray(trains[k] / second)
        if expected == 0:
            assert len(times) == 0
            continue
        measured = 1.0 / np.mean(np.diff(times))
        assert measured == pytest.approx(expected, rel=0.01), (drive, measured, expected)


def _pair_run(make_syn, t_pre, t_post, lif=None):
    """One pre spike at ``t_pre`` and a post spike forced at ``t_post`` (ms); returns
    (initial w, final w, actual post spike time in s)."""
    lif = lif or LIFParams(adapt_increment=0 * mV)
    with use_backend("numpy"):
        brian2.defaultclock.dt = 0.1 * ms
        flags = flag_group()
        post = lif_group(1, lif, "post", flags, exc_extra=True)
        pre = SpikeGeneratorGroup(1, [0], [t_pre] * ms, name="pre")
        # the driver fires one step before the wanted post spike
        drv = SpikeGeneratorGroup(1, [0], [t_post - 0.1] * ms, name="drv")
        kick = Synapses(drv, post, on_pre="v_post += 100*mV", name="kick")
        kick.connect()
        syn = make_syn(pre, post)
        syn.w = 0.5
        mon = SpikeMonitor(post)
        pre_mon = SpikeMonitor(pre)
        Network(flags, post, pre, drv, kick, syn, mon, pre_mon).run((max(t_pre, t_post) + 5) * ms)
        post_times = np.asarray(mon.t / second)
        return 0.5, float(syn.w[0]), post_times, float(pre_mon.t[0] / second), float(post.W_inp_exc[0] + post.W_inh_exc[0])


@pytest.mark.parametrize("delta", [2.0, 10.0, -3.0, -12.0])
def test_stdp_pair_update_matches_closed_form(delta):
    stdp = STDPParams(eta_plus=0.02, eta_minus=0.03, tau_plus=15 * ms, tau_minus=25 * ms)
    params = EINetworkParams(stdp=stdp)
    t_pre = 20.0
    w0, w1, post_t, pre_t, _ = _pair_run(
        lambda a, b: _stdp_synapses(a, b, params, "inp_exc", 0.1 * mV), t_pre, t_pre + delta)
    assert len(post_t) == 1
    dt_pair = post_t[0] - pre_t  # actual post - pre (s)
    if dt_pair > 0:
        expected = stdp.eta_plus * math.exp(-dt_pair / float(stdp.tau_plus / second))
    else:
        expected = -stdp.eta_minus * math.exp(dt_pair / float(stdp.tau_minus / second))
    assert w1 - w0 == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_stdp_keeps_weights_in_bounds_and_running_sum_in_step():
    stdp = STDPParams(eta_plus=0.9, eta_minus=0.9)
    params = EINetworkParams(stdp=stdp)
    # potentiation larger than the room to w_max: clipped at w_max
    w0, w1, _, _, wsum = _pair_run(lambda a, b: _stdp_synapses(a, b, params, "inp_exc", 0.1 * mV),
                                   10.0, 11.0)
    assert w1 == pytest.approx(stdp.w_max)
    # the running weight sum (started at 0 here) follows the clipped change
    assert wsum == pytest.approx(w1 - w0)
    # depression larger than the weight: clipped at 0, never negative
    w0, w1, _, _, wsum = _pair_run(lambda a, b: _stdp_synapses(a, b, params, "inp_exc", 0.1 * mV),
                                   11.0, 10.0)
    assert w1 == 0.0
    assert wsum == pytest.approx(-w0)


@pytest.mark.parametrize("delta", [4.0, -6.0])
def test_istdp_pair_update_matches_closed_form(delta):
    istdp = ISTDPParams(eta=0.01, target_rate=3 * Hz, tau=20 * ms)
    params = EINetworkParams(istdp=istdp)
    t_pre = 20.0
    w0, w1, post_t, pre_t, _ = _pair_run(
        lambda a, b: _istdp_synapses(a, b, params, "inh_exc", 0.1 * mV), t_pre, t_pre + delta)
    lag = abs(post_t[0] - pre_t)
    # every pre spike depresses by eta*alpha; the pair potentiates by eta*exp(-|lag|/tau)
    expected = istdp.eta * (math.exp(-lag / float(istdp.tau / second)) - istdp.alpha)
    assert w1 - w0 == pytest.approx(expected, rel=1e-9)
    assert istdp.alpha == pytest.approx(2 * 3 * 0.020)


@pytest.mark.parametrize("field,value,needle", [
    ("tau_m", -5 * ms, "LIFParams.tau_m"),
    ("t_ref", -1 * ms, "LIFParams.t_ref"),
    ("tau_e", 5 * mV, "LIFParams.tau_e"),
])
def test_lif_params_validation_names_field(field, value, needle):
    with pytest.raises(ParameterError, match=needle):
        LIFParams(**{field: value})


@pytest.mark.parametrize("field,value", [
    ("p_exc_exc", 1.5), ("p_inp_exc", -0.1), ("n_exc", 0), ("dt", -1 * ms), ("t_present", 0.5 * ms),
])
def test_network_params_validation(field, value):
    with pytest.raises(ParameterError, match=f"EINetworkParams.{field}"):
        EINetworkParams(**{field: value, **({"dt": 1 * ms} if field == "t_present" else {})})


def test_probability_error_states_range():
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        EINetworkParams(p_exc_inh=2.0)


def test_stdp_params_validation():
    with pytest.raises(ParameterError, match="STDPParams.eta_plus"):
        STDPParams(eta_plus=-0.1)
    with pytest.raises(ParameterError, match="ISTDPParams.tau"):
        ISTDPParams(tau=0 * ms)


def test_unknown_backend_lists_allowed():
    with pytest.raises(BackendError, match="cpp_standalone.*numpy.*cython.*cuda_standalone"):
        check_backend("gpu")


def test_cuda_backend_without_brian2cuda_is_a_clear_error():
    try:
        import brian2cuda  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match=r"brian2cuda 1.0a7 requires brian2 == 2.8.0.*Python >= 3.12"):
            check_backend("cuda_standalone")
    else:  # pragma: no cover
        assert check_backend("cuda_standalone") == "cuda_standalone"
