"""Fuzzing in the suite: hypothesis mutates the test data of every format; no reader may raise, and
every article it keeps must be storable (a longer run: tests/benchmarks/fuzz_sources.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter import sources
from newsletter.store import Store

from tests.fuzzing import CORPUS, FUZZ_DIR, OPS, TOKENS, apply, article_problems, context

MUTATIONS = st.lists(st.tuples(st.sampled_from(OPS), st.floats(0, 1), st.integers(0, len(TOKENS) - 1),
                               st.integers(0, 255), st.integers(1, 64)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    with Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}") as store:
        yield store


def check(data: bytes, origin: str, store: Store) -> None:
    result = sources.read(data, context(origin))  # the guard: never raises
    assert article_problems(result.articles) == []
    # A failure of our own code on one item (not of a parser on a whole input) is a bug to fix.
    assert not [r for r in result.rejected if r.item and "the parser failed" in r.reason]
    store.upsert(result.articles, result.undated)


@pytest.mark.parametrize("fmt", sorted(CORPUS))
def test_no_mutation_of_any_format_breaks_a_reader_or_the_store(fmt, fuzz_store):
    # Derandomized so the suite is repeatable; the long run in tests/benchmarks/ explores at random.
    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.sampled_from(CORPUS[fmt]), MUTATIONS)
    def mutated(path, mutations):
        check(apply(path.read_bytes(), mutations), path.name, fuzz_store)

    mutated()


@pytest.mark.parametrize("path", sorted(p for p in FUZZ_DIR.glob("*") if p.name != "README.md"), ids=lambda p: p.name)
def test_every_input_the_fuzzer_ever_found_stays_harmless(path, fuzz_store):
    check(path.read_bytes(), path.name, fuzz_store)
