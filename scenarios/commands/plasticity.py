"""``sleep-snn plasticity`` (transitional: the parser still lives in :mod:`scenarios.experiments.plasticity`)."""

from scenarios.experiments.plasticity import main  # noqa: F401
