"""The recorder's row spool: rows past the newest `spill_rows` wait in a temporary file and come
back in order, and a results folder written from spooled rows is the same, byte for byte."""
from __future__ import annotations

import filecmp
from enum import Enum

import lpsim.spool as spool
from lpsim.spool import RowSpool, batched


class Colour(Enum):
    RED = 1


def test_rows_come_back_in_order_from_file_and_memory():
    rows = RowSpool(spill_rows=4)
    want = [(i, f"j/{i}", i / 3, None, Colour.RED) for i in range(11)]
    for row in want:
        rows.append(row)
        assert len(rows.tail) < 4  # never more than spill_rows in memory
    assert len(rows) == 11 and rows and list(rows) == want
    assert list(rows) == want  # reading does not consume
    rows.append(("late",))  # a stepped run goes on after writing its folder
    assert list(rows) == [*want, ("late",)]
    rows.close()
    assert len(rows) == 0 and not rows and list(rows) == []


def test_batched():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def test_a_folder_from_spooled_rows_is_the_same(tmp_path, monkeypatch):
    from tests.sim.test_results import synthetic_recorder

    synthetic_recorder().write(tmp_path / "memory")
    monkeypatch.setattr(spool.RowSpool.__init__, "__defaults__", (2,))  # spill every 2 rows
    rec = synthetic_recorder()
    assert rec.job_rows._chunks and rec.metric_rows._chunks and rec.transition_rows._chunks
    rec.write(tmp_path / "spooled")
    names = sorted(p.name for p in (tmp_path / "memory").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "spooled").iterdir()) and "jobs.csv" in names
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "memory", tmp_path / "spooled", names, shallow=False)
    assert not mismatch and not errors


def test_parquet_row_groups_from_spooled_rows(tmp_path, monkeypatch):
    """jobs.parquet written a row group at a time from spooled rows holds every row, in order."""
    import pyarrow.parquet as pq

    from lpsim.results import Recorder

    monkeypatch.setattr(spool.RowSpool.__init__, "__defaults__", (3,))
    rec = Recorder(run="r", seed=1, jobs=type("Jobs", (), {"format": "parquet"})())
    for i in range(10):
        rec.job(f"g/{i}", "g", "o", "transcoding", "transcoding", float(i), i + 0.5, "completed", "", 1, 0, 1, 2.0)
    rec._write_jobs_parquet(tmp_path / "jobs.parquet", group_rows=4)
    table = pq.read_table(tmp_path / "jobs.parquet")
    assert pq.ParquetFile(tmp_path / "jobs.parquet").num_row_groups == 3
    assert table.column("job").to_pylist() == [f"g/{i}" for i in range(10)]
    assert table.column("latency").to_pylist() == [0.5] * 10
