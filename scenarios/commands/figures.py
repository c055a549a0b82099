"""``sleep-snn figures`` (transitional: the parser still lives in :mod:`scenarios.figures.ei`)."""

from scenarios.figures.ei import main  # noqa: F401
