"""The network on its own: the bundled IR through :class:`polyseg.network.Network`, shared by several threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from polyseg.network import Network, bundled_model_path


@pytest.fixture(scope="module")
def network():
    return Network(bundled_model_path(), num_threads=1)


def inputs(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 255, (4, 128, 128)).astype(np.float32) for _ in range(n)]


def slowly(xs: list[np.ndarray], after: int, seconds: float) -> Iterator[np.ndarray]:
    """The inputs, with a pause before each one after the first ``after``: results of the first batches come
    back while the run is still taking inputs, so ``run_many`` hands them out mid-run."""
    for i, x in enumerate(xs):
        if i >= after:
            time.sleep(seconds)
        yield x


def test_a_paused_run_many_does_not_block_another_caller(network):
    """A consumer that stops reading its results mid-run (a paused or abandoned generator) holds nothing another
    ``run_many`` needs: the other caller finishes, and the first one later resumes and gets every result."""
    first = inputs(9, seed=1)
    expected = dict(network.run_many(iter(first), len(first)))
    paused = network.run_many(slowly(first, after=4, seconds=0.2), len(first))
    results = dict([next(paused)])  # a result of the first batch, handed out while the run takes inputs

    others: list[tuple[int, np.ndarray]] = []
    other = threading.Thread(target=lambda: others.extend(network.run_many(iter(inputs(3, seed=2)), 3)), daemon=True)
    other.start()
    other.join(timeout=20)
    finished = not other.is_alive()
    results.update(paused)  # resume: the rest of the first run
    other.join()
    assert finished, "run_many waited for another caller's paused generator"
    assert sorted(i for i, _ in others) == [0, 1, 2]
    assert sorted(results) == list(range(len(first)))
    for i, prob in expected.items():
        np.testing.assert_array_equal(results[i], prob)


def test_an_abandoned_run_many_leaves_the_network_usable(network):
    abandoned = network.run_many(iter(inputs(9)), 9)
    next(abandoned)
    abandoned.close()
    assert sorted(i for i, _ in network.run_many(iter(inputs(5)), 5)) == [0, 1, 2, 3, 4]
