"""``sleep-snn clean``: remove compiled networks from the build cache.

Every ``cpp_standalone`` run compiles its network once into one cache shared by
all runs (:mod:`spiking.buildcache`, in ``$SLEEP_SNN_CACHE`` or
``~/.cache/sleep-snn/builds``, bounded by ``$SLEEP_SNN_CACHE_SIZE``). This
command removes every cached network that no running simulation is using, and
what killed runs left behind. ``--list`` only shows the cache. Result
directories given as arguments also lose the ``build/`` folder that earlier
versions kept next to each result.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from scenarios.commands.common import HelpFormatter, UserError

__all__ = ["build_parser", "main"]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn clean", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("dirs", nargs="*", metavar="DIR",
                        help="result directories whose old build/ folders are removed too")
    parser.add_argument("--list", action="store_true", help="only list the cached networks")
    parser.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    return parser


def main(argv=None) -> int:
    from spiking import buildcache

    args = build_parser().parse_args(argv)
    root = buildcache.cache_root()
    if args.list:
        found = buildcache.entries(root)
        print(f"[clean] build cache {root}: {len(found)} networks, "
              f"{_mb(sum(e['bytes'] for e in found))} (bound {_mb(buildcache.cache_limit())})")
        for e in found:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"]))
            print(f"  {e['key']}  {_mb(e['bytes']):>9}  last used {used}  {e.get('compile_mode', '?')}"
                  + ("  (in use)" if e["in_use"] else ""))
        return 0
    builds = []
    for d in args.dirs:
        d = Path(d)
        if not d.is_dir():
            raise UserError(f"DIR {d}: not a directory")
        builds += [b.resolve() for b in [d / "build", *d.glob("*/build")] if b.is_dir()]
    builds = list(dict.fromkeys(builds))
    removed, freed = buildcache.clean(root, dry_run=args.dry_run)
    for b in builds:
        size = sum(f.stat().st_size for f in b.rglob("*") if f.is_file())
        freed += size
        if not args.dry_run:
            shutil.rmtree(b)
    verb = "would remove" if args.dry_run else "removed"
    print(f"[clean] {verb} {len(removed)} cached networks from {root}"
          + (f" and {len(builds)} build folders" if args.dirs else "") + f": {_mb(freed)}")
    busy = [e for e in buildcache.entries(root) if e["in_use"]]
    if busy:
        print(f"[clean] kept {len(busy)} networks that running simulations use")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
