"""``sleep-snn incremental`` (transitional: the parser still lives in :mod:`scenarios.experiments.incremental`)."""

from scenarios.experiments.incremental import main  # noqa: F401
