# A PostgreSQL 15 + PostGIS node with pg_auto_failover (the `ha` profile's monitor and data nodes).
FROM postgis/postgis:15-3.4
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15-auto-failover \
    && rm -rf /var/lib/apt/lists/*
COPY docker/ha-node.sh /usr/local/bin/ha-node.sh
USER postgres
ENV PGDATA=/var/lib/postgresql/data/pgdata XDG_CONFIG_HOME=/var/lib/postgresql/data/config XDG_DATA_HOME=/var/lib/postgresql/data/state
ENTRYPOINT ["sh", "/usr/local/bin/ha-node.sh"]
