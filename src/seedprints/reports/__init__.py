"""What people read: :mod:`~seedprints.reports.terminal` (verdict lines, tables, p-values as text) and
:mod:`~seedprints.reports.html` (offline HTML report folders)."""
