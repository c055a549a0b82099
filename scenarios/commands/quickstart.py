"""``sleep-snn quickstart`` (transitional: the parser still lives in :mod:`scenarios.experiments.quickstart`)."""

from scenarios.experiments.quickstart import main  # noqa: F401
