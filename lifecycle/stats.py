"""A registry's counters, as an immutable snapshot."""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen
class RegistryStats:
    """What a registry holds now, and what happened to it since it was created.

    ``owners`` is a count, not the owners themselves: a statistics object
    must never be the thing that keeps an owner alive.
    """

    #: Live entries per hook value (every hook is present, zero included).
    per_hook: Mapping[str, int]
    #: Live owners that have at least one entry.
    owners: int
    #: Entries added.
    added: int
    #: Registrations refused as duplicates.
    duplicates: int
    #: Registrations refused because the hook was full.
    refused: int
    #: Entries removed by ``remove``, ``remove_owner``, ``remove_by_type``, ``clear``.
    removed: int
    #: Entries removed because their owner or their weakly held callable died.
    collected: int

    @property
    def total(self) -> int:
        """Live entries in all hooks."""
        return sum(self.per_hook.values())
