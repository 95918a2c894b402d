"""Keyset pagination: a page of rows and the key that asks for the next one."""

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_key: object | None
