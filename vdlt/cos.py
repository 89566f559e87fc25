"""The class-of-service byte (seed 001, Table II).

Bits 7..5 select one of eight classes; bits 4..0 are reserved and are carried unchanged.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

RESERVED_MASK = 0b0001_1111
CLASS_SHIFT = 5


class ServiceClass(enum.IntEnum):
    """The eight classes, valued by their three bits."""

    SCAVENGER = 0b000
    BEST_EFFORT = 0b001
    PRIVATE = 0b010
    MANAGEMENT_CONTROL = 0b011
    LOW_COST = 0b100
    STORAGE_INTENSIVE = 0b101
    COMPUTATION_INTENSIVE = 0b110
    FAST_CONFIRMATION = 0b111

    @property
    def slug(self) -> str:
        """The name used in benchmark files, reports and InfluxDB tags: `fast-confirmation`."""
        return self.name.lower().replace("_", "-")

    @property
    def bits(self) -> str:
        return format(self.value, "03b")

    @classmethod
    def from_slug(cls, slug: str) -> ServiceClass:
        for service_class in cls:
            if service_class.slug == slug:
                return service_class
        raise ValueError(f"unknown class of service {slug!r}")


CLASS_SLUGS: tuple[str, ...] = tuple(c.slug for c in ServiceClass)


@dataclass(frozen=True)
class CosByte:
    """A parsed CoS byte: the class plus the five reserved bits, as received."""

    service_class: ServiceClass
    reserved: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.reserved <= RESERVED_MASK:
            raise ValueError(f"reserved bits must fit in 5 bits, got {self.reserved}")

    @classmethod
    def parse(cls, value: int) -> CosByte:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"a CoS byte is 0..255, got {value}")
        return cls(ServiceClass(value >> CLASS_SHIFT), value & RESERVED_MASK)

    def to_int(self) -> int:
        return (int(self.service_class) << CLASS_SHIFT) | self.reserved

    def with_class(self, service_class: ServiceClass) -> CosByte:
        """Re-classing changes the class and keeps the reserved bits."""
        return CosByte(service_class, self.reserved)
