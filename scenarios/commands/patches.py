"""``sleep-snn patches`` (transitional: the parser still lives in :mod:`scenarios.experiments.patches`)."""

from scenarios.experiments.patches import main  # noqa: F401
