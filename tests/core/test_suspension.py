"""node.core.suspension: go's lapse rule, the transcoding penalty and spec §12 quirk 1."""
import pytest

from node.core.suspension import Suspender, transcoding_penalty

URI = "https://o1.example:8935"


@pytest.mark.parametrize("pool_size, num_orchs, penalty", [
    (0, 0, 1),  # both floored at 1
    (1, 1, 1),
    (8, 8, 1),
    (20, 8, 3),  # ceil(20 / 8)
    (16, 8, 2),
    (17, 8, 3),
    (5, 0, 5),
])
def test_transcoding_penalty(pool_size, num_orchs, penalty):
    assert transcoding_penalty(pool_size, num_orchs) == penalty


def test_unknown_uri_is_not_suspended():
    sus = Suspender()
    assert sus.suspended(URI) == 0
    sus.signal_refresh()
    assert sus.suspended(URI) == 0
    assert len(sus) == 0


def test_lapse_rule_value_equal_to_count_still_suspended():
    sus = Suspender()
    sus.suspend(URI, 2)
    assert sus.suspended(URI) == 2
    sus.signal_refresh(2)  # count 2: 2 < 2 is false, still suspended
    assert sus.suspended(URI) == 2
    sus.signal_refresh()  # count 3: lapses and the entry is deleted
    assert sus.suspended(URI) == 0
    assert URI not in sus


def test_transcoding_suspensions_accumulate():
    sus = Suspender()
    sus.suspend(URI, 3)
    sus.suspend(URI, 3)
    assert sus.suspended(URI) == 6


def test_quirk_transcoding_suspension_lapses_immediately_on_long_stream():
    """§12 quirk 1: after 10 pool refreshes a penalty of 3 is stored as 3 (< 10), so the O is
    back at once; the offset mode (what AI pools do) keeps it out for 3 more refreshes."""
    go = Suspender()  # default mirrors go's transcoding pools
    fixed = Suspender(offset_by_refresh_count=True)
    for sus in (go, fixed):
        sus.signal_refresh(10)
        sus.suspend(URI, 3)
    assert go.suspended(URI) == 0
    assert fixed.suspended(URI) == 13
    fixed.signal_refresh(3)
    assert fixed.suspended(URI) == 13
    fixed.signal_refresh()
    assert fixed.suspended(URI) == 0


def test_quirk_on_a_fresh_stream_both_modes_agree():
    go, fixed = Suspender(), Suspender(offset_by_refresh_count=True)
    for sus in (go, fixed):
        sus.signal_refresh()  # the pool's first refresh at stream start
        sus.suspend(URI, 2)
    assert go.suspended(URI) == 2
    assert fixed.suspended(URI) == 3


def test_offset_mode_replaces_rather_than_adds():
    """AI pools: suspended() returns refresh_count + penalty whatever was stored before."""
    sus = Suspender(offset_by_refresh_count=True)
    sus.signal_refresh(4)
    sus.suspend(URI, 3)
    sus.signal_refresh()
    sus.suspend(URI, 3)
    assert sus.suspended(URI) == 8


def test_len_counts_lapsed_entries_until_checked():
    sus = Suspender()
    sus.suspend(URI, 1)
    sus.suspend("https://o2.example", 1)
    sus.signal_refresh(5)
    assert len(sus) == 2  # go's len(list) before any Suspended() call
    sus.suspended(URI)
    assert len(sus) == 1
