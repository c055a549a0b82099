import os
import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
# compiled networks of the tests go to a cache of this test session, not the user's
_CACHE = None
if "SLEEP_SNN_CACHE" not in os.environ:
    _CACHE = os.environ["SLEEP_SNN_CACHE"] = tempfile.mkdtemp(prefix="sleep_snn_test_cache_")


def pytest_sessionfinish(session, exitstatus):
    if _CACHE is not None:
        shutil.rmtree(_CACHE, ignore_errors=True)
