"""The one place the harness drives Ansible, through ansible-runner's API.

Each call gets a fresh private data directory (ansible-runner otherwise re-reads env files an
earlier run left behind), a short SSH control-path directory (ssh fails for every host when the
socket path reaches 80 bytes), host-key checking switched back on (ansible-runner switches it
off), pipelining, forks equal to the number of hosts, and an event handler that turns events
into per-host progress and typed per-host results.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import ansible_runner

from harness import interrupt
from harness.provision.inventory import Inventory
from protocol.errors import HarnessError

PLAYBOOK_DIR = Path(__file__).resolve().parents[2] / "playbooks"

_FAILED_EVENTS = {"runner_on_failed"}
_UNREACHABLE_EVENTS = {"runner_on_unreachable"}


@dataclass
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: bool = False
    skipped: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"


@dataclass
class PlaybookResult:
    playbook: str
    rc: int
    status: str
    hosts: dict[str, HostResult]
    degraded: list[str] = field(default_factory=list)
    """Hosts that failed or were unreachable while the action went on without them."""
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """ansible_facts per host: what the playbook gathered, and what its tasks set with set_fact."""

    @property
    def failed_hosts(self) -> list[HostResult]:
        return [h for h in self.hosts.values() if h.state in ("failed", "unreachable")]



TaskCallback = Callable[[str, str, str], None]
"""(host, task name, outcome) for every finished task on a host."""


def run_playbook(
    playbook: str,
    inventory: Inventory,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    on_task: TaskCallback | None = None,
    timeout_s: float | None = None,
    cancel: Callable[[], bool] = interrupt.requested,
) -> PlaybookResult:
    """Runs a playbook. ``cancel`` is asked a few times a second: when it says so, Ansible is
    stopped and :class:`harness.interrupt.Interrupted` raised (given no cancel callback,
    ansible-runner would take over SIGINT and SIGTERM for good, and a later signal would no
    longer stop the harness). After ``timeout_s`` Ansible is stopped too, and the result says
    which hosts did not finish."""
    results: dict[str, HostResult] = {node.name: HostResult(node.name) for node in inventory.nodes}
    facts: dict[str, dict[str, Any]] = {}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {})
        host = data.get("host")
        kind = event.get("event", "")
        if host and kind.startswith("runner_on_"):
            result = results.setdefault(host, HostResult(host))
            res = data.get("res") or {}
            if kind == "runner_on_ok" and "ansible_facts" in res:
                facts.setdefault(host, {}).update(res["ansible_facts"])
            if kind in _FAILED_EVENTS and not data.get("ignore_errors"):
                result.messages.append(_message(data.get("task", ""), res))
            elif kind in _UNREACHABLE_EVENTS:
                result.messages.append(_message(data.get("task", ""), res))
            if on_task and kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
                outcome = kind.removeprefix("runner_on_")
                if kind == "runner_on_ok" and res.get("changed"):
                    outcome = "changed"
                on_task(host, data.get("task", ""), outcome)
        return True  # False would drop the event from ansible-runner's artifacts

    private_dir = Path(tempfile.mkdtemp(prefix="harness-ansible-"))
    # How often ansible-runner asks `cancel` (5 s by default): a stop is seen within this. Read
    # from this file only (a `settings` argument is dropped when the file is missing).
    (private_dir / "env").mkdir()
    (private_dir / "env" / "settings").write_text("pexpect_timeout: 0.2\n")
    # /tmp/hac-XXXXXXXX: the control socket path stays far below ssh's 80-byte limit.
    control_path_dir = tempfile.mkdtemp(prefix="hac-", dir="/tmp")
    venv_bin = str(Path(sys.executable).parent)
    envvars = {
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": control_path_dir,
        "ANSIBLE_ROLES_PATH": str(PLAYBOOK_DIR / "roles"),
        "ANSIBLE_LOCAL_TEMP": str(private_dir / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        # One ssh round trip per task instead of several: most of an idempotent run's time.
        "ANSIBLE_PIPELINING": "1",
        # Ansible's default ssh arguments without -C: what the nodes get is mostly the bundle,
        # which is gzipped already, and compressing it again costs CPU on both ends.
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
        # ansible-runner turns host-key checking off unless told otherwise; Ansible then passes
        # StrictHostKeyChecking=no ahead of the inventory's own ssh options (ssh keeps the first
        # value) and unknown keys are silently added to known_hosts.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
    }
    try:
        with interrupt.polled():
            runner = ansible_runner.run(
                private_data_dir=str(private_dir),
                playbook=str(PLAYBOOK_DIR / playbook),
                inventory=str(inventory.path.resolve()),
                extravars={"harness_python": sys.executable, **(extravars or {})},
                envvars=envvars,
                limit=limit,
                forks=max(len(inventory.nodes), 1),
                event_handler=handle,
                suppress_env_files=True,
                # Facts live as long as the run (its private directory goes with it): ansible-runner's
                # default, a JSON file per host, is read from disk for every host at every task.
                fact_cache_type="memory",
                quiet=True,
                cancel_callback=cancel,
                timeout=int(timeout_s) if timeout_s else None,
            )
        if runner.status == "canceled":
            interrupt.check()
        for host, result in results.items():
            stats = runner.stats or {}
            result.ok = stats.get("ok", {}).get(host, 0)
            result.changed = stats.get("changed", {}).get(host, 0)
            result.failed = stats.get("failures", {}).get(host, 0)
            result.skipped = stats.get("skipped", {}).get(host, 0)
            result.unreachable = host in stats.get("dark", {})
        if runner.status == "timeout":
            for result in results.values():
                if not (result.failed or result.unreachable):
                    result.failed += 1
                    result.messages.append(f"stopped: {playbook} did not finish within {timeout_s:g} s")
        elif runner.rc != 0 and not any(r.failed or r.unreachable for r in results.values()):
            # The playbook failed before any host ran (syntax, missing module): say why.
            stdout = runner.stdout.read() if runner.stdout else ""
            raise AnsibleError(f"{playbook} failed (rc={runner.rc}) before reaching any host:\n{stdout[-3000:]}")
        return PlaybookResult(playbook, runner.rc, runner.status, results, facts=facts)
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)
        shutil.rmtree(control_path_dir, ignore_errors=True)


class AnsibleError(HarnessError):
    pass


def _message(task: str, res: dict[str, Any]) -> str:
    # A loop's own message is "All items completed": the cause is in the items.
    for item in res.get("results") or []:
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            res = item
            break
    # A command's own output says more than Ansible's "non-zero return code": its stderr, or
    # its stdout when it wrote nothing to stderr.
    failed_output = res.get("stdout") if res.get("rc") else ""
    text = res.get("stderr") or res.get("module_stderr") or failed_output or res.get("msg") or ""
    if isinstance(text, list):
        text = " ".join(map(str, text))
    text = str(text).strip()
    # The cause is usually at the end of a long output.
    return f"{task}: {text if len(text) <= 500 else '...' + text[-500:]}"
