"""`RowSpool`: a list of rows that keeps only its newest rows in memory and the older ones in a
temporary file, so the rows a long run records (a job's, a transition's, a metric sample's) take
disk rather than memory until the results folder is written.

A run at the network day's demand records ~70,000 job rows a simulated hour (~300 bytes each as
Python tuples): a list grows by ~0.5 GB a simulated day at ten times the network; the spool
stays at `spill_rows` rows.
"""
from __future__ import annotations

import pickle
import tempfile
from itertools import islice
from typing import Any, Iterator

__all__ = ["RowSpool", "SPILL_ROWS", "batched"]

SPILL_ROWS = 50_000  # rows kept in memory before they move to the file (~15 MB of tuples)


class RowSpool:
    """Append rows; iterate them back in the order appended (the file's, then memory's). Reading
    does not consume: a stepped run may write its folder and go on appending."""

    __slots__ = ("tail", "spill_rows", "_file", "_chunks", "_spilled")

    def __init__(self, spill_rows: int = SPILL_ROWS) -> None:
        self.tail: list = []
        self.spill_rows = spill_rows
        self._file = None
        self._chunks: list[int] = []  # file offset of each pickled chunk
        self._spilled = 0

    def append(self, row: Any) -> None:
        tail = self.tail
        tail.append(row)
        if len(tail) >= self.spill_rows:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="lpsim-rows-")
        f = self._file
        self._chunks.append(f.seek(0, 2))
        pickle.dump(self.tail, f, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled += len(self.tail)
        self.tail = []

    def __len__(self) -> int:
        return self._spilled + len(self.tail)

    def __iter__(self) -> Iterator[Any]:
        for offset in self._chunks:
            self._file.seek(offset)
            yield from pickle.load(self._file)
        yield from self.tail

    def close(self) -> None:
        """Drop the rows and the file."""
        if self._file is not None:
            self._file.close()
        self._file, self._chunks, self._spilled, self.tail = None, [], 0, []


def batched(rows, n: int) -> Iterator[list]:
    """`rows` in lists of up to `n` (itertools.batched arrived in Python 3.12)."""
    it = iter(rows)
    while chunk := list(islice(it, n)):
        yield chunk
