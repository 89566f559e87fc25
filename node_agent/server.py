"""One gRPC server per node: NodeAgent, health, and the node's vdlt role."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from node_agent.config import NodeConfig
from node_agent.service import NodeAgentService, RoleState
from node_agent.state import StateSampler
from protocol import ledger_pb2_grpc, node_agent_pb2, node_agent_pb2_grpc
from protocol.decoding import DecodeRequests
from protocol.errors import HarnessError
from protocol.tls import add_port
from vdlt.control import ControlService
from vdlt.execution import ExecutionService
from vdlt.ledger import BlockLog, LedgerError
from vdlt.policy import load_policy

log = logging.getLogger("node_agent")

# The name health checks ask for; "" (the whole server) is served too.
HEALTH_SERVICE = "vdlt.nodeagent.v1.NodeAgent"


def _async(function):  # type: ignore[no-untyped-def]
    async def call() -> None:
        function()
    return call


async def serve(config: NodeConfig, on_serving: Callable[[], None] | None = None) -> None:
    """Serves until SIGTERM or SIGINT; calls ``on_serving`` once it answers health checks."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    server = grpc.aio.server(interceptors=[DecodeRequests()])
    sampler = StateSampler(config.node_id, config.role, config.hardware_profile, config.data_dir,
                           config.sample_interval_s)
    closers = []
    role_state: RoleState | None = None
    if config.role == "control":
        try:
            control = ControlService(list(config.execution_nodes), load_policy(config.policy_file), config.data_dir,
                                     config.sample_interval_s, config.execution_timeout_s, config.tls,
                                     sync_log=config.fsync == "always")
        except HarnessError as error:
            raise SystemExit(f"node {config.node_id} cannot resume its commit log: {error}") from None
        control.start()
        ledger_pb2_grpc.add_ControlServicer_to_server(control, server)
        closers.append(control.close)

        def control_state(state: node_agent_pb2.NodeState) -> None:
            state.execution_nodes.extend(control.execution_views())
        role_state = control_state
    elif config.role == "execution":
        try:
            block_log = BlockLog(config.data_dir / "ledger", fsync=config.fsync)  # type: ignore[arg-type]
        except LedgerError as error:
            # The last lines of the log are what `start` reports: a message, not a traceback.
            raise SystemExit(f"node {config.node_id} cannot resume its ledger: {error}") from None
        fault = config.fault
        if fault.active:
            log.warning("node %s runs FAULTY: %s", config.node_id, fault)

        ledger_pb2_grpc.add_ExecutionServicer_to_server(
            ExecutionService(config.node_id, block_log, fault, sampler.update_trust), server)
        closers.append(_async(block_log.close))

        def execution_state(state: node_agent_pb2.NodeState) -> None:
            state.last_sequence = block_log.last_sequence
        role_state = execution_state

    node_agent_pb2_grpc.add_NodeAgentServicer_to_server(NodeAgentService(sampler, role_state), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if add_port(server, config.listen, config.tls) == 0:
        raise SystemExit(f"node {config.node_id}: cannot listen on {config.listen}")
    await server.start()
    for name in ("", HEALTH_SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("node %s (%s) serving on %s%s", config.node_id, config.role, config.listen,
             " with mutual TLS" if config.tls else "")
    if on_serving is not None:
        on_serving()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("node %s stopping", config.node_id)
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=2)
    for close in closers:
        await close()
    sampler.close()
