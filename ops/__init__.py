"""Operations: metrics, structured logs, readiness, backups and point-in-time recovery, the
highly available cluster (pg_auto_failover) and the nginx front. Imports ``core`` only."""
