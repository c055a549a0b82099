"""``sleep-snn robustness`` (transitional: the parser still lives in :mod:`scenarios.experiments.robustness`)."""

from scenarios.experiments.robustness import main  # noqa: F401
