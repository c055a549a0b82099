"""``sleep-snn bench`` (transitional: the parser still lives in :mod:`scenarios.bench.ei`)."""

from scenarios.bench.ei import main  # noqa: F401
