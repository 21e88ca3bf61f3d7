# runtime: cpython-only -- hypothesis drives the fuzz targets (it does not run on the unix port)
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""Fuzzing driven by hypothesis (issue 9): the targets of fuzz_targets.py.

Hypothesis draws each input either as raw octets or as a seed (a real frame
from the tests) with 1 to 4 mutations whose kind and places it draws itself,
so a finding shrinks to the fewest, smallest mutations. Its engine has no
branch coverage of its own: each input's count of firmware lines reached
(``sys.settrace``) is given to ``hypothesis.target()``, which steers the
search toward inputs that go deeper. The run is derandomized (the same
inputs every time) and bounded; ``HYPOTHESIS_FUZZ_EXAMPLES`` raises it.
"""

import os

import fuzz_targets as ft
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis import target as steer

EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "150"))
# the ciphered targets run AES-GCM in Python under the line tracer: fewer
SHARE = {"server_ciphered": 0.2, "dsmr": 0.3}


def inputs(t):
    seeds = [bytes(s)[: ft.MAX_INPUT] for s in t.seeds()]
    tokens = tuple(t.tokens)
    op = st.tuples(
        st.integers(0, ft.OPS - 1),
        st.integers(0, 1 << 20),
        st.integers(0, 1 << 20),
        st.binary(max_size=4),
    )

    def build(seed, ops):
        for kind, a, b, extra in ops:
            seed = ft.apply(seed, kind, a, b, extra, seeds, tokens)
        return seed

    mutated = st.builds(build, st.sampled_from(seeds), st.lists(op, min_size=1, max_size=4))
    return st.one_of(mutated, mutated, st.binary(max_size=300))


@pytest.mark.parametrize("name", ft.NAMES)
def test_target(name):
    t = ft.make(name)
    trap = ft._ErrorTrap()
    cov = ft._Coverage()
    saved = ft.log.error
    ft.log.error = trap

    @settings(
        max_examples=max(10, int(EXAMPLES * SHARE.get(name, 1))),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(t))
    def run(data):
        del trap.calls[:]
        cov.seen = set()
        cov.start()
        try:
            t.run(data)
        except ft.Unexpected:
            raise
        except t.errors:
            pass
        finally:
            cov.stop()
        assert not trap.calls, trap.calls
        steer(float(len(cov.seen)), label="firmware lines reached")

    try:
        t.check()
        run()
        t.check()  # and a known-good input is still handled right
        assert not trap.calls, trap.calls
    finally:
        ft.log.error = saved
