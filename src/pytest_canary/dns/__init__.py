"""The sender DNS check: SPF, DKIM and DMARC records, looked up and judged."""
