import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from protocol import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_ROLE_UNSPECIFIED: _ClassVar[NodeRole]
    NODE_ROLE_CONTROL: _ClassVar[NodeRole]
    NODE_ROLE_EXECUTION: _ClassVar[NodeRole]
    NODE_ROLE_CLIENT: _ClassVar[NodeRole]
NODE_ROLE_UNSPECIFIED: NodeRole
NODE_ROLE_CONTROL: NodeRole
NODE_ROLE_EXECUTION: NodeRole
NODE_ROLE_CLIENT: NodeRole

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchStateRequest(_message.Message):
    __slots__ = ("interval_ms",)
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    def __init__(self, interval_ms: _Optional[int] = ...) -> None: ...

class NodeState(_message.Message):
    __slots__ = ("node_id", "role", "hardware_profile", "timestamp", "cpu", "memory", "storage", "trust", "sequence", "execution_nodes", "code_digest", "uptime_seconds", "last_sequence")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_NODES_FIELD_NUMBER: _ClassVar[int]
    CODE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: NodeRole
    hardware_profile: str
    timestamp: _timestamp_pb2.Timestamp
    cpu: CpuState
    memory: MemoryState
    storage: StorageState
    trust: _ledger_pb2.TrustReport
    sequence: int
    execution_nodes: _containers.RepeatedCompositeFieldContainer[ExecutionNodeView]
    code_digest: str
    uptime_seconds: float
    last_sequence: int
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[_Union[NodeRole, str]] = ..., hardware_profile: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu: _Optional[_Union[CpuState, _Mapping]] = ..., memory: _Optional[_Union[MemoryState, _Mapping]] = ..., storage: _Optional[_Union[StorageState, _Mapping]] = ..., trust: _Optional[_Union[_ledger_pb2.TrustReport, _Mapping]] = ..., sequence: _Optional[int] = ..., execution_nodes: _Optional[_Iterable[_Union[ExecutionNodeView, _Mapping]]] = ..., code_digest: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., last_sequence: _Optional[int] = ...) -> None: ...

class ExecutionNodeView(_message.Message):
    __slots__ = ("node_id", "selectable", "reason", "trust", "outstanding")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    selectable: bool
    reason: str
    trust: _ledger_pb2.TrustReport
    outstanding: int
    def __init__(self, node_id: _Optional[str] = ..., selectable: _Optional[bool] = ..., reason: _Optional[str] = ..., trust: _Optional[_Union[_ledger_pb2.TrustReport, _Mapping]] = ..., outstanding: _Optional[int] = ...) -> None: ...

class CpuState(_message.Message):
    __slots__ = ("logical_count", "physical_count", "utilization_percent", "per_core_utilization_percent", "load_average_1m", "load_average_5m", "load_average_15m", "frequency_current_mhz", "frequency_max_mhz", "user_percent", "system_percent", "idle_percent", "iowait_percent", "steal_percent", "nice_percent", "irq_percent", "softirq_percent", "limit_cores")
    LOGICAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PER_CORE_UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVERAGE_1M_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVERAGE_5M_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVERAGE_15M_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_CURRENT_MHZ_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_MAX_MHZ_FIELD_NUMBER: _ClassVar[int]
    USER_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PERCENT_FIELD_NUMBER: _ClassVar[int]
    IDLE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    IOWAIT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STEAL_PERCENT_FIELD_NUMBER: _ClassVar[int]
    NICE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    IRQ_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SOFTIRQ_PERCENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_CORES_FIELD_NUMBER: _ClassVar[int]
    logical_count: int
    physical_count: int
    utilization_percent: float
    per_core_utilization_percent: _containers.RepeatedScalarFieldContainer[float]
    load_average_1m: float
    load_average_5m: float
    load_average_15m: float
    frequency_current_mhz: float
    frequency_max_mhz: float
    user_percent: float
    system_percent: float
    idle_percent: float
    iowait_percent: float
    steal_percent: float
    nice_percent: float
    irq_percent: float
    softirq_percent: float
    limit_cores: float
    def __init__(self, logical_count: _Optional[int] = ..., physical_count: _Optional[int] = ..., utilization_percent: _Optional[float] = ..., per_core_utilization_percent: _Optional[_Iterable[float]] = ..., load_average_1m: _Optional[float] = ..., load_average_5m: _Optional[float] = ..., load_average_15m: _Optional[float] = ..., frequency_current_mhz: _Optional[float] = ..., frequency_max_mhz: _Optional[float] = ..., user_percent: _Optional[float] = ..., system_percent: _Optional[float] = ..., idle_percent: _Optional[float] = ..., iowait_percent: _Optional[float] = ..., steal_percent: _Optional[float] = ..., nice_percent: _Optional[float] = ..., irq_percent: _Optional[float] = ..., softirq_percent: _Optional[float] = ..., limit_cores: _Optional[float] = ...) -> None: ...

class MemoryState(_message.Message):
    __slots__ = ("total_bytes", "available_bytes", "used_bytes", "used_percent", "limit_bytes", "agent_rss_bytes")
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_PERCENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    AGENT_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    total_bytes: int
    available_bytes: int
    used_bytes: int
    used_percent: float
    limit_bytes: int
    agent_rss_bytes: int
    def __init__(self, total_bytes: _Optional[int] = ..., available_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., used_percent: _Optional[float] = ..., limit_bytes: _Optional[int] = ..., agent_rss_bytes: _Optional[int] = ...) -> None: ...

class StorageState(_message.Message):
    __slots__ = ("mounts", "disks", "data_mount")
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISKS_FIELD_NUMBER: _ClassVar[int]
    DATA_MOUNT_FIELD_NUMBER: _ClassVar[int]
    mounts: _containers.RepeatedCompositeFieldContainer[MountState]
    disks: _containers.RepeatedCompositeFieldContainer[DiskIoState]
    data_mount: str
    def __init__(self, mounts: _Optional[_Iterable[_Union[MountState, _Mapping]]] = ..., disks: _Optional[_Iterable[_Union[DiskIoState, _Mapping]]] = ..., data_mount: _Optional[str] = ...) -> None: ...

class MountState(_message.Message):
    __slots__ = ("mountpoint", "device", "fstype", "total_bytes", "free_bytes")
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    FSTYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    mountpoint: str
    device: str
    fstype: str
    total_bytes: int
    free_bytes: int
    def __init__(self, mountpoint: _Optional[str] = ..., device: _Optional[str] = ..., fstype: _Optional[str] = ..., total_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ...) -> None: ...

class DiskIoState(_message.Message):
    __slots__ = ("device", "read_bytes", "write_bytes", "read_count", "write_count", "read_bytes_per_second", "write_bytes_per_second")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    READ_COUNT_FIELD_NUMBER: _ClassVar[int]
    WRITE_COUNT_FIELD_NUMBER: _ClassVar[int]
    READ_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    WRITE_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    device: str
    read_bytes: int
    write_bytes: int
    read_count: int
    write_count: int
    read_bytes_per_second: float
    write_bytes_per_second: float
    def __init__(self, device: _Optional[str] = ..., read_bytes: _Optional[int] = ..., write_bytes: _Optional[int] = ..., read_count: _Optional[int] = ..., write_count: _Optional[int] = ..., read_bytes_per_second: _Optional[float] = ..., write_bytes_per_second: _Optional[float] = ...) -> None: ...
