"""The KPI engine: dispatch events from a source, tallied into a tenant's KPI file."""
