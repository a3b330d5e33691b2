"""What people read: :mod:`~seedprints.reports.terminal` (verdict lines, tables, p-values as text),
:mod:`~seedprints.reports.words` (a result's short keys in words) and :mod:`~seedprints.reports.html` (offline HTML
report folders: their figures in :mod:`~seedprints.reports.figures`, their page in :mod:`~seedprints.reports.pages`
and :mod:`~seedprints.reports.claims_page`)."""
