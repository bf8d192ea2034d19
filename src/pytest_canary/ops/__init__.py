"""Operations on a tenant's files: rollout, status, validation, retention, backtest."""
