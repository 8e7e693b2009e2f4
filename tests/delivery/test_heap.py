"""The send's collector settings: applied inside, restored after, nested sends respected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from digest.delivery.heap import GEN0, quiet_collector


@pytest.fixture(autouse=True)
def default_collector() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_inside_a_send_the_heap_is_frozen_and_young_collections_are_rarer() -> None:
    with quiet_collector():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GEN0, 10, 10)


def test_after_the_send_the_settings_are_restored() -> None:
    with quiet_collector():
        pass
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, (700, 10, 10))


def test_they_are_restored_even_when_the_send_raises() -> None:
    with pytest.raises(RuntimeError), quiet_collector():
        raise RuntimeError("provider crashed")
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, (700, 10, 10))


def test_a_nested_send_leaves_them_to_the_outer_one() -> None:
    with quiet_collector():
        with quiet_collector():
            pass
        assert gc.get_threshold() == (GEN0, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_heap_someone_else_froze_stays_frozen() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with quiet_collector():
        pass
    assert gc.get_freeze_count() >= frozen - 10  # (a frozen object may still be freed)
