"""The compiled E/I network: one cpp_standalone build shared by the module, re-run
with new seeds and parameters; numpy runtime as the statistical reference."""

import numpy as np
import pytest
from brian2 import ms

from scenarios.experiments.ei import load_schedule
from spiking.network import EISimulation
from spiking.params import EINetworkParams
from spiking.sleep import SleepParams

PARAMS = EINetworkParams(t_present=100 * ms, t_rest=50 * ms)
SLEEP = SleepParams(sleep_ratio=0.0)


@pytest.fixture(scope="module")
def schedule():
    return load_schedule("digits", 60, 12, n_readout_train=12, data_seed=0)


@pytest.fixture(scope="module")
def sim(schedule, tmp_path_factory):
    build = tmp_path_factory.mktemp("ei_build")
    s = EISimulation(PARAMS, SLEEP, schedule.images, schedule.n_train,
                     backend="cpp_standalone", directory=build, progress=False, raster_inp=8)
    yield s
    s.close()


@pytest.fixture(scope="module")
def run_seed1(sim):
    return sim.run(seed=1)


def test_same_seed_gives_identical_results(sim, run_seed1):
    again = sim.run(seed=1)
    np.testing.assert_array_equal(again.counts_exc, run_seed1.counts_exc)
    np.testing.assert_array_equal(again.final_weights["exc_exc"], run_seed1.final_weights["exc_exc"])
    assert run_seed1.counts_exc.sum() > 0


def test_other_seed_changes_network_and_spikes_without_recompiling(sim, run_seed1):
    build_dir = sim.directory
    mtime = (build_dir / "main").stat().st_mtime
    other = sim.run(seed=2)
    assert (build_dir / "main").stat().st_mtime == mtime  # same binary
    assert len(other.final_weights["exc_exc"]) != len(run_seed1.final_weights["exc_exc"]) or \
        not np.array_equal(other.final_weights["exc_exc"], run_seed1.final_weights["exc_exc"])
    assert not np.array_equal(other.counts_exc, run_seed1.counts_exc)


def test_exc_exc_weight_grows_without_sleep(run_seed1):
    W = run_seed1.weights["exc_exc"]
    assert len(run_seed1.episodes) == 0
    assert W[-1] > 1.002 * W[0]
    # a trend, not a fluctuation: the second half of the trace is above the first
    half = len(W) // 2
    assert W[half:].mean() > W[:half].mean()


def test_runtime_parameters_change_the_run(sim, run_seed1):
    frozen = sim.run(seed=1, params=EINetworkParams(t_present=100 * ms, t_rest=50 * ms,
                                                     plastic=False))
    for p in ("inp_exc", "exc_exc", "inh_exc"):
        W = frozen.weights[p]
        assert W[-1] == pytest.approx(W[0], rel=1e-9)
    with_sleep = sim.run(seed=1, sleep=SleepParams(sleep_ratio=0.3, alpha_trig=1.02))
    assert len(with_sleep.episodes) > 0
    assert with_sleep.sleep_time <= 0.3 / 0.7 * with_sleep.wake_time + 1e-9


def test_run_time_schedule_reuses_the_binary(sim, schedule, run_seed1):
    """Another image order of the same shape runs on the same binary (TimedArrays via run_args);
    probe presentations that start from rest then give the same counts in the new order."""
    from spiking.network import ImageSchedule

    build_dir = sim.directory
    mtime = (build_dir / "main").stat().st_mtime
    n, n_tr = len(schedule.images), schedule.n_train
    base = ImageSchedule(images=schedule.images, order=np.arange(n), train=np.arange(n) < n_tr,
                         record=np.ones(n, bool), keys=np.arange(n), reset=np.arange(n) >= n_tr)
    perm = np.r_[np.arange(n_tr), n_tr + np.arange(n - n_tr)[::-1]]
    swapped = ImageSchedule(images=schedule.images, order=perm, train=base.train, record=base.record,
                            keys=perm, reset=base.reset)
    a = sim.run(seed=1, schedule=base)
    b = sim.run(seed=1, schedule=swapped)
    assert (build_dir / "main").stat().st_mtime == mtime
    np.testing.assert_array_equal(b.counts_exc[n_tr:][::-1], a.counts_exc[n_tr:])
    np.testing.assert_array_equal(b.counts_exc[:n_tr], a.counts_exc[:n_tr])
    assert a.counts_exc[n_tr:].sum() > 0


def test_numpy_and_standalone_agree_statistically(schedule, run_seed1):
    sim_np = EISimulation(PARAMS, SLEEP, schedule.images, schedule.n_train, backend="numpy",
                          progress=False, raster_inp=8)
    out_np = sim_np.run(seed=1)
    # the frozen input noise is the same hash in C++ and numpy: identical input spikes
    assert len(out_np.raster["inp_t"]) > 50
    np.testing.assert_array_equal(out_np.raster["inp_i"], run_seed1.raster["inp_i"])
    np.testing.assert_allclose(out_np.raster["inp_t"], run_seed1.raster["inp_t"], atol=1e-9)
    rate_np = out_np.mean_rates(0.1)
    rate_sa = run_seed1.mean_rates(0.1)
    for pop in ("exc", "inh"):
        assert rate_np[pop] > 0.5
        assert rate_np[pop] == pytest.approx(rate_sa[pop], rel=0.3), pop
    assert out_np.counts_exc.shape == run_seed1.counts_exc.shape


def test_objects_are_compiled_with_the_precompiled_header(sim, tmp_path):
    """GCC marks a precompiled header it uses with '!' in its -H trace ('x' if rejected)."""
    import shutil
    import subprocess

    from spiking.backend import PCH_HEADER, PCH_MAKEFILE

    copy = tmp_path / "build"
    shutil.copytree(sim.directory, copy, symlinks=True, ignore=shutil.ignore_patterns("results"))
    assert (copy / f"{PCH_HEADER}.gch").exists()
    obj = sorted(copy.glob("code_objects/*stateupdater*.o"))[0].relative_to(copy).as_posix()
    (copy / obj).unlink()
    done = subprocess.run(["make", "-f", "makefile", "-f", PCH_MAKEFILE, obj, "CXX=g++ -H"],
                          cwd=copy, capture_output=True, text=True, check=True)
    trace = done.stderr.splitlines()
    assert f"! ./{PCH_HEADER}.gch" in trace or f"! {PCH_HEADER}.gch" in trace, trace[:5]
    # the object was the only thing rebuilt: the header was already precompiled
    assert "-x c++-header" not in done.stdout


@pytest.mark.slow
def test_portable_mode_gives_the_same_numbers_for_any_march(schedule, monkeypatch):
    """Two builds in portable mode, for the x86-64 baseline and for this CPU (-march=native
    appended), produce bit-identical runs: the numbers do not depend on the instruction set."""
    from scenarios.bench.ei import output_digest
    from spiking.backend import EXTRA_FLAGS_ENV

    digests, keys = [], []
    for extra in ("", "-march=native"):
        monkeypatch.setenv(EXTRA_FLAGS_ENV, extra)
        with EISimulation(PARAMS, SleepParams(sleep_ratio=0.2, alpha_trig=1.02), schedule.images,
                          schedule.n_train, compile_mode="portable", progress=False) as s:
            out = s.run(seed=3)
            keys.append(s.build["cache_key"])
            assert s.build["flags"][-1] == (extra or "-std=c++11")
        assert len(out.episodes) > 0  # the sleep code ran too
        digests.append(output_digest(out))
    assert keys[0] != keys[1]  # two different programs ...
    assert digests[0] == digests[1]  # ... with the same numbers
