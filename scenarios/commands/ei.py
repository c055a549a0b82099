"""``sleep-snn ei`` (transitional: the parser still lives in :mod:`scenarios.experiments.ei`)."""

from scenarios.experiments.ei import main  # noqa: F401
