"""Orchestrator suspensions counted in pool refreshes (go-livepeer server/suspensions.go, the
penalty rule of server/broadcast.go `SessionPool.suspend` and the offset of server/ai_session.go
`AISessionPool.Remove`).

A suspender belongs to one session pool (or, for AI, to the warm and cold pools of one
"<capId>_<modelId>" key). It counts the pool's refreshes; a suspended orchestrator is stored with
the refresh count until which it stays suspended, and discovery puts it behind every
non-suspended one (lower value first).

Spec §12 quirk 1, decided: mirror go, behind one documented flag.
- Transcoding (`offset_by_refresh_count=False`, the default, as go's transcoding pools): `suspend`
  ADDS the penalty to the stored value without offsetting by the current refresh count. On a
  long-running stream whose pool has refreshed more times than the accumulated penalties, the
  stored value is already below the count, so the suspension lapses at the next check: a failing
  orchestrator comes straight back.
- AI (`offset_by_refresh_count=True`, what the AI session selector uses): `suspend` stores
  refresh_count + penalty, replacing any earlier value, exactly what go's `AISessionPool.Remove`
  achieves by subtracting the old value before adding.
A transcoding pool may opt into the offset (the fix) by passing the flag; nothing else changes.
"""
from __future__ import annotations

import math

__all__ = ["Suspender", "transcoding_penalty"]


def transcoding_penalty(pool_size: int, num_orchs: int) -> int:
    """Refreshes a transcoding pool suspends a failing orchestrator for:
    ceil(max(1, pool_size) / max(1, num_orchs)), i.e. about one pass over the whole pool."""
    return math.ceil(max(1, pool_size) / max(1, num_orchs))


class Suspender:
    """Refresh counter plus a map orchestrator URI -> refresh count until which it is suspended."""

    __slots__ = ("offset_by_refresh_count", "refresh_count", "_until")

    def __init__(self, offset_by_refresh_count: bool = False) -> None:
        self.offset_by_refresh_count = offset_by_refresh_count
        self.refresh_count = 0
        self._until: dict[str, int] = {}

    def signal_refresh(self, times: int = 1) -> None:
        """Count `times` pool refreshes (the AI selector signals 3 or 5 at once to release all
        suspensions when its pools are empty)."""
        self.refresh_count += times

    def suspend(self, uri: str, penalty: int) -> None:
        """Suspend `uri` for `penalty` refreshes (see the module docstring for the two modes)."""
        if self.offset_by_refresh_count:
            self._until[uri] = self.refresh_count + penalty
        else:
            self._until[uri] = self._until.get(uri, 0) + penalty

    def suspended(self, uri: str) -> int:
        """The stored value if `uri` is still suspended, else 0. go's lapse rule: an entry below the
        refresh count is deleted; one equal to it still counts (it lapses at the next refresh)."""
        until = self._until.get(uri, 0)
        if until < self.refresh_count:
            self._until.pop(uri, None)
            return 0
        return until

    def __len__(self) -> int:
        """Stored entries, lapsed ones included until a `suspended` check deletes them: go's
        `len(suspender.list)`, which the AI selector adds into its initial pool size."""
        return len(self._until)

    def __contains__(self, uri: str) -> bool:
        return uri in self._until
