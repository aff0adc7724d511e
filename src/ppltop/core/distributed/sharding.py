"""One evaluation sharded over the processes `mlx.launch` starts, with `mx.distributed`.

Every rank loads the model and the data and plans the same batches. Rank r of n scores
rows `r::n` of every batch (mlx-lm's rule) for every label; the rows of a batch are then
gathered to rank 0 with `mx.distributed.all_gather`: first each rank's byte count (and
whether it was asked to stop), then the bytes, zero-padded to the longest. The bytes are
the examples each rank completed, in the run directory's own array format
(`run_dir.pack`), so rank 0 sees exactly the batches a single process would score: it
writes the run directory, prints and summarizes, and both figures come out as in a single
process. The other ranks keep only their own rows and print nothing but errors.

With `--long-sequences window` the windows of one example can fall in different batches;
they are all scored by the rank that scores its first window, so an example is assembled
where it was scored.

A rank that dies closes its sockets and the next collective fails on the others: it raises
("[ring] connection to a peer was lost") or, as seen with the ring backend, returns whatever
was in its buffers, which the marker, sequence number and CRC-32 of every exchange catch.
Either becomes `RankLost`, which ends the run with one message naming the batch and
`ppltop resume`. A rank that hangs, or a host that
vanishes without closing its sockets, leaves the others waiting in a collective forever; a
watchdog thread ends the process after `PPLTOP_RANK_TIMEOUT` seconds in one collective
(default: 20 times the slowest batch so far, at least 300 s). Nothing is written while a
rank waits in a collective, so the run directory stays resumable either way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
import time
import zlib

import numpy as np

from ..engine.scorer import BatchScorer
from ..errors import InputError
from ..store.run_dir import pack, unpack

TIMEOUT_ENV = "PPLTOP_RANK_TIMEOUT"
_MARKER = 0x70706C746F70  # "ppltop": a header that is not one is not from a live rank
_MAX_PAYLOAD = 1 << 40
_RANK_ENVS = ("MLX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


class RankLost(RuntimeError):
    """A collective failed: another rank died or cannot be reached."""


class QuietExit(Exception):
    """End this rank with `code`; rank 0 reports why (used on ranks other than 0)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def env_rank() -> int | None:
    """This process's rank as a launcher set it (before mlx is imported), or None."""
    for name in _RANK_ENVS:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def expected_size() -> int:
    """How many processes the launcher started: 1 outside `mlx.launch`/`mpirun`."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MLX_WORLD_SIZE"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    hostfile = os.environ.get("MLX_HOSTFILE", "")
    if env_rank() is not None and hostfile:
        try:
            with open(hostfile) as fh:
                text = fh.read().strip()
            hosts = json.loads(text) if text else []
        except (OSError, ValueError):
            return 1
        return len(hosts) if isinstance(hosts, list) else 1
    return 1


def check_batch_size(batch_size: int, size: int) -> None:
    """mlx-lm's rule: each rank takes an equal share of every batch."""
    if batch_size % size:
        raise InputError(f"--batch-size {batch_size} does not divide by the {size} ranks of "
                         f"mlx.launch (mlx-lm's rule); use a multiple of {size}")


