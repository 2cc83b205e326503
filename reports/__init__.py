"""Reports: the daily patrol record (巡查记录, policy rule 2) and the monthly/quarterly evaluations
(policy rule 7), as JSON (the pydantic models), HTML and PDF in zh-CN and en.

`reports.patrol` generates, stores and signs patrol records; `reports.evaluation` builds the
evaluations; `reports.health` records the component health samples availability is computed from;
`reports.scheduler` runs both on time. Everything reads Elasticsearch only (DESIGN.md: packages talk
through indices).
"""
