"""The seed tree: stable, order-independent, independent streams per path."""
import random

import numpy as np
import pytest

from lpsim.seeds import SeedTree, spawn_key


def first(gen: np.random.Generator, n: int = 4) -> list[float]:
    return list(gen.random(n))


def test_same_path_same_stream():
    assert first(SeedTree(42).generator("orchestrator", 3, "compute")) == \
        first(SeedTree(42).generator("orchestrator", 3, "compute"))


def test_pinned_first_values():
    """Changing how streams derive from (seed, path) changes every result: this catches it."""
    tree = SeedTree(42)
    assert tree.generator("orchestrator", 3, "compute").random() == 0.645706509291778
    assert tree.randbytes("ticket")(8).hex() == "8829f54c3ae48e36"
    assert tree.python_random("x").random() == 0.15196920541117587
    assert spawn_key(("a",))[:2] == (512930537, 4147077651)


def test_order_of_requests_does_not_matter():
    a = SeedTree(7)
    x1, y1 = first(a.generator("x")), first(a.generator("y"))
    b = SeedTree(7)
    y2, x2 = first(b.generator("y")), first(b.generator("x"))
    assert (x1, y1) == (x2, y2)


def test_different_paths_and_seeds_differ():
    tree = SeedTree(1)
    streams = [("a",), ("b",), ("a", "b"), ("ab",), ("a", 1), ("a", "1"), ("a", 1, "x"), ("a", 2, "x"), ()]
    values = {tuple(first(tree.generator(*path))) for path in streams}
    assert len(values) == len(streams)
    assert first(SeedTree(1).generator("a")) != first(SeedTree(2).generator("a"))


def test_child_is_a_prefix():
    tree = SeedTree(3)
    assert first(tree.child("orchestrator", 3).generator("compute")) == \
        first(tree.generator("orchestrator", 3, "compute"))
    assert first(tree.child("a").child("b").generator()) == first(tree.generator("a", "b"))
    assert tree.child("a").path == ("a",) and tree.child("a").seed == 3


def test_streams_look_independent():
    tree = SeedTree(0)
    a, b = tree.generator("gw", 0).random(50_000), tree.generator("gw", 1).random(50_000)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02


def test_numpy_integers_are_ints():
    tree = SeedTree(5)
    assert first(tree.generator("o", np.int64(2))) == first(tree.generator("o", 2))


def test_randbytes_and_python_random():
    tree = SeedTree(9)
    draw = tree.randbytes("recipient", "orch-0")
    chunk = draw(32)
    assert isinstance(chunk, bytes) and len(chunk) == 32
    assert draw(32) != chunk  # the stream moves on
    assert tree.randbytes("recipient", "orch-0")(32) == chunk
    assert tree.randbytes("recipient", "orch-1")(32) != chunk
    r = tree.python_random("delegator", 1)
    assert isinstance(r, random.Random)
    assert r.random() == tree.python_random("delegator", 1).random()
    assert tree.python_random("delegator", 2).random() != tree.python_random("delegator", 1).random()


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seeds(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        SeedTree(seed)


@pytest.mark.parametrize("part", [1.5, None, b"x", ("a",), True])
def test_bad_path_parts(part):
    with pytest.raises(TypeError, match="strings or integers"):
        SeedTree(1).generator("a", part)