class Ranks:
    """The group of processes and the two collectives ppltop uses, under a watchdog."""

    def __init__(self, group):
        import mlx.core as mx

        self._mx = mx
        self.group = group
        self.rank = group.rank()
        self.size = group.size()
        self.run_dir = None
        """Named in the message when the watchdog ends the run (set by the caller)."""
        self.where = ""
        """What the ranks are doing, for messages: 'batch 7 of 13'."""
        self.slowest_batch_s = 0.0
        self._sequence = 0
        self._waiting_since: float | None = None
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    @classmethod
    def join(cls) -> Ranks | None:
        """The group `mlx.launch` started this process in, or None for a single process."""
        want = expected_size()
        if env_rank() is None and want == 1:
            return None
        import mlx.core as mx

        try:
            group = mx.distributed.init(strict=want > 1)
        except RuntimeError as e:
            raise InputError(f"mx.distributed could not start ({e}); check the hosts and "
                             "ports given to mlx.launch") from e
        if group.size() != want and want > 1:
            raise InputError(f"mx.distributed started {group.size()} ranks but the launcher "
                             f"asked for {want}")
        return cls(group) if group.size() > 1 else None

    # -- collectives -----------------------------------------------------------------
    def _gather(self, array: np.ndarray) -> np.ndarray:
        mx = self._mx
        with self._lock:
            self._waiting_since = time.monotonic()
        try:
            out = mx.distributed.all_gather(mx.array(array), group=self.group, stream=mx.cpu)
            return np.array(out)
        except RuntimeError as e:
            raise self._lost(str(e)) from None
        finally:
            with self._lock:
                self._waiting_since = None

    def exchange(self, payload: bytes, stop: bool) -> tuple[list[bytes] | None, bool]:
        """Every rank's payload (on rank 0; None elsewhere), and whether any rank asked to
        stop.

        A ring collective that loses a peer does not always raise: it can return whatever
        was in its buffers. So every header carries a marker and the exchange's sequence
        number, and every payload its CRC-32; anything else means a rank was lost.
        """
        self._sequence += 1
        head = [_MARKER, self._sequence, len(payload), int(stop), zlib.crc32(payload)]
        heads = self._gather(np.array(head, dtype=np.int64))
        heads = heads.reshape(self.size, len(head)) if heads.size == self.size * len(head) \
            else np.zeros((self.size, len(head)), dtype=np.int64)
        if not ((heads[:, 0] == _MARKER).all() and (heads[:, 1] == self._sequence).all()
                and (heads[:, 2] >= 0).all() and (heads[:, 2] < _MAX_PAYLOAD).all()):
            raise self._lost("garbled data from the ring")
        stop_any = bool(heads[:, 3].any())
        longest = int(heads[:, 2].max())
        if longest == 0:
            return ([b""] * self.size if self.rank == 0 else None), stop_any
        buf = np.zeros(longest, dtype=np.uint8)
        buf[:len(payload)] = np.frombuffer(payload, dtype=np.uint8)
        everything = self._gather(buf)
        if self.rank != 0:
            return None, stop_any
        if everything.size != self.size * longest:
            raise self._lost("garbled data from the ring")
        everything = everything.reshape(self.size, longest)
        payloads = [everything[r, :int(heads[r, 2])].tobytes() for r in range(self.size)]
        if any(zlib.crc32(p) != int(heads[r, 4]) for r, p in enumerate(payloads)):
            raise self._lost("garbled data from the ring")
        return payloads, stop_any

    def _lost(self, why: str) -> RankLost:
        return RankLost(f"lost the connection to another rank ({why}): a rank stopped or "
                        "its host is unreachable")

    def agree(self, error: str | None, plan_key: str) -> None:
        """All ranks meet once before scoring: each says whether it is ready (or its error)
        and what it planned. Rank 0 raises one InputError for all; the others QuietExit."""
        mine = json.dumps({"error": error, "plan": plan_key}).encode()
        everything, _ = self.exchange(mine, False)
        if self.rank != 0:
            # rank 0 decides and reports; the others only learn whether to go on
            _, refused = self.exchange(b"", False)
            if refused:
                raise QuietExit(2)
            return
        states = [json.loads(b) for b in everything]
        errors = [s["error"] for s in states]
        if errors[0] and len(set(errors)) == 1:
            problems = [errors[0]]  # the same on every rank: say it once
        else:
            problems = [e if r == 0 else f"rank {r}: {e}" for r, e in enumerate(errors) if e]
        if not problems and len({s["plan"] for s in states}) > 1:
            plans = "; ".join(f"rank {r}: {s['plan'].split('|')[0]}" for r, s in enumerate(states))
            problems.append(f"the ranks planned different batches ({plans}): every host needs "
                            "the same model, adapters and data at the same paths")
        self.exchange(b"", bool(problems))
        if problems:
            raise InputError("; ".join(problems))

    # -- watchdog --------------------------------------------------------------------
    def timeout_s(self) -> float:
        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        try:
            if raw:
                return max(1.0, float(raw))
        except ValueError:
            pass
        return max(300.0, 20 * self.slowest_batch_s)

    def start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="ppltop-rank-watchdog",
                                              daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                since = self._waiting_since
            if since is None or time.monotonic() - since < self.timeout_s():
                continue
            who = "ppltop: " if self.rank == 0 else f"ppltop: rank {self.rank}: "
            keep = (f"; the run directory {self.run_dir} keeps every batch before it; continue "
                    f"with: ppltop resume {self.run_dir}" if self.run_dir else "")
            sys.stderr.write(f"{who}no answer from another rank for {self.timeout_s():.0f} s "
                             f"in {self.where or 'the run'} (a rank hangs or its host is "
                             f"unreachable; {TIMEOUT_ENV} sets the limit){keep}\n")
            sys.stderr.flush()
            os._exit(1)


