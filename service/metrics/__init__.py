"""Prometheus metrics: counters updated in-process, queue gauges read from Postgres at scrape."""
