"""``sleep-snn sgsnn`` (transitional: the parser still lives in :mod:`scenarios.experiments.sgsnn`)."""

from scenarios.experiments.sgsnn import main  # noqa: F401
