"""``sleep-snn scan`` (transitional: the parser still lives in :mod:`scenarios.experiments.scan`)."""

from scenarios.experiments.scan import main  # noqa: F401
