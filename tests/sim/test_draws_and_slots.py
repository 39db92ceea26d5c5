"""lpsim.draws (values made a block at a time) and lpsim.orchestrator.Slots (a capacity without
simpy.Resource's events)."""
import numpy as np
import pytest
import simpy

from lpsim.distributions import Constant, LogNormal
from lpsim.draws import BlockDraws, UniformDraws
from lpsim.orchestrator import Slots


def test_block_draws_are_the_generator_s_values_in_order_across_blocks():
    dist = LogNormal(0.04, 0.5)
    got = BlockDraws(dist, np.random.default_rng(5), block=7)
    values = [got.draw() for _ in range(20)]
    rng = np.random.default_rng(5)
    want = np.concatenate([dist.sample_n(rng, 7) for _ in range(3)])[:20]
    assert values == want.tolist()
    again = BlockDraws(dist, np.random.default_rng(5), block=7)
    assert [again.draw() for _ in range(20)] == values  # same seed, same draws
    assert all(type(v) is float for v in values)


def test_uniform_draws_are_rng_random_s():
    got = UniformDraws(np.random.default_rng(2), block=4)
    assert [got.draw() for _ in range(10)] == np.random.default_rng(2).random(12)[:10].tolist()


def test_a_model_that_is_not_a_distribution_is_sampled_on_each_draw():
    class Timed:  # as lpsim.compute.RealCompute: each sample runs something
        calls = 0

        def sample(self, rng):
            Timed.calls += 1
            return 0.25

    draws = BlockDraws(Timed(), np.random.default_rng(1))
    assert [draws.draw() for _ in range(3)] == [0.25] * 3 and Timed.calls == 3
    assert BlockDraws(Constant(1.5), np.random.default_rng(1)).draw() == 1.5


def test_an_overflowing_block_is_an_error_naming_the_distribution():
    with pytest.raises(ValueError, match="lognormal draw overflowed"):
        BlockDraws(LogNormal(1.0, 1e50), np.random.default_rng(1)).draw()


def test_slots_are_held_at_once_while_free_then_handed_over_first_come_first_served():
    env = simpy.Environment()
    slots = Slots(env, 2)
    log = []

    def job(name, start, work):
        yield env.timeout(start)
        wait = slots.take()
        if wait is not None:
            yield wait
        log.append((env.now, name, "in", slots.count))
        yield env.timeout(work)
        slots.release()

    for name, start, work in (("a", 0, 5), ("b", 0, 3), ("c", 1, 1), ("d", 2, 1), ("e", 10, 1)):
        env.process(job(name, start, work))
    env.run()
    # a and b at once; c waits for b (t=3), d for c (t=4, before a frees its slot at 5); e finds one free
    assert log == [(0, "a", "in", 1), (0, "b", "in", 2), (3, "c", "in", 2), (4, "d", "in", 2), (10, "e", "in", 1)]
    assert slots.count == 0