def _encode(scored: dict, labels: list[str]) -> bytes:
    """{label: (completed examples, loss sum)} as .npz bytes (the run directory's format)."""
    arrays = {"loss_sums": np.array([scored[label][1] for label in labels], dtype=np.float64)}
    for number, label in enumerate(labels):
        for name, value in pack(scored[label][0]).items():
            arrays[f"l{number}_{name}"] = value
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _decode(payload: bytes, labels: list[str]) -> dict:
    with np.load(io.BytesIO(payload)) as data:
        loss_sums = data["loss_sums"]
        out = {}
        for number, label in enumerate(labels):
            prefix = f"l{number}_"
            part = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
            out[label] = (unpack(part), float(loss_sums[number]))
    return out


class Sharding:
    """How an `Evaluation` spreads its batches over the ranks: `Evaluation(config,
    sharding=Sharding(ranks))` wraps its scorer in a `ShardedScorer`."""

    def __init__(self, ranks: Ranks):
        self.ranks = ranks
        self.size = ranks.size

    def wrap(self, scorer: BatchScorer) -> ShardedScorer:
        return ShardedScorer(scorer, self.ranks)


class ShardedScorer:
    """Scores this rank's rows of each batch with the scorer it wraps, then gathers every
    rank's examples to rank 0 (see the module docstring); a stop request is agreed on at
    the gather, so every rank stops after the same batch."""

    stops_together = True

    def __init__(self, inner: BatchScorer, ranks: Ranks):
        self.inner = inner
        self.ranks = ranks
        self.plan = inner.plan
        self.busy_s = inner.busy_s
        self.peak_bytes = inner.peak_bytes
        self.stop_agreed = False
        self._owner: dict[int, int] = {}
        for batch in self.plan.batches:  # an example's later windows go where its first went
            for row, segment in enumerate(batch):
                if segment.window == 0:
                    self._owner[segment.example] = row % ranks.size

    def rows_of(self, batch: list, rank: int) -> list:
        """The segments of `batch` rank `rank` scores: rows rank::size, windows with their
        example's first window."""
        size = self.ranks.size
        return [s for row, s in enumerate(batch)
                if (row % size if s.window == 0 else self._owner[s.example]) == rank]

    def score(self, number: int, batch: list, stop_requested: bool = False,
              labels: list[str] | None = None) -> dict:
        """Every label on this rank's rows (ranks hold every model together: `labels` is
        always all of them)."""
        ranks, labels = self.ranks, self.plan.labels
        ranks.start_watchdog()
        ranks.where = f"batch {number + 1} of {len(self.plan.batches)}"
        mine = self.rows_of(batch, ranks.rank)
        t0 = time.perf_counter()
        if mine:
            scored = self.inner.score(number, mine)
        else:
            scored = {label: ([], 0.0) for label in labels}
        ranks.slowest_batch_s = max(ranks.slowest_batch_s, time.perf_counter() - t0)
        t1 = time.perf_counter()
        payloads, stop = ranks.exchange(_encode(scored, labels), stop_requested)
        waited = time.perf_counter() - t1
        for label in labels:
            self.busy_s[label] += waited / len(labels)
        self.stop_agreed = stop
        if payloads is None:
            return scored
        merged = {label: ([], 0.0) for label in labels}
        for rank, payload in enumerate(payloads):
            theirs = scored if rank == ranks.rank else _decode(payload, labels)
            for label in labels:
                done, loss = merged[label]
                merged[label] = (done + theirs[label][0], loss + theirs[label][1])
        row = {s.example: i for i, s in enumerate(batch)}
        for label in labels:  # in the batch's row order, as one process lists them
            done, loss = merged[label]
            merged[label] = (sorted(done, key=lambda r: row[r.example]), loss)
        return merged


def plan_key(plan) -> str:
    """What this rank planned (a `ScoringPlan`): readable counts, then a hash of every
    batch's rows, so ranks that planned differently are caught before scoring."""
    h = hashlib.sha256()
    for batch in plan.batches:
        h.update(repr([(s.example, s.start, s.end) for s in batch]).encode())
    p = plan.run_plan
    return (f"{p.n_examples} examples, {p.n_batches} batches, {p.targets_per_label} "
            f"targets, labels {', '.join(p.labels)}|{h.hexdigest()}")
