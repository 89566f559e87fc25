from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReceiptStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECEIPT_STATUS_UNSPECIFIED: _ClassVar[ReceiptStatus]
    RECEIPT_STATUS_CONFIRMED: _ClassVar[ReceiptStatus]
    RECEIPT_STATUS_REJECTED: _ClassVar[ReceiptStatus]
    RECEIPT_STATUS_DROPPED: _ClassVar[ReceiptStatus]
    RECEIPT_STATUS_ERROR: _ClassVar[ReceiptStatus]
    RECEIPT_STATUS_UNKNOWN: _ClassVar[ReceiptStatus]
RECEIPT_STATUS_UNSPECIFIED: ReceiptStatus
RECEIPT_STATUS_CONFIRMED: ReceiptStatus
RECEIPT_STATUS_REJECTED: ReceiptStatus
RECEIPT_STATUS_DROPPED: ReceiptStatus
RECEIPT_STATUS_ERROR: ReceiptStatus
RECEIPT_STATUS_UNKNOWN: ReceiptStatus

class TransactionBatch(_message.Message):
    __slots__ = ("transactions", "timeout_ms")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    timeout_ms: int
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ReceiptBatch(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[Receipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[Receipt, _Mapping]]] = ...) -> None: ...

class ReadCommitsRequest(_message.Message):
    __slots__ = ("after_sequence", "through_sequence", "omit_writes")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    THROUGH_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OMIT_WRITES_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    through_sequence: int
    omit_writes: bool
    def __init__(self, after_sequence: _Optional[int] = ..., through_sequence: _Optional[int] = ..., omit_writes: _Optional[bool] = ...) -> None: ...

class CommitBatch(_message.Message):
    __slots__ = ("commits",)
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    commits: _containers.RepeatedCompositeFieldContainer[Commit]
    def __init__(self, commits: _Optional[_Iterable[_Union[Commit, _Mapping]]] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("id", "cos", "source", "contract", "operation", "arguments_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    COS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    cos: int
    source: str
    contract: str
    operation: str
    arguments_json: str
    def __init__(self, id: _Optional[str] = ..., cos: _Optional[int] = ..., source: _Optional[str] = ..., contract: _Optional[str] = ..., operation: _Optional[str] = ..., arguments_json: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("transaction_id", "status", "reason", "cos_asked", "cos_given", "execution_nodes", "block_height", "result_digest", "result_json", "timings", "sequence")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COS_ASKED_FIELD_NUMBER: _ClassVar[int]
    COS_GIVEN_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_NODES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESULT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    status: ReceiptStatus
    reason: str
    cos_asked: int
    cos_given: int
    execution_nodes: _containers.RepeatedScalarFieldContainer[str]
    block_height: int
    result_digest: str
    result_json: str
    timings: Timings
    sequence: int
    def __init__(self, transaction_id: _Optional[str] = ..., status: _Optional[_Union[ReceiptStatus, str]] = ..., reason: _Optional[str] = ..., cos_asked: _Optional[int] = ..., cos_given: _Optional[int] = ..., execution_nodes: _Optional[_Iterable[str]] = ..., block_height: _Optional[int] = ..., result_digest: _Optional[str] = ..., result_json: _Optional[str] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("received_ns", "dispatched_ns", "decided_ns")
    RECEIVED_NS_FIELD_NUMBER: _ClassVar[int]
    DISPATCHED_NS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_NS_FIELD_NUMBER: _ClassVar[int]
    received_ns: int
    dispatched_ns: int
    decided_ns: int
    def __init__(self, received_ns: _Optional[int] = ..., dispatched_ns: _Optional[int] = ..., decided_ns: _Optional[int] = ...) -> None: ...

class ExecuteBatch(_message.Message):
    __slots__ = ("batch_id", "transactions", "commits", "trust")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    commits: _containers.RepeatedCompositeFieldContainer[Commit]
    trust: TrustReport
    def __init__(self, batch_id: _Optional[int] = ..., transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., commits: _Optional[_Iterable[_Union[Commit, _Mapping]]] = ..., trust: _Optional[_Union[TrustReport, _Mapping]] = ...) -> None: ...

class Write(_message.Message):
    __slots__ = ("key", "value_json")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    key: str
    value_json: str
    def __init__(self, key: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class Read(_message.Message):
    __slots__ = ("key", "version")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key: str
    version: int
    def __init__(self, key: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ExecutionResult(_message.Message):
    __slots__ = ("transaction_id", "accepted", "reason", "result_json", "result_digest", "writes", "reads")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    accepted: bool
    reason: str
    result_json: str
    result_digest: str
    writes: _containers.RepeatedCompositeFieldContainer[Write]
    reads: _containers.RepeatedCompositeFieldContainer[Read]
    def __init__(self, transaction_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., result_json: _Optional[str] = ..., result_digest: _Optional[str] = ..., writes: _Optional[_Iterable[_Union[Write, _Mapping]]] = ..., reads: _Optional[_Iterable[_Union[Read, _Mapping]]] = ...) -> None: ...

class Commit(_message.Message):
    __slots__ = ("sequence", "transaction", "accepted", "result_digest", "writes", "cos_given")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RESULT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    COS_GIVEN_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    transaction: Transaction
    accepted: bool
    result_digest: str
    writes: _containers.RepeatedCompositeFieldContainer[Write]
    cos_given: int
    def __init__(self, sequence: _Optional[int] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., accepted: _Optional[bool] = ..., result_digest: _Optional[str] = ..., writes: _Optional[_Iterable[_Union[Write, _Mapping]]] = ..., cos_given: _Optional[int] = ...) -> None: ...

class ExecuteBatchResult(_message.Message):
    __slots__ = ("batch_id", "node_id", "block_height", "block_hash", "results", "last_sequence", "refused_sequence", "refused_reason")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFUSED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    node_id: str
    block_height: int
    block_hash: str
    results: _containers.RepeatedCompositeFieldContainer[ExecutionResult]
    last_sequence: int
    refused_sequence: int
    refused_reason: str
    def __init__(self, batch_id: _Optional[int] = ..., node_id: _Optional[str] = ..., block_height: _Optional[int] = ..., block_hash: _Optional[str] = ..., results: _Optional[_Iterable[_Union[ExecutionResult, _Mapping]]] = ..., last_sequence: _Optional[int] = ..., refused_sequence: _Optional[int] = ..., refused_reason: _Optional[str] = ...) -> None: ...

class TrustReport(_message.Message):
    __slots__ = ("score", "success_evidence", "failure_evidence", "agreements", "dissents", "timeouts")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    DISSENTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    score: float
    success_evidence: float
    failure_evidence: float
    agreements: int
    dissents: int
    timeouts: int
    def __init__(self, score: _Optional[float] = ..., success_evidence: _Optional[float] = ..., failure_evidence: _Optional[float] = ..., agreements: _Optional[int] = ..., dissents: _Optional[int] = ..., timeouts: _Optional[int] = ...) -> None: ...
