"""The audit of one run: its receipts from the run folder, its chains from the testbed.

Reading chains is a capability of the system a connector talks to: :data:`CHAIN_SOURCES` maps
a connector's name to what reads its nodes' chains (vdlt: :mod:`harness.audit.vdlt`). A run
marks where each chain stands before its first round (the manifest's ``chains_at_start``); the
audit, at the end of the run or later with ``harness audit RUN_DIR``, reads every chain from the
lowest mark, checks it against every receipt (:func:`harness.audit.check.audit`) and writes
``audit.json``.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Protocol

from harness.audit.check import AuditReport, NodeChain, ReceiptBook, audit
from harness.audit.vdlt import VdltChains
from harness.provision import tls
from harness.provision.inventory import Inventory, load_inventory
from harness.store.folder import RunFolder
from harness.store.records import iter_table
from protocol.errors import ConfigError
from protocol.tls import TlsFiles


class ChainSource(Protocol):
    def marks(self) -> dict[str, int]:
        """How far each node's chain goes now (the nodes that answer)."""

    def read(self, after: int) -> list[NodeChain]:
        """Every node's chain after sequence ``after`` (a node that cannot be read says why)."""

    def quorum(self, class_given: str) -> int:
        """In how many chains a confirmed transaction of that class must be."""

    @property
    def names_by_ref(self) -> bool:
        """Its chains name transactions by the system's own ``ref`` (an Ethereum hash), not by the
        run's ids: only records with a ref are transactions to look for (the rest are reads, or
        sends refused before they had a name)."""


def _vdlt(inventory: Inventory | None, tls: TlsFiles | None, setup: dict[str, Any]) -> ChainSource | None:
    return VdltChains(inventory, tls) if inventory is not None else None


def _ethereum(inventory: Inventory | None, tls: TlsFiles | None, setup: dict[str, Any]) -> ChainSource | None:
    from harness.audit.ethereum import EthereumChain  # its JSON-RPC client only where a chain is Ethereum's

    url = setup.get("url")
    return EthereumChain(url) if url else None


# Per connector: what reads its system's chains, from the testbed's inventory or from what the
# run's set-up recorded (Connector.prepare_run's "record": an Ethereum chain's url).
CHAIN_SOURCES: dict[str, Callable[[Inventory | None, TlsFiles | None, dict[str, Any]], ChainSource | None]] = {
    "vdlt": _vdlt, "ethereum": _ethereum}


def chain_source(connector: str, inventory: Inventory | None, tls: TlsFiles | None,
                 setup: dict[str, Any] | None = None) -> ChainSource | None:
    """What reads the chains of the system behind ``connector``; None when it has no such
    capability, or nothing says where its chains are."""
    make = CHAIN_SOURCES.get(connector)
    return make(inventory, tls, setup or {}) if make is not None else None


def receipts_of(folder: RunFolder, by_ref: bool = False) -> tuple[ReceiptBook, dict[str, str]]:
    """Every receipt of the run (``by_ref``: of the transactions the system named), and the
    system's own names for its transactions (an Ethereum chain names them by hash) mapped to
    the run's ids."""
    book = ReceiptBook(folder.token, [])
    refs: dict[str, str] = {}
    for path in folder.record_files():
        column, rows = iter_table(path)
        if not column:
            continue
        tx_id, status, asked, given = column["tx_id"], column["status"], column["class_asked"], column["class_given"]
        block, ref = column.get("block_height"), column.get("ref")
        for row in rows:
            name = row[ref] if ref is not None and ref < len(row) else ""
            if by_ref and not name:
                continue
            height = int(row[block] or 0) if block is not None and block < len(row) else 0
            book.add(row[tx_id], row[status], row[asked], row[given], height)
            if name:
                refs[name] = row[tx_id]
    return book, refs


def _by_run_ids(chains: list[NodeChain], refs: dict[str, str]) -> list[NodeChain]:
    if not refs:
        return chains
    return [dataclasses.replace(chain, commits=[dataclasses.replace(c, tx_id=refs.get(c.tx_id, c.tx_id))
                                                for c in chain.commits]) for chain in chains]


def audit_run(folder: RunFolder, source: ChainSource, marks: dict[str, int] | None) -> AuditReport:
    """Audits the run and writes ``audit.json``; ``marks`` are the chains' ends when it began."""
    started = time.monotonic()
    if not folder.token:
        report = AuditReport.skipped_because(f"{folder.path.name} does not end in a run token: its transactions "
                                             f"cannot be told from others")
    elif not marks:
        report = AuditReport.skipped_because("no execution node said how far its chain went when the run began")
    else:
        book, refs = receipts_of(folder, source.names_by_ref)
        report = audit(book, _by_run_ids(source.read(min(marks.values())), refs), source.quorum)
        if all(node.error for node in report.nodes):
            report.skipped = "no execution node's chain could be read: " + "; ".join(
                f"{node.node}: {node.error}" for node in report.nodes)
    report.elapsed_s = time.monotonic() - started
    folder.write_audit(report.to_json())
    return report


def audit_folder(folder: RunFolder, inventory_path: Path | None = None) -> AuditReport:
    """``harness audit RUN_DIR``: the audit of a finished run, against the testbed it ran on
    (``inventory_path``, or the inventory its summary names); the summary keeps the result."""
    summary = folder.read_summary()
    ledger = (folder.read_manifest() or {}).get("ledger") or {}
    if "chains_at_start" not in ledger:
        raise ConfigError(folder.manifest_path, "ledger", "this run did not mark its chains when it began (it ran "
                                                           "without an inventory, with --no-audit, or before audits)")
    connector = ledger.get("connector", "vdlt")
    if connector == "vdlt":
        source_path = inventory_path or (Path(summary.inventory_source) if summary.inventory_source else None)
        if source_path is None:
            raise ConfigError(folder.summary_path, "inventory", "the run names no inventory: give one with -i")
        inventory: Inventory | None = load_inventory(source_path)
        tls_files = tls.controller_files(inventory)  # type: ignore[arg-type]
    else:
        inventory, tls_files = None, None
    source = chain_source(connector, inventory, tls_files, ledger.get("setup"))
    if source is None:
        raise ConfigError(folder.manifest_path, "ledger.connector",
                          f"connector {ledger.get('connector')!r} cannot read its system's chains")
    report = audit_run(folder, source, ledger["chains_at_start"])
    summary.audit = report
    folder.write_summary(summary)
    return report
