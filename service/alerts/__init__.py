"""Alert engine: pure rules, the clinic policy, evaluation on submit, alerts and backtest."""
