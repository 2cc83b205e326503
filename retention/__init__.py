"""Retention: the 60-day floor, legal holds, evidence copies, archive and restore (DESIGN.md rule 1).

`retention.job.run` is the daily job, `retention.status` the compliance view, `retention.holds`
the hold functions the CLI, the API and the playbook engine share.
"""

from retention.overview import status

__all__ = ["status"]
