"""Files under the canary root: the layout, atomic writes, the lock, the audit log, the readers.

One module per job: :mod:`~pytest_canary.store.layout` (tenant ids, paths, containment),
:mod:`~pytest_canary.store.atomic`, :mod:`~pytest_canary.store.lock`,
:mod:`~pytest_canary.store.audit`, :mod:`~pytest_canary.store.decisions`,
:mod:`~pytest_canary.store.readers` (files into readings), :mod:`~pytest_canary.store.gates` (gate
files and env overrides), :mod:`~pytest_canary.store.settings` (root, date, trace id) and
:mod:`~pytest_canary.store.faults` (fault injection for the crash tests) and
:mod:`~pytest_canary.store.files` (the one way a file is opened and read: never blocking, regular
files only).
"""
