"""How an audit reads a vdlt testbed: each execution node's chain, through its agent's port.

The node's own gRPC server answers ``NodeAgent.GetState`` (``last_sequence``: how far its chain
goes, taken when a run begins) and ``Execution.ReadCommits`` (the commits after a sequence, read
back from its blocks, without their writes: the audit needs which transaction and which result).
That is the same port the controller already reaches for ``status``, for a node on this machine
as for one on the shelf. The chain of a node whose agent is down is read from its blocks file:
here for a node on this machine, over SSH for one on the shelf. A confirmed transaction must be
in as many chains as its class's quorum in the control node's policy (the inventory's
``vdlt_policy_file``, or the default).
"""
from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import paramiko

from harness.audit.check import ChainCommit, NodeChain
from harness.provision.inventory import Inventory, Node, check_policy_file
from harness.provision.remote_exec import connection
from protocol import ledger_pb2, ledger_pb2_grpc, node_agent_pb2, node_agent_pb2_grpc
from protocol.tls import TlsFiles, channel
from vdlt.cos import ServiceClass
from vdlt.ledger import chain_commits
from vdlt.policy import Policy, load_policy

STATE_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0


class VdltChains:
    names_by_ref = False

    def __init__(self, inventory: Inventory, tls: TlsFiles | None) -> None:
        self.nodes = inventory.by_role("execution")
        self.tls = tls
        control = inventory.by_role("control")[0]
        policy_file = control.variables.get("vdlt_policy_file")
        self.policy: Policy = (check_policy_file(inventory.directory, policy_file) if policy_file is not None
                               else load_policy())

    def quorum(self, class_given: str) -> int:
        class_policy = self.policy.classes[ServiceClass.from_slug(class_given)]
        return class_policy.quorum_of(class_policy.replicas)

    def marks(self) -> dict[str, int]:
        """How far each execution node's chain goes now; a node that does not answer is left out."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            answers = dict(zip((n.name for n in self.nodes), pool.map(self._last_sequence, self.nodes)))
        return {name: last for name, last in answers.items() if last is not None}

    def _last_sequence(self, node: Node) -> int | None:
        try:
            with channel(node.endpoint, self.tls) as grpc_channel:
                state = node_agent_pb2_grpc.NodeAgentStub(grpc_channel).GetState(
                    node_agent_pb2.GetStateRequest(), timeout=STATE_TIMEOUT_S)
        except grpc.RpcError:
            return None
        return state.last_sequence

    def read(self, after: int) -> list[NodeChain]:
        """Every execution node's commits after sequence ``after``, read at the same time."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            return list(pool.map(lambda node: self._read(node, after), self.nodes))

    def _read(self, node: Node, after: int) -> NodeChain:
        chain = NodeChain(node.name, after)
        request = ledger_pb2.ReadCommitsRequest(after_sequence=after, omit_writes=True)
        try:
            with channel(node.endpoint, self.tls) as grpc_channel:
                for batch in ledger_pb2_grpc.ExecutionStub(grpc_channel).ReadCommits(request, timeout=READ_TIMEOUT_S):
                    chain.commits.extend(ChainCommit(c.sequence, c.transaction.id, c.accepted, c.result_digest)
                                         for c in batch.commits)
        except grpc.RpcError as error:
            chain.commits.clear()
            chain.error = f"{error.code().name}: {error.details()}"  # type: ignore[attr-defined]
            self._read_file(node, chain)
        return chain

    @staticmethod
    def _read_file(node: Node, chain: NodeChain) -> None:
        """The chain of a node whose agent does not answer, from its blocks file: here for a node on
        this machine, fetched over SSH (SFTP, host key checked) for one on the shelf."""
        path = f"{node.node_dir}/ledger/blocks.jsonl"
        with tempfile.TemporaryDirectory(prefix="vdlt-audit-") as scratch:
            if node.on_controller:
                local = Path(path)
                if not local.is_file():
                    chain.error += f"; no {path}"
                    return
            else:
                local = Path(scratch) / "blocks.jsonl"
                try:
                    with connection(node) as conn:
                        conn.get(path, str(local))
                except (paramiko.SSHException, OSError) as error:
                    chain.error += f"; over SSH: {type(error).__name__}: {error}"
                    return
            chain.commits = [ChainCommit(tx.sequence, tx.id, tx.accepted, tx.result_digest)
                             for tx in chain_commits(local) if tx.sequence > chain.after]
        chain.error = ""
