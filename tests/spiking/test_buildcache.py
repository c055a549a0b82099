"""The shared cache of compiled networks (spiking.buildcache; issue 15, item 12)."""

import os
import subprocess
import sys

import pytest

from spiking import buildcache


def _project(path, main="int main() {}\n", data=b"images", clocks=("a", "b")):
    """A fake generated project: code, a makefile, and data in static_arrays/."""
    (path / "code_objects").mkdir(parents=True)
    (path / "static_arrays").mkdir()
    (path / "code_objects" / "x.cpp").write_text("void x() {}\n")
    (path / "makefile").write_text("CXXFLAGS = -O3\n")
    resets = "".join(f"        _array_{c}_clock_timestep[0] = 0;\n        _array_{c}_clock_t[0] = 0.0;\n"
                     for c in clocks)
    (path / "main.cpp").write_text(main + resets + "        run();\n")
    (path / "static_arrays" / "_static_array_images").write_bytes(data)
    return path


def _compile(calls):
    def compile(directory):
        calls.append(directory)
        assert not (directory / "static_arrays").exists()  # the program does not depend on the data
        (directory / "main").write_bytes(b"\x7fELF" + b"0" * 1000)
        (directory / "x.o").write_bytes(b"object" * 1000)
    return compile


def test_one_build_per_code_shared_by_runs_with_other_data(tmp_path):
    root, calls = tmp_path / "cache", []
    a = buildcache.compiled(_project(tmp_path / "a"), _compile(calls), root=root, info={"compile_mode": "x"})
    # other data, and Brian2's clock resets in another order: the same program
    b = buildcache.compiled(_project(tmp_path / "b", data=b"other images", clocks=("b", "a")), _compile(calls),
                            root=root)
    assert (a.hit, b.hit) == (False, True) and a.key == b.key and len(calls) == 1
    assert a.program.exists() and not (a.path / "x.o").exists()  # objects dropped once linked
    c = buildcache.compiled(_project(tmp_path / "c", main="int main() { return 1; }\n"), _compile(calls),
                            root=root)
    assert not c.hit and c.key != a.key and len(calls) == 2
    assert buildcache.project_key(tmp_path / "a", {"flags": ["-O3"]}) != a.key  # flags are part of the key
    for entry in (a, b, c):
        entry.release()


def test_the_cache_stays_within_its_bound_and_never_removes_what_is_in_use(tmp_path):
    root, calls = tmp_path / "cache", []
    held = buildcache.compiled(_project(tmp_path / "p0", main="int main() {return 0;}"), _compile(calls),
                               root=root)
    others = []
    for k in range(1, 4):
        e = buildcache.compiled(_project(tmp_path / f"p{k}", main=f"int main() {{return {k};}}"),
                                _compile(calls), root=root)
        e.release()
        others.append(e.key)
    for age, key in enumerate([held.key] + others):  # least recently used first
        os.utime(root / key / buildcache.COMPLETE, (1e9 + age, 1e9 + age))
    one = min(e["bytes"] for e in buildcache.entries(root))
    removed = buildcache.prune(root, limit=int(2.5 * one))
    left = {e["key"] for e in buildcache.entries(root)}
    assert held.key in left  # the oldest, but in use
    assert len(left) == 2 and set(removed) == set(others[:2])
    held.release()
    removed, freed = buildcache.clean(root)
    assert not buildcache.entries(root) and freed > 1.5 * one


def test_sleep_snn_clean_lists_and_empties_the_cache(tmp_path):
    root = tmp_path / "cache"
    buildcache.compiled(_project(tmp_path / "p"), _compile([]), root=root).release()
    old = tmp_path / "results" / "ei" / "build"
    old.mkdir(parents=True)
    (old / "main").write_bytes(b"0" * 5000)
    env = dict(os.environ, SLEEP_SNN_CACHE=str(root))
    run = lambda *a: subprocess.run([sys.executable, "-m", "scenarios.cli", "clean", *a], capture_output=True,
                                    text=True, env=env, timeout=120)  # noqa: E731
    listed = run("--list")
    assert listed.returncode == 0 and f"build cache {root}: 1 networks" in listed.stdout
    out = run(str(tmp_path / "results"), str(tmp_path / "results" / "ei"))
    assert out.returncode == 0, out.stderr
    assert "removed 1 cached networks" in out.stdout and "and 1 build folders" in out.stdout
    assert not buildcache.entries(root) and not old.exists()


def test_size_settings():
    assert buildcache.parse_size("2G") == 2 * 1024 ** 3 and buildcache.parse_size("500M") == 500 * 1024 ** 2
    assert buildcache.parse_size("1234") == 1234
    with pytest.raises(ValueError, match="not a size"):
        buildcache.parse_size("lots")


def test_only_leftovers_of_dead_processes_of_this_host_are_removed(tmp_path):
    # a cache shared by the nodes of a cluster: another host's pids mean nothing here
    root = tmp_path / "cache"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    mine, other = buildcache._HOST, "some-other-node"
    paths = {name: root / "work" / name for name in (f"{dead}-0a1b2c3d-{mine}", f"{dead}-0a1b2c3d-{other}",
                                                   f"{os.getpid()}-0a1b2c3d-{mine}")}
    paths[".k.tmp-mine"] = root / f".k.tmp-{mine}-{dead}"
    paths[".k.tmp-other"] = root / f".k.tmp-{other}-{dead}"
    for p in paths.values():
        p.mkdir(parents=True)
    assert buildcache.work_dir(root).name.endswith(f"-{mine}")
    assert sorted(p.name for p in buildcache._stale(root)) == sorted(
        [f"{dead}-0a1b2c3d-{mine}", f".k.tmp-{mine}-{dead}"])
