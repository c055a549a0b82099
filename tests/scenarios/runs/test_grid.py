"""The grid runner's points, keys and shared standalone builds (scenarios.runs.grid)."""

import os

from scenarios.runs.grid import (COMPILED_MARK, build_lock, grid_points, point_key, remove_stale_temporaries,
                                 seed_build_dir)


def test_grid_points_and_keys():
    pts = grid_points([0.0, 0.1], [3, 4], {"sigma": [1.0, 2.0]})
    assert len(pts) == 2 * 2 * 2 + 2  # + one plasticity-off baseline per seed
    keys = {point_key(p) for p in pts}
    assert len(keys) == len(pts)
    assert "ratio=0.1__seed=3__sigma=2" in keys
    assert "frozen__ratio=0__seed=4" in keys


def test_seed_build_dir_copies_only_a_finished_build(tmp_path):
    root = tmp_path / "build"
    unfinished = root / "abc-1"
    (unfinished / "code_objects").mkdir(parents=True)
    (unfinished / "main").write_text("partial")
    assert seed_build_dir(root, "abc", root / "abc-9") is None
    assert not (root / "abc-9").exists()

    done = root / "abc-2"
    (done / "code_objects").mkdir(parents=True)
    (done / "results").mkdir()
    (done / "results" / "x").write_text("old run")
    obj = done / "code_objects" / "a.o"
    obj.write_text("object")
    os.utime(obj, (1_000_000, 1_000_000))
    (done / COMPILED_MARK).touch()
    (root / "other-3").mkdir()
    (root / "other-3" / COMPILED_MARK).touch()

    new = root / "abc-9"
    with build_lock(root / "abc.lock"):
        assert seed_build_dir(root, "abc", new) == done
    assert (new / "code_objects" / "a.o").read_text() == "object"
    # modification times are kept, so make sees the objects as up to date
    assert (new / "code_objects" / "a.o").stat().st_mtime == 1_000_000
    assert not (new / "results").exists()
    assert not (new / COMPILED_MARK).exists()
    # an existing directory is never overwritten
    assert seed_build_dir(root, "abc", new) is None


def test_stale_temporaries_of_finished_points_are_removed(tmp_path):
    finished, running = {"arm": "sleep", "ratio": 0.0, "seed": 0}, {"arm": "sleep", "ratio": 0.0, "seed": 1}
    for p in (finished, running):
        d = tmp_path / "runs" / point_key(p)
        d.mkdir(parents=True)
        (d / ".arrays.npz.abc123.tmp").write_text("half written by a killed worker")
    (tmp_path / "runs" / point_key(finished) / "result.json").write_text("{}")
    removed = remove_stale_temporaries(tmp_path, [finished, running])
    assert [r.name for r in removed] == [".arrays.npz.abc123.tmp"]
    assert not list((tmp_path / "runs" / point_key(finished)).glob("*.tmp"))
    # a point without result.json may still be written by a live worker: left alone
    assert list((tmp_path / "runs" / point_key(running)).glob(".*.tmp"))
