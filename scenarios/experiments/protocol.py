"""The evaluation protocol of an E/I run, with the reference code's differences as switches.

The sleep-based homeostatic-regularisation paper (arXiv 2601.08447) reports
its sleep gain with its authors' code, whose protocol differs from this
project's in several ways (``docs/ALGORITHMS.md`` §2 says where each was read
in their code). Each difference is one *quirk*, a switch that changes only
what it names:

==================  ===  ==============================================================
quirk               id   what it changes
==================  ===  ==============================================================
fixed_subset        a    training shows the first ``n_subset`` (300) training images
                         ``epochs`` (20) times instead of ``n_train`` distinct images once
plastic_readout     b    read-out training features are the last ``n_readout``
                         training presentations (plasticity and sleep on) instead of
                         a frozen re-presentation of the same images
qda_readout         c    read-out = standardise -> PCA (95 %, whitened) -> QDA
                         (``reg_param`` 0.1), fitted on a random 80 % of the
                         read-out rows, instead of standardise -> logistic regression
last_test_batch     d    only the last ``test_batch`` (200) test images are scored
reference_timing    e    100 ms per image without rest; sleep on a schedule: every
                         35 s of wake for ratio x 35 s, at most 10 s, lambda 0.99997
mixed_split         f    the official train and test files are pooled and shuffled
                         (per network seed), then split into training and test images
anti_hebbian        g    the reference pair rule (inverted window, nearest spikes;
                         :data:`spiking.params.STDP_RULES`)
sleep_only_bounds   g    the upper weight bound applies only in runs that sleep;
                         without sleep excitatory and inhibitory weights are unbounded
sticky_sleep        g    sticky sleep spikes: a neuron that spikes asleep fires on
                         every step until the episode ends
merged_bins         g    consecutive read-out images of the same class are merged into
                         one sample (their mean rates)
decay_all           g    sleep counts and decays every plastic pathway (I->E too)
==================  ===  ==============================================================

A :class:`Protocol` is a set of quirks plus the sizes they use. It acts in
four places, each a small function: the images and their order
(:func:`build_schedule`), the network parameters and the sleep parameters of
a run with a given sleep ratio (:meth:`Protocol.network_params`,
:meth:`Protocol.sleep_params`) and the read-out (:func:`protocol_readout`).
``Protocol.reference()`` turns every quirk on; :func:`quirk_set` parses the
names a scan uses as a grid axis (``none``, ``reference``, ``a+b``,
``reference-a``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

__all__ = ["QUIRKS", "QUIRK_STAGES", "Protocol", "ProtocolSchedule", "quirk_set", "quirk_label",
           "build_schedule", "merge_same_label_runs", "protocol_readout", "readout_on_rows", "ablation_sets"]

#: Every quirk and what it does (one line each).
QUIRKS = {
    "fixed_subset": "a fixed subset of n_subset training images is shown again every epoch, for epochs epochs",
    "plastic_readout": "read-out training features recorded while plasticity and sleep are still on",
    "qda_readout": "read-out: standardise -> PCA (95 %, whitened) -> QDA (reg 0.1) on a random 80 % of the rows",
    "last_test_batch": "only the last test batch (test_batch images) is scored",
    "reference_timing": "100 ms per image without rest; sleep every 35 s of wake for ratio x 35 s (<= 10 s), "
                        "lambda 0.99997",
    "mixed_split": "official train and test files pooled and shuffled per network seed, then split",
    "anti_hebbian": "the reference pair rule: inverted window (post-before-pre potentiates), nearest spikes",
    "sleep_only_bounds": "upper weight bounds only in runs that sleep; no upper bound without sleep",
    "sticky_sleep": "sticky sleep spikes: a neuron that spiked asleep fires on every step until waking",
    "merged_bins": "consecutive read-out images of the same class merged into one sample",
    "decay_all": "sleep counts and decays every plastic pathway, inhibitory->E included",
}
#: The issue's letter of each quirk (g: other differences found in the code).
QUIRK_LETTERS = {"fixed_subset": "a", "plastic_readout": "b", "qda_readout": "c", "last_test_batch": "d",
                 "reference_timing": "e", "mixed_split": "f", "anti_hebbian": "g1",
                 "sleep_only_bounds": "g2", "sticky_sleep": "g3", "merged_bins": "g4", "decay_all": "g5"}
#: Where each quirk acts: ``schedule`` (images and order), ``network``
#: (EINetworkParams), ``sleep`` (SleepParams), ``readout``.
QUIRK_STAGES = {
    "fixed_subset": {"schedule"},
    "plastic_readout": {"schedule"},
    "qda_readout": {"readout"},
    "last_test_batch": {"readout"},
    "reference_timing": {"network", "sleep"},
    "mixed_split": {"schedule"},
    "anti_hebbian": {"network"},
    "sleep_only_bounds": {"network"},
    "sticky_sleep": {"sleep"},
    "merged_bins": {"readout"},
    "decay_all": {"sleep"},
}

#: Weight bound that stands for "no upper bound" (weights are dimensionless, start below 0.5).
UNBOUNDED = 1e6


class ProtocolError(ValueError):
    """An unknown quirk or an invalid protocol setting."""


def quirk_set(spec) -> frozenset:
    """The quirks named by ``spec``.

    Parameters
    ----------
    spec : str or iterable of str
        ``"none"`` (or ``""``), ``"reference"`` (all), names joined by ``+``
        (``"fixed_subset+qda_readout"``), or ``"reference-NAME"`` (all but
        NAME; several with ``-``). Letters (``a``, ``b``, ..., ``g1``) are
        accepted for names.

    Returns
    -------
    frozenset of str

    Raises
    ------
    ProtocolError
        An unknown name (the message lists the known ones).
    """
    by_letter = {v: k for k, v in QUIRK_LETTERS.items()}

    def name(q):
        q = q.strip()
        q = by_letter.get(q, q)
        if q not in QUIRKS:
            raise ProtocolError(f"unknown quirk {q!r}; known: {', '.join(QUIRKS)}")
        return q

    if not isinstance(spec, str):
        return frozenset(name(q) for q in spec)
    spec = spec.strip()
    if spec in ("", "none", "project"):
        return frozenset()
    if spec == "reference" or spec.startswith("reference-"):
        drop = [name(q) for q in spec.split("-")[1:]]
        return frozenset(QUIRKS) - set(drop)
    return frozenset(name(q) for q in spec.split("+"))


def quirk_label(quirks) -> str:
    """The shortest spec of a quirk set for :func:`quirk_set` (and a scan's point key)."""
    quirks = frozenset(quirks)
    if not quirks:
        return "none"
    if quirks == frozenset(QUIRKS):
        return "reference"
    missing = [q for q in QUIRKS if q not in quirks]
    if len(missing) < len(quirks) and len(missing) <= 2:
        return "reference-" + "-".join(missing)
    return "+".join(q for q in QUIRKS if q in quirks)


def ablation_sets(kind: str = "both") -> list[str]:
    """Quirk-set specs of an ablation: ``none``, ``reference``, each quirk alone, all but one.

    Parameters
    ----------
    kind : {"alone", "all_but_one", "both"}
    """
    alone = list(QUIRKS) if kind in ("alone", "both") else []
    but = [f"reference-{q}" for q in QUIRKS] if kind in ("all_but_one", "both") else []
    return ["none", "reference", *alone, *but]


@dataclass(frozen=True)
class Protocol:
    """A set of quirks and the sizes they use.

    Attributes
    ----------
    quirks : frozenset of str
        Names from :data:`QUIRKS`.
    n_subset : int
        ``fixed_subset``: training images re-shown every epoch (>= 1). Default 300.
    epochs : int
        ``fixed_subset``: epochs over the subset (>= 1). Default 20.
    n_readout : int
        Read-out training images (>= 2): the last ``n_readout`` training
        presentations, recorded plastic (``plastic_readout``) or re-presented
        frozen. Default 300 (the reference code fits on its last training batch).
    test_batch : int
        ``last_test_batch``: test images scored (>= 1). Default 200.
    readout_fraction : float
        ``qda_readout``: fraction of the read-out rows the classifier is fitted
        on (0 < f <= 1, the rest is the reference code's unused validation
        part). Default 0.8.
    qda_reg : float
        ``qda_readout``: QDA regularisation (0 .. 1). Default 0.1 (the
        reference code's), which also keeps QDA defined on collinear features.
    interval : float
        ``reference_timing``: wake time between episodes (s, > 0). Default 35.
    max_sleep : float
        ``reference_timing``: longest episode (s, > 0). Default 10.
    lam : float
        ``reference_timing``: decay exponent per step. Default 0.99997.
    t_present : float
        ``reference_timing``: presentation time (ms), with no rest. Default 100.
    """

    quirks: frozenset = field(default_factory=frozenset)
    n_subset: int = 300
    epochs: int = 20
    n_readout: int = 300
    test_batch: int = 200
    readout_fraction: float = 0.8
    qda_reg: float = 0.1
    interval: float = 35.0
    max_sleep: float = 10.0
    lam: float = 0.99997
    t_present: float = 100.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "quirks", quirk_set(self.quirks))
        for name, lo in (("n_subset", 1), ("epochs", 1), ("n_readout", 2), ("test_batch", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ProtocolError(f"Protocol.{name}={v!r} must be an integer >= {lo}")
        if not 0 < self.readout_fraction <= 1:
            raise ProtocolError(f"Protocol.readout_fraction={self.readout_fraction!r} must lie in (0, 1]")
        if not 0 <= self.qda_reg <= 1:
            raise ProtocolError(f"Protocol.qda_reg={self.qda_reg!r} must lie in [0, 1]")
        for name in ("interval", "max_sleep", "t_present"):
            if not getattr(self, name) > 0:
                raise ProtocolError(f"Protocol.{name}={getattr(self, name)!r} must be > 0")
        if not 0 < self.lam <= 1:
            raise ProtocolError(f"Protocol.lam={self.lam!r} must lie in (0, 1]")

    @classmethod
    def reference(cls, **kw) -> "Protocol":
        """Every quirk on: the reference code's protocol."""
        return cls(quirks=frozenset(QUIRKS), **kw)

    def with_quirks(self, quirks) -> "Protocol":
        """The same sizes with another quirk set (a spec or names)."""
        return dataclasses.replace(self, quirks=quirk_set(quirks))

    def on(self, quirk: str) -> bool:
        if quirk not in QUIRKS:
            raise ProtocolError(f"unknown quirk {quirk!r}; known: {', '.join(QUIRKS)}")
        return quirk in self.quirks

    @property
    def label(self) -> str:
        return quirk_label(self.quirks)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["quirks"] = sorted(self.quirks)
        return d

    # --- network and sleep parameters of one run -------------------------------
    def network_params(self, params, ratio: float):
        """``params`` with this protocol's network quirks, for a run with sleep ratio ``ratio``."""
        from brian2 import ms

        kw = {}
        if self.on("reference_timing"):
            kw.update(t_present=self.t_present * ms, t_rest=0 * ms)
        stdp, istdp = params.stdp, params.istdp
        if self.on("anti_hebbian"):
            stdp = dataclasses.replace(stdp, rule="anti_nearest")
        if self.on("sleep_only_bounds") and ratio <= 0:
            stdp = dataclasses.replace(stdp, w_max=UNBOUNDED)
            istdp = dataclasses.replace(istdp, w_max=UNBOUNDED)
        if stdp is not params.stdp:
            kw["stdp"] = stdp
        if istdp is not params.istdp:
            kw["istdp"] = istdp
        return dataclasses.replace(params, **kw) if kw else params

    def sleep_params(self, sleep, ratio: float):
        """``sleep`` with this protocol's sleep quirks and the sleep ratio ``ratio``."""
        from brian2 import second

        kw = {"sleep_ratio": float(ratio)}
        if self.on("reference_timing"):
            episode = min(self.max_sleep, ratio * self.interval) if ratio > 0 else self.max_sleep
            kw.update(mode="schedule", interval=self.interval * second, max_sleep=episode * second,
                      lam=self.lam, fill_budget=False)
        if self.on("sticky_sleep"):
            kw["sticky_spikes"] = True
        if self.on("decay_all"):
            kw["pathways"] = ("inp_exc", "exc_exc", "inh_exc")
        return dataclasses.replace(sleep, **kw)


@dataclass
class ProtocolSchedule:
    """The images of one protocol run and where its read-out rows are.

    Attributes
    ----------
    schedule : spiking.network.ImageSchedule
    labels : ndarray
        Label of each presentation.
    readout_train, test : ndarray of int
        Presentation indices of the read-out training rows and the test rows
        (all recorded; ``test`` is every test image, the protocol's read-out
        may score a part).
    dataset : str
    size : int
    n_train, n_test : int
        Distinct training images drawn and test images.
    """

    schedule: object
    labels: np.ndarray
    readout_train: np.ndarray
    test: np.ndarray
    dataset: str
    size: int
    n_train: int
    n_test: int

    @property
    def n_training_presentations(self) -> int:
        return self.schedule.n_train


def _pooled_split(dataset, n_train, n_test, size, data_dir, seed):
    """Training and test images drawn from the pooled official files (``mixed_split``)."""
    from spiking.data import load_dataset

    tr = load_dataset(dataset, "train", size=size, data_dir=data_dir)
    te = load_dataset(dataset, "test", size=size, data_dir=data_dir)
    x = np.concatenate([tr.flat(), te.flat()])
    y = np.concatenate([tr.labels, te.labels])
    if n_train + n_test > len(y):
        raise ProtocolError(f"n_train + n_test = {n_train + n_test} exceeds the {len(y)} images of {dataset!r}")
    perm = np.random.default_rng(seed).permutation(len(y))
    i_tr, i_te = perm[:n_train], perm[n_train:n_train + n_test]
    return x[i_tr], y[i_tr], x[i_te], y[i_te]


def build_schedule(protocol: Protocol, dataset: str, n_train: int, n_test: int, *, size: int = 15,
                   data_dir=None, data_seed: int = 0, seed: int = 0) -> ProtocolSchedule:
    """The images and their order for one run of ``protocol``.

    Training presentations come first (plasticity on, sleep possible): the
    ``n_train`` training images once, or (``fixed_subset``) the first
    ``n_subset`` of them ``epochs`` times. The read-out training rows are the
    last ``n_readout`` training presentations (``plastic_readout``) or a
    frozen re-presentation of the same images after training. The test images
    follow, frozen. Every frozen presentation starts from rest and has a key
    that depends only on the image, so frozen features are a function of the
    weights and the image. Training presentations get fresh noise keys.

    Parameters
    ----------
    protocol : Protocol
    dataset, size, data_dir
        As :func:`spiking.data.load_dataset`.
    n_train, n_test : int
        Distinct training images drawn (with ``fixed_subset`` only the first
        ``n_subset`` are shown) and test images.
    data_seed : int
        Seed of the image draw.
    seed : int
        Network seed; ``mixed_split`` reshuffles the pooled files per network
        seed, as the reference code does.

    Returns
    -------
    ProtocolSchedule
    """
    from spiking.data import load_dataset
    from spiking.network import ImageSchedule

    if n_train < 1 or n_test < 1:
        raise ProtocolError(f"n_train={n_train} and n_test={n_test} must be >= 1")
    if protocol.on("mixed_split"):
        x_tr, y_tr, x_te, y_te = _pooled_split(dataset, n_train, n_test, size, data_dir,
                                               seed=[int(data_seed), int(seed)])
    else:
        tr = load_dataset(dataset, "train", size=size, n=n_train, seed=data_seed, data_dir=data_dir)
        te = load_dataset(dataset, "test", size=size, n=n_test, seed=data_seed, data_dir=data_dir)
        x_tr, y_tr, x_te, y_te = tr.flat(), tr.labels, te.flat(), te.labels
    if protocol.on("fixed_subset"):
        if protocol.n_subset > n_train:
            raise ProtocolError(f"Protocol.n_subset={protocol.n_subset} exceeds n_train={n_train}")
        train_rows = np.tile(np.arange(protocol.n_subset), protocol.epochs)
    else:
        train_rows = np.arange(n_train)
    n_pres_train = len(train_rows)
    if protocol.n_readout > n_pres_train:
        raise ProtocolError(f"Protocol.n_readout={protocol.n_readout} exceeds the {n_pres_train} training "
                            "presentations")
    # image table: the training images, then the test images
    images = np.concatenate([x_tr, x_te]).astype(float)
    labels_table = np.concatenate([y_tr, y_te])
    test_rows = len(x_tr) + np.arange(len(x_te))
    readout_rows = train_rows[-protocol.n_readout:]
    big = 10 ** 12  # frozen keys live above every training key
    if protocol.on("plastic_readout"):
        order = np.r_[train_rows, test_rows]
        train = np.r_[np.ones(n_pres_train, bool), np.zeros(len(test_rows), bool)]
        keys = np.r_[np.arange(n_pres_train), big + test_rows]
        readout_train = np.arange(n_pres_train - protocol.n_readout, n_pres_train)
        test = n_pres_train + np.arange(len(test_rows))
    else:
        order = np.r_[train_rows, readout_rows, test_rows]
        train = np.r_[np.ones(n_pres_train, bool), np.zeros(len(readout_rows) + len(test_rows), bool)]
        keys = np.r_[np.arange(n_pres_train), big + readout_rows, big + test_rows]
        readout_train = n_pres_train + np.arange(len(readout_rows))
        test = n_pres_train + len(readout_rows) + np.arange(len(test_rows))
    # record only what the read-out uses (training presentations otherwise cost memory)
    record = np.zeros(len(order), bool)
    record[readout_train] = True
    record[test] = True
    schedule = ImageSchedule(images=images, order=order, train=train, record=record, keys=keys,
                             reset=~train)
    return ProtocolSchedule(schedule=schedule, labels=labels_table[order], readout_train=readout_train,
                            test=test, dataset=dataset, size=size, n_train=n_train, n_test=n_test)


def merge_same_label_runs(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive rows with the same label into one row (their mean).

    This is how the reference code bins spikes into read-out samples: it cuts
    the spike train where the label changes, so consecutive images of one
    class become one sample.

    Parameters
    ----------
    features : ndarray, shape (n, n_features)
    labels : ndarray, shape (n,)

    Returns
    -------
    merged_features : ndarray, shape (n_runs, n_features)
    merged_labels : ndarray, shape (n_runs,)
    """
    features = np.asarray(features, dtype=float)
    labels = np.asarray(labels)
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise ProtocolError(f"features {features.shape} and labels {labels.shape} do not match")
    if len(labels) == 0:
        return features.copy(), labels.copy()
    starts = np.r_[0, np.flatnonzero(labels[1:] != labels[:-1]) + 1]
    sums = np.add.reduceat(features, starts, axis=0)
    lengths = np.diff(np.r_[starts, len(labels)])
    return sums / lengths[:, None], labels[starts]


def protocol_readout(counts: np.ndarray, ps: ProtocolSchedule, protocol: Protocol, *,
                     method: str = "logreg", seed: int = 0):
    """Fit and score the read-out of one run as ``protocol`` says.

    Parameters
    ----------
    counts : ndarray, shape (n_recorded, n_neurons)
        Per-presentation spike counts of the recorded presentations (E and I
        side by side), in the order of ``ps.schedule.recorded``.
    ps : ProtocolSchedule
    protocol : Protocol
    method : str
        Read-out of the project protocol (``qda_readout`` overrides it).
    seed : int
        Seed of the read-out (logistic regression); the reference code's
        80 % split uses its fixed seed 42.

    Returns
    -------
    spiking.readout.ReadoutResult
        With ``details['n_rows']`` (training, test rows after merging) and the
        protocol settings used.
    """
    row_of = {p: k for k, p in enumerate(ps.schedule.recorded)}
    rows_tr = np.array([row_of[p] for p in ps.readout_train])
    rows_te = np.array([row_of[p] for p in ps.test])
    y = np.asarray(ps.labels)[ps.schedule.recorded]
    return readout_on_rows(counts, y, rows_tr, rows_te, protocol, method=method, seed=seed)


def readout_on_rows(counts: np.ndarray, labels: np.ndarray, rows_tr: np.ndarray, rows_te: np.ndarray,
                    protocol: Protocol, *, method: str = "logreg", seed: int = 0):
    """The read-out of :func:`protocol_readout` on given rows of the recorded counts.

    A saved run holds exactly these inputs (``counts_exc``/``counts_inh``,
    ``labels``, ``readout_train_rows``, ``test_rows``), so its read-out can be
    scored again under other read-out quirks without simulating
    (:func:`scenarios.experiments.reference.rescore_run`).

    Parameters
    ----------
    counts : ndarray, shape (n_recorded, n_neurons)
        Per-presentation spike counts of the recorded presentations.
    labels : ndarray, shape (n_recorded,)
        Their labels.
    rows_tr, rows_te : ndarray of int
        Rows of ``counts`` that are read-out training and test rows (in
        presentation order; ``last_test_batch`` keeps the last of ``rows_te``).
    protocol, method, seed
        As :func:`protocol_readout`.

    Returns
    -------
    spiking.readout.ReadoutResult
    """
    from spiking.readout import fit_readout

    rows_tr, rows_te = np.asarray(rows_tr, dtype=np.int64), np.asarray(rows_te, dtype=np.int64)
    if protocol.on("last_test_batch"):
        rows_te = rows_te[-protocol.test_batch:]
    x = np.asarray(counts, dtype=float)
    y = np.asarray(labels)
    if y.shape != (x.shape[0],):
        raise ProtocolError(f"labels {y.shape} do not match counts {x.shape}")
    xtr, ytr, xte, yte = x[rows_tr], y[rows_tr], x[rows_te], y[rows_te]
    if protocol.on("merged_bins"):
        xtr, ytr = merge_same_label_runs(xtr, ytr)
        xte, yte = merge_same_label_runs(xte, yte)
    kw = {}
    if protocol.on("qda_readout"):
        n_fit = max(2, int(protocol.readout_fraction * len(ytr)))
        keep = np.random.RandomState(42).permutation(len(ytr))[:n_fit]
        xtr, ytr = xtr[keep], ytr[keep]
        method = "pca_qda"
        kw = {"variance": 0.95, "reg_param": protocol.qda_reg, "whiten": True}
    res = fit_readout(xtr, ytr, xte, yte, method=method, seed=seed, **kw)
    res.details.update(n_rows=[int(len(ytr)), int(len(yte))], protocol=protocol.label)
    return res
