"""The orchestrator's winning tickets on disk: a SQLite `TicketStore` (node.core.redemption) in
the node's data directory, as go-livepeer keeps its `ticketQueue` table in `<datadir>/lpdb.sqlite3`.

A ticket is written when it is queued, inside the payment's processing, so it is on disk before
the payment is acknowledged; it is deleted when its redemption is mined, or it is dropped or
expired (go marks the row redeemed instead and keeps it). A restarted orchestrator loads what is
left and redeems it.

Durability: WAL journal, `synchronous=FULL`. Every write is its own transaction (autocommit).
In WAL mode a commit appends to the write-ahead log with write(2) before returning, so NORMAL
would already survive the process being killed (kill -9, OOM); what NORMAL may lose is the last
commits on a power cut or an OS crash, since it syncs the log only at checkpoints. FULL syncs the
log at every commit, so an acknowledged winning ticket survives those too. The cost is an fsync
per winning ticket and per decided redemption: winners are one ticket in faceValue/EV (hundreds
or more), and a redemption waits for a block anyway, so it is not on any hot path.

Rows belong to one chain: each carries the chain's genesis block hash (`chain`), and a store
opened for a chain sees only that chain's rows. A devchain is a new chain every time it starts
(same chain id, new genesis), so the tickets of a devchain that is gone stay out of the next one's
queue, where they could never be redeemed; if the node returns to their chain, they are there.
Several processes may share one file (WAL allows concurrent readers, and writers wait up to
`busy_timeout`): rows are keyed by ticket hash and each Redeemer loads only its own recipient's
tickets. Numbers that are uint256 on chain are stored as 32-byte big-endian blobs (SQLite
integers stop at 2^63); block numbers and the row order are integers.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from node.core.redemption import SignedTicket
from node.core.ticket import Ticket

log = logging.getLogger("lpnode.tickets")

DB_FILE = "lpdb.sqlite3"  # go-livepeer's database name in its -datadir
SCHEMA_VERSION = 1
KNOWN_NETWORKS = {1: "mainnet", 42161: "arbitrum-one-mainnet"}  # chain id -> go's -network name

_COLUMNS = ("ticketHash", "sender", "recipient", "faceValue", "winProb", "senderNonce", "recipientRand",
            "recipientRandHash", "sig", "creationRound", "creationRoundBlockHash", "paramsExpirationBlock")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ticketQueue (
    ticketHash BLOB PRIMARY KEY,          -- keccak256 of the ticket, as TicketBroker.usedTickets keys it
    chain BLOB NOT NULL,                  -- the chain's genesis block hash
    createdAt TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    faceValue BLOB NOT NULL,              -- uint256, 32 bytes big-endian (so are the other BLOB numbers)
    winProb BLOB NOT NULL,
    senderNonce BLOB NOT NULL,
    recipientRand BLOB NOT NULL,
    recipientRandHash BLOB NOT NULL,
    sig BLOB NOT NULL,
    creationRound BLOB NOT NULL,
    creationRoundBlockHash BLOB NOT NULL,
    paramsExpirationBlock INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_ticketqueue_chain ON ticketQueue(chain);
"""


def _u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _int(blob: bytes) -> int:
    return int.from_bytes(blob, "big")


class TicketStoreError(RuntimeError):
    """The database cannot be used (a newer schema, for one)."""


class SqliteTicketStore:
    """node.core.redemption.TicketStore in a SQLite file (created, with its folder, if absent),
    for the chain whose genesis block hash is `chain` (b"" when there is only one to tell apart)."""

    def __init__(self, path: str | Path, chain: bytes = b"", synchronous: str = "FULL",
                 busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.chain = bytes(chain)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, used from server and duty threads
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise TicketStoreError(f"{self.path}: cannot use a write-ahead log (journal mode {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise TicketStoreError(f"{self.path}: database schema {version} is newer than this node's "
                                       f"({SCHEMA_VERSION})")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------ TicketStore

    def add(self, signed: SignedTicket) -> None:
        t = signed.ticket
        row = (self.chain, t.hash(), t.sender, t.recipient, _u256(t.face_value), _u256(t.win_prob),
               _u256(t.sender_nonce), _u256(signed.recipient_rand), t.recipient_rand_hash, bytes(signed.sig),
               _u256(t.creation_round), t.creation_round_block_hash, signed.expiration_block)
        with self._lock:
            self._db.execute(f"INSERT OR IGNORE INTO ticketQueue (chain, {', '.join(_COLUMNS)}) "
                             f"VALUES (?, {', '.join('?' * len(_COLUMNS))})", row)

    def remove(self, signed: SignedTicket) -> None:
        with self._lock:
            self._db.execute("DELETE FROM ticketQueue WHERE ticketHash = ?", (signed.ticket.hash(),))

    def load(self) -> list[SignedTicket]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM ticketQueue WHERE chain = ? ORDER BY rowid",
                                    (self.chain,)).fetchall()
        tickets = []
        for (key, sender, recipient, face_value, win_prob, nonce, rand, rand_hash, sig, creation_round,
             block_hash, expiration_block) in rows:
            try:
                ticket = Ticket(recipient, sender, _int(face_value), _int(win_prob), _int(nonce), bytes(rand_hash),
                                _int(creation_round), bytes(block_hash))
                if ticket.hash() != bytes(key):
                    raise ValueError("its fields do not hash to its key")
            except (ValueError, TypeError) as exc:  # a damaged row: keep the rest
                log.warning("%s: skipping stored ticket %s: %s", self.path, bytes(key).hex(), exc)
                continue
            tickets.append(SignedTicket(ticket, bytes(sig), _int(rand), expiration_block))
        return tickets

    # ------------------------------------------------------------------ housekeeping

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM ticketQueue WHERE chain = ?", (self.chain,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "SqliteTicketStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def network_name(chain_id: int) -> str:
    """go's -network name for a chain id it knows; `chain-<id>` for any other (a devchain, say)."""
    return KNOWN_NETWORKS.get(chain_id, f"chain-{chain_id}")


def default_datadir(chain_id: int, home: Path | None = None) -> Path:
    """go's default -datadir, ~/.lpData/<network>."""
    return (home or Path.home()) / ".lpData" / network_name(chain_id)
