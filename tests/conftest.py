import os
import tempfile

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
# compiled networks of the tests go to a cache of this test session, not the user's
if "SLEEP_SNN_CACHE" not in os.environ:
    os.environ["SLEEP_SNN_CACHE"] = tempfile.mkdtemp(prefix="sleep_snn_test_cache_")
