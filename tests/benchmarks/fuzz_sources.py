"""Fuzz the readers for longer than the suite does: a seeded mutator over the test data of every format.

    python tests/benchmarks/fuzz_sources.py --minutes 10 [--seed 7] [--save]

Every mutated input goes through sources.read (the guard) and then into a real SQLite store.
Three kinds of finding are counted, each once per place in the code:

- escaped: an exception got past the guard or the store (a bug: it would crash a command);
- invalid: an article the store would refuse or mangle (see tests/test_sources_fuzz.py);
- item: our code failed on one item and its guard rejected the item (a bug in a reader or a
  field processor: the item may well have been usable);
- contained: a parser failed on a whole input and the guard turned it into a rejection (fine,
  but worth a regression file: the parser may change under us).

With --save, the input of each new finding is written to tests/data/fuzz/ under a name that
says what it is (format, exception, where); add it to the suite's regression cases. The
mutations are in tests/fuzzing.py, shared with the suite's hypothesis test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fuzzing import CORPUS, FUZZ_DIR, article_problems, context, mutate  # noqa: E402


def where(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(frame.filename).stem}_{frame.lineno}"


def contained(fmt: str, data: bytes, origin: str) -> tuple | None:
    """The reader run again without its guard: what it raises, and where (None for a SourceError)."""
    from newsletter import sources
    from newsletter.errors import SourceError

    try:
        sources.READERS[sources.detect_format(origin, data)](data, context(origin))
    except SourceError:
        return None
    except Exception as exc:  # noqa: BLE001 - naming the failure is the point
        return ("contained", fmt, f"{type(exc).__name__}_{where(exc)}")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--save", action="store_true", help="write each new finding to tests/data/fuzz/")
    args = parser.parse_args()
    from newsletter import sources
    from newsletter.store import Store

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    files = [(fmt, path, path.read_bytes()) for fmt, paths in CORPUS.items() for path in paths]
    found: dict[tuple, str] = {}
    runs = 0
    deadline = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{tmp}/fuzz.db") as store:
        while time.monotonic() < deadline:
            fmt, path, original = rng.choice(files)
            data = mutate(original, rng)
            runs += 1
            kind = None
            try:
                result = sources.read(data, context(path.name))
                problems = article_problems(result.articles)
                if problems:
                    kind = ("invalid", fmt, problems[0].split(":")[0])
                store.upsert(result.articles, result.undated)
                if kind is None and any(r.item and "the parser failed" in r.reason for r in result.rejected):
                    kind = ("item", fmt, next(r.reason for r in result.rejected if "the parser failed" in r.reason))
                if kind is None and any(not r.item for r in result.rejected):
                    kind = contained(fmt, data, path.name)
            except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
                kind = ("escaped", fmt, f"{type(exc).__name__}_{where(exc)}")
            if kind is None or kind in found:
                continue
            name = "_".join(kind[1:]).replace(".", "_").replace(" ", "_")[:80] + path.suffix
            found[kind] = name
            print(f"{kind[0]:9} {name} (from {path.name})", flush=True)
            if args.save:
                FUZZ_DIR.mkdir(exist_ok=True)
                (FUZZ_DIR / name).write_bytes(data)
    escaped = sum(k[0] != "contained" for k in found)  # escaped, invalid or item: bugs of ours
    print(f"fuzz: {runs} inputs in {args.minutes:g} min (seed {seed}): {escaped} escaped or invalid, "
          f"{len(found) - escaped} contained parser failures")
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
