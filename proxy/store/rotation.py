"""`tenant-proxy keys rotate`: re-seal every row's keys under the key ring's first key.

Rows are visited in tenant_id order, a batch at a time. A row already under the first
key is skipped, so an interrupted run simply runs again and continues. A row under a
key the ring no longer holds is reported and left as it is. Each write is a
compare-and-set on the row's version: a concurrent PATCH wins and the row is read again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from proxy.errors import SealedKeyError, TenantChangedError
from proxy.store.backend import StoredTenant
from proxy.store.sealed import SealedStore

_ATTEMPTS = 3


@dataclass(slots=True)
class RotationReport:
    total: int = 0  # tenants when the run started
    checked: int = 0
    resealed: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (tenant_id, key_id)

    def line(self) -> str:
        return (
            f"keys rotate: {self.checked}/{self.total} tenants checked, "
            f"{self.resealed} re-sealed, {len(self.unreadable)} under keys not in the ring"
        )


async def rotate_keys(
    store: SealedStore,
    *,
    batch: int = 100,
    progress: Callable[[RotationReport], None] = lambda _: None,
) -> RotationReport:
    report = RotationReport(total=await store.count_tenants())
    after: str | None = None
    while rows := await store.stored_page(after, batch):
        for row in rows:
            await _rotate_row(store, row, report)
        report.checked += len(rows)
        after = rows[-1].tenant_id
        progress(report)
    return report


async def _rotate_row(store: SealedStore, row: StoredTenant | None, report: RotationReport) -> None:
    for _ in range(_ATTEMPTS):
        if row is None:
            return  # deleted meanwhile
        try:
            if await store.reseal(row):
                report.resealed += 1
            return
        except SealedKeyError as e:
            report.unreadable.append((row.tenant_id, e.key_id))
            return
        except TenantChangedError:
            row = await store.stored_tenant(row.tenant_id)
    raise TenantChangedError(f"tenant {row.tenant_id if row else '?'!r} keeps changing; run again")
