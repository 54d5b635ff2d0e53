"""The report: ``tables`` (Markdown from metrics.json and the grading rows), ``plots`` and ``panels`` (every
figure, one style), ``runner`` (notebooks 01-05 through papermill), ``export`` (report.html and
report.pdf) with its ``title`` page and ``differences.md`` chapter, ``sweep`` (widths)."""
