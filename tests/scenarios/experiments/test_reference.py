"""Tables of a reference-protocol scan and the read-out quirks scored again on saved counts."""

import numpy as np
import pytest

from scenarios.experiments.protocol import Protocol, build_schedule, protocol_readout
from scenarios.experiments.reference import (READOUT_QUIRKS, ablation_table, protocol_markdown, readout_variants,
                                             rescore_run)

SIZES = dict(n_subset=20, epochs=3, n_readout=20, test_batch=15)


def test_readout_variants_drop_one_read_out_quirk_at_a_time():
    assert set(READOUT_QUIRKS) == {"qda_readout", "last_test_batch", "merged_bins"}
    v = readout_variants(Protocol.reference())
    assert list(v) == ["as run", "without qda_readout", "without last_test_batch", "without merged_bins",
                       "project read-out"]
    assert v["project read-out"].quirks == Protocol.reference().quirks - set(READOUT_QUIRKS)
    assert list(readout_variants(Protocol(quirks="a+c"))) == ["as run", "without qda_readout"]
    assert list(readout_variants(Protocol())) == ["as run"]


def test_rescore_run_reproduces_the_saved_read_out():
    prot = Protocol.reference(**SIZES)
    ps = build_schedule(prot, "digits", 60, 40, size=8, seed=1)
    rec = ps.schedule.recorded
    rng = np.random.default_rng(0)
    labels = np.asarray(ps.labels)[rec]
    counts = rng.poisson(2.0, (len(rec), 30)).astype(float)
    counts[:, :10] += 4.0 * (np.arange(10) == labels[:, None])
    row_of = {p: k for k, p in enumerate(rec)}
    arrays = {"counts_exc": counts[:, :20], "counts_inh": counts[:, 20:], "labels": labels,
              "readout_train_rows": np.array([row_of[p] for p in ps.readout_train]),
              "test_rows": np.array([row_of[p] for p in ps.test])}
    meta = {"protocol": prot.to_dict(), "seed": 1, "readout": {"method": "pca_qda"}}
    scores = rescore_run(meta, arrays)
    for label, p in readout_variants(prot).items():
        assert scores[label]["accuracy"] == protocol_readout(counts, ps, p, seed=1).accuracy, label
    assert scores["without last_test_batch"]["n_rows"][1] > scores["as run"]["n_rows"][1]
    with pytest.raises(ValueError, match="counts"):
        rescore_run(meta, {"labels": labels})


def _rows():
    acc = {(0.0, 0): 0.50, (0.0, 1): 0.52, (0.1, 0): 0.60, (0.1, 1): 0.64, (0.2, 0): 0.40, (0.2, 1): 0.41}
    return [{"arm": "sleep", "ratio": r, "seed": s, "accuracy": a, "achieved_ratio": 0.9 * r}
            for (r, s), a in acc.items()]


def test_gain_is_paired_by_seed_closed_form():
    (t,) = ablation_table([{**r, "quirks": "reference"} for r in _rows()], 0.1)
    assert t["gain"][0] == pytest.approx(0.11) and t["gain"][1] == pytest.approx(np.std([0.10, 0.12], ddof=1))
    assert t["acc0"][0] == pytest.approx(0.51) and t["n"] == 2 and t["significant"]
    assert t["achieved"] == pytest.approx(0.09)


def test_protocol_markdown_puts_the_paper_beside_the_curve():
    md = "\n".join(protocol_markdown(_rows(), "fashion"))
    assert "| reference | 0 | 0.000 | 51.0 ± 1.4 | 2 | 53.8 |" in md
    assert "| reference | 0.1 | 0.090 | 62.0 ± 2.8 | 2 | 62.0 |" in md
    assert "| reference | 0.1 | 51.0 ± 1.4 | 62.0 ± 2.8 | 11.0 ± 1.4 | 2 | 0.090 | yes |" in md
    assert "| reference | 0.2 | 51.0 ± 1.4 | 40.5 ± 0.7 | -10.5 ± 0.7 | 2 | 0.180 | yes |" in md
    assert "paper" in md and "53.8" not in "\n".join(protocol_markdown(_rows(), "digits"))
