"""node.orchestrator.ticket_store: winning tickets in SQLite, every field back as it went in,
surviving a close and reopen and a writer killed with SIGKILL; a Redeemer over a reopened store
redeems what the last one left."""
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from node.core.redemption import Outcome, Redeemer, SignedTicket
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash
from node.orchestrator.ticket_store import (DB_FILE, SCHEMA_VERSION, SqliteTicketStore, TicketStoreError,
                                            default_datadir, network_name)

from ..core.stubs import StubBroker, StubChain

O = "0x" + "11" * 20
G = "0x" + "22" * 20


def signed(nonce=1, *, face_value=3 * 10**16, win_prob=MAX_WIN_PROB - 7, rand=2**256 - 3, creation_round=10,
           block_hash=b"\x0a" * 32, expiration_block=1040, sig=None) -> SignedTicket:
    ticket = Ticket(O, G, face_value, win_prob, nonce, recipient_rand_hash(rand), creation_round, block_hash)
    return SignedTicket(ticket, sig or bytes(range(65)), rand, expiration_block)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "data" / DB_FILE


def test_every_field_round_trips(db):
    # uint256 extremes in every number, a large nonce and round, distinct bytes in every blob
    wide = signed(2**256 - 1, face_value=2**256 - 2, win_prob=2**255 + 1, rand=2**256 - 5,
                  creation_round=2**200, block_hash=bytes(range(100, 132)), expiration_block=2**62)
    plain = signed(7)
    with SqliteTicketStore(db) as store:  # the folder is created
        store.add(wide)
        store.add(plain)
        assert store.load() == [wide, plain]  # equal dataclasses: every field, in the order added
    assert db.exists()


def test_removal_and_idempotence(db):
    with SqliteTicketStore(db) as store:
        a, b, c = signed(1), signed(2), signed(3)
        for t in (a, b, c, a):  # adding a stored ticket again does nothing
            store.add(t)
        assert len(store) == 3
        store.remove(b)
        store.remove(b)  # removing an absent ticket does nothing
        assert store.load() == [a, c]
        store.add(b)  # re-added: now the latest
        assert store.load() == [a, c, b]


def test_tickets_survive_close_and_reopen(db):
    with SqliteTicketStore(db) as store:
        for nonce in range(5):
            store.add(signed(nonce))
        store.remove(signed(0))
    with SqliteTicketStore(db) as store:
        assert [s.ticket.sender_nonce for s in store.load()] == [1, 2, 3, 4]


def test_each_chain_sees_only_its_own_tickets(db):
    """A devchain started again is another chain (same id, new genesis): the old one's tickets,
    which could never be redeemed there, stay out of its queue, and are there for their own."""
    old, new = b"\x01" * 32, b"\x02" * 32
    with SqliteTicketStore(db, chain=old) as store:
        store.add(signed(1))
    with SqliteTicketStore(db, chain=new) as store:
        assert store.load() == [] and len(store) == 0
        store.add(signed(2))
        assert store.load() == [signed(2)]
    with SqliteTicketStore(db, chain=old) as store:
        assert store.load() == [signed(1)]


def test_write_ahead_log_and_full_sync(db):
    with SqliteTicketStore(db) as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_writer_killed_with_sigkill_loses_nothing_it_acknowledged(db):
    """A child adds tickets, says so, and kills itself (SIGKILL: no close, no checkpoint); every
    ticket it acknowledged is there."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.append({str(Path(__file__).parents[2])!r})  # for tests.*; node stays the one under test
        from tests.node.test_ticket_store import signed
        from node.orchestrator.ticket_store import SqliteTicketStore
        store = SqliteTicketStore({str(db)!r})
        for nonce in range(5):
            store.add(signed(nonce))
            print("acknowledged", nonce, flush=True)
        store.remove(signed(0))
        print("removed 0", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert r.stdout.split("\n")[-2] == "removed 0"
    with SqliteTicketStore(db) as store:
        assert store.load() == [signed(n) for n in range(1, 5)]


def test_a_newer_schema_is_refused(db):
    with SqliteTicketStore(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(TicketStoreError, match="newer"):
        SqliteTicketStore(db)


def test_a_damaged_row_is_skipped(db):
    with SqliteTicketStore(db) as store:
        store.add(signed(1))
        store.add(signed(2))
        store._db.execute("UPDATE ticketQueue SET faceValue = ? WHERE rowid = 1", ((1).to_bytes(32, "big"),))
        assert store.load() == [signed(2)]


def test_a_redeemer_over_a_reopened_store_redeems_what_was_left(db):
    chain = StubChain(block=1000, round=10, pool_size=1, price=10**9)
    chain.active.add(O)
    chain.fund(G, deposit=10**18, reserve=10**18)
    broker = StubBroker()
    with SqliteTicketStore(db) as store:
        before = Redeemer(chain, SenderMonitor(O, chain), broker, redeem_gas=100_000, store=store)
        for nonce in range(1, 6):
            before.queue(signed(nonce))
    with SqliteTicketStore(db) as store:
        after = Redeemer(chain, SenderMonitor(O, chain), broker, redeem_gas=100_000, store=store)
        assert after.counts["restored"] == 5
        assert [r.outcome for r in after.on_block(1040)] == [Outcome.REDEEMED] * 5
        assert len(store) == 0
    assert [t.sender_nonce for t in broker.redeemed] == [1, 2, 3, 4, 5]


def test_default_datadir_follows_go(tmp_path):
    assert network_name(42161) == "arbitrum-one-mainnet" and network_name(1) == "mainnet"
    assert default_datadir(42161, home=tmp_path) == tmp_path / ".lpData" / "arbitrum-one-mainnet"
    assert default_datadir(1337, home=tmp_path) == tmp_path / ".lpData" / "chain-1337"
