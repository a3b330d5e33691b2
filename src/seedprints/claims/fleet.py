"""The models of a claims run as Ray tasks, on the cluster ``seedprints fleet`` uses: each task examines one model
(:func:`seedprints.claims.examine.examine`: fetch, read the card, fingerprint) exactly as a local run does, and hands
the fingerprint back to the driver, which keeps it in the run's cache and tests the claims."""

from __future__ import annotations

import dataclasses
from typing import Callable

from seedprints.claims.cards import Card
from seedprints.claims.examine import Examined, Job, ModelInput, examine
from seedprints.fleet.driver import run_on_ray


@dataclasses.dataclass(frozen=True)
class FleetSettings:
    """Where the Ray cluster is (None: start one here; ``auto``: the one ``ray start`` made), the GPUs each model asks
    for when it has GPUs, and the retries of a task that crashed."""

    address: str | None = None
    gpus_per_model: float | None = None
    retries: int = 2


def examine_task(item: ModelInput, job: Job) -> Examined:
    """One Ray task: examine the model, its fingerprint returned as bytes; an unreachable Hub raises, so Ray retries."""
    return examine(item, job, None, retry_unreachable=True)


def examine_on_ray(items: list[ModelInput], job: Job, fleet: FleetSettings,
                   on_result: Callable[[Examined, int, int], Examined]) -> list[Examined]:
    """Examine ``items`` as Ray tasks; ``on_result(examined, index, total)`` sees each as it finishes (in that order).

    A task Ray gives up on after ``fleet.retries`` retries comes back as a model that could not be fingerprinted.
    """

    results, _, _ = run_on_ray(
        examine_task, items, job, address=fleet.address, gpus_per_model=fleet.gpus_per_model, retries=fleet.retries,
        name="seedprints-claims", failure=lambda item, why: Examined(item, Card(), error=why),
        on_result=lambda item, examined, index, total: on_result(examined, index, total))
    return results
