"""Fingerprint a manifest of models (local folders or Hub ids) on a Ray cluster into a registry.

:mod:`~seedprints.fleet.manifest` reads the list, :mod:`~seedprints.fleet.task` is what one worker does for one
model, and :mod:`~seedprints.fleet.driver` schedules the tasks and registers their results.
"""
